//! The word-count benchmark: `read_text → str_split → flatten → frequencies → topk(10)` over
//! a deterministic text file shaped like the Dask anchor's (`bag_wordcount.py`): words from a
//! fixed vocabulary of random lowercase words (2–11 letters) with Zipf-like frequencies
//! (p(rank r) ∝ 1/r^1.07), about ten words per line.

use super::{read_text, ReadTextOptions};
use crate::rng::Rng;
use crate::{Error, Result};
use rask_actors::client::Client;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to generate and how to read it.
#[derive(Debug, Clone)]
pub struct WordcountConfig {
    /// Approximate size of the text in MB (10⁶ bytes).
    pub mb: f64,
    /// Vocabulary size.
    pub vocab: usize,
    /// Generator seed.
    pub seed: u64,
    /// `read_text` block size in bytes.
    pub blocksize: u64,
    /// Where the generated file is kept (and reused).
    pub dir: PathBuf,
    /// Read the input from this URL (e.g. `s3://bucket/words.txt`) instead of the local
    /// file; a copy of the generated file is uploaded there first if nothing is there yet.
    pub input: Option<String>,
}

impl Default for WordcountConfig {
    fn default() -> Self {
        WordcountConfig {
            mb: 200.0,
            vocab: 10_000,
            seed: 42,
            blocksize: 8_000_000,
            dir: std::env::temp_dir().join("rask-wordcount"),
            input: None,
        }
    }
}

/// The outcome of [`bench_wordcount`] (the fields of `rask bench wordcount`'s JSON).
#[derive(Debug, Clone, Serialize)]
pub struct WordcountReport {
    /// Always `"wordcount"`.
    pub bench: &'static str,
    /// Whether the top ten matched a plain single-threaded count.
    pub ok: bool,
    /// Wall time of the distributed computation.
    pub seconds: f64,
    /// Input MB (10⁶ bytes) per second.
    pub mb_per_s: f64,
    /// Input size in bytes.
    pub file_bytes: u64,
    /// Partitions read.
    pub npartitions: usize,
    /// The ten most frequent words and their counts.
    pub top10: Vec<(String, u64)>,
    /// Wall time of the plain single-threaded count used as the check.
    pub reference_seconds: f64,
    /// The input file.
    pub path: String,
}

fn vocabulary(rng: &mut Rng, size: usize) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    let mut vocab = Vec::with_capacity(size);
    while vocab.len() < size {
        let len = 2 + rng.below(10) as usize;
        let w: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
        if seen.insert(w.clone()) {
            vocab.push(w);
        }
    }
    vocab
}

/// Writes about `bytes` bytes of Zipf-distributed words to `path` (deterministic for the
/// seed; every line ends with a newline).
pub fn generate(path: &Path, bytes: u64, vocab_size: usize, seed: u64) -> Result<()> {
    let mut rng = Rng(seed);
    let vocab = vocabulary(&mut rng, vocab_size.max(1));
    let mut cdf: Vec<f64> = Vec::with_capacity(vocab.len());
    let mut acc = 0.0;
    for r in 1..=vocab.len() {
        acc += 1.0 / (r as f64).powf(1.07);
        cdf.push(acc);
    }
    cdf.iter_mut().for_each(|c| *c /= acc);
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut written = 0u64;
    while written < bytes {
        chunk.clear();
        while chunk.len() < (1 << 20) {
            let u = rng.unit();
            let i = cdf.partition_point(|c| *c <= u).min(vocab.len() - 1);
            chunk.extend_from_slice(&vocab[i]);
            chunk.push(if rng.unit() < 0.1 { b'\n' } else { b' ' });
        }
        if let Some(last) = chunk.last_mut() {
            *last = b'\n';
        }
        out.write_all(&chunk).map_err(|e| Error::io(&tmp, e))?;
        written += chunk.len() as u64;
    }
    out.flush().map_err(|e| Error::io(&tmp, e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The input file for `cfg`, generated on first use.
pub fn ensure_input(cfg: &WordcountConfig) -> Result<PathBuf> {
    std::fs::create_dir_all(&cfg.dir).map_err(|e| Error::io(&cfg.dir, e))?;
    let path = cfg.dir.join(format!(
        "words_{}MB_v{}_s{}.txt",
        cfg.mb, cfg.vocab, cfg.seed
    ));
    if !path.exists() {
        generate(&path, (cfg.mb * 1e6) as u64, cfg.vocab, cfg.seed)?;
    }
    Ok(path)
}

/// The top `k` words of a file counted plainly in one thread (the check).
pub fn reference_top(path: &Path, k: usize) -> Result<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for w in text.split_whitespace() {
        *counts.entry(w).or_insert(0) += 1;
    }
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(w, n)| (w.to_string(), n))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(k);
    Ok(v)
}

/// Generates (once) and counts the words of the input on `client`'s cluster, timing the
/// distributed computation and checking it against a plain count.
pub async fn bench_wordcount(client: &Client, cfg: &WordcountConfig) -> Result<WordcountReport> {
    let path = ensure_input(cfg)?;
    let path_s = match &cfg.input {
        None => path.display().to_string(),
        Some(url) => {
            let found = crate::storage::expand(&[url]);
            if let Err(Error::NoSuchKey { .. } | Error::Io { .. }) = found {
                let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                crate::storage::write(url, &data)?;
            }
            url.clone()
        }
    };
    let file_bytes = crate::storage::expand(&[&path_s])?
        .first()
        .map_or(0, |o| o.size);
    let start = Instant::now();
    let bag = read_text(
        &[&path_s],
        ReadTextOptions {
            blocksize: Some(cfg.blocksize),
            ..ReadTextOptions::default()
        },
    )?;
    let npartitions = bag.npartitions();
    let top10 = bag
        .str_split()
        .flatten()
        .frequencies()?
        .topk_by_second(10)?
        .compute(client)
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    let t = Instant::now();
    let reference = reference_top(&path, 10)?;
    let reference_seconds = t.elapsed().as_secs_f64();
    let counts = |v: &[(String, u64)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
    let ok = counts(&top10) == counts(&reference) && {
        let (mut a, mut b) = (top10.clone(), reference.clone());
        a.sort();
        b.sort();
        a == b || counts(&a) == counts(&b)
    };
    Ok(WordcountReport {
        bench: "wordcount",
        ok,
        seconds,
        mb_per_s: file_bytes as f64 / 1e6 / seconds,
        file_bytes,
        npartitions,
        top10,
        reference_seconds,
        path: path_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_zipf_shaped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        generate(&a, 300_000, 1000, 7).unwrap();
        generate(&b, 300_000, 1000, 7).unwrap();
        let text = std::fs::read(&a).unwrap();
        assert_eq!(text, std::fs::read(&b).unwrap());
        assert!(text.len() >= 300_000 && text.ends_with(b"\n"));
        let top = reference_top(&a, 3).unwrap();
        // Zipf with s = 1.07: the top word is about twice as frequent as the second.
        let ratio = top[0].1 as f64 / top[1].1 as f64;
        assert!((1.6..2.6).contains(&ratio), "ratio {ratio}");
        let lines = text.iter().filter(|c| **c == b'\n').count();
        let words = String::from_utf8(text.clone())
            .unwrap()
            .split_whitespace()
            .count();
        let per_line = words as f64 / lines as f64;
        assert!((8.0..12.0).contains(&per_line), "{per_line} words per line");
    }
}
