//! Bag, delayed and graph scenarios shared by the in-process (`tests/bag.rs`) and the
//! multi-process (`tests/bag_processes.rs`) integration tests. Every operation is compared
//! with a plain Rust computation on the same data. Only functions the stock `rask worker`
//! knows are used, so the same scenarios run on real processes.
#![allow(dead_code)]

use anyhow::{anyhow, ensure, Context, Result};
use rask::bag::funcs::{
    add_to, first_char, is_even, json_i64, json_text, mod10, non_empty, square, str_len, sum_all,
    sum_and_len, upto_mod4, words,
};
use rask::bag::{from_sequence, read_text, JsonOptions, ReadTextOptions};
use rask::builtins::{add, double, inc};
use rask::{compute_all, delayed, Client, Delayed};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Runs `fut` with a time limit.
pub async fn bounded<T>(
    what: &str,
    secs: u64,
    fut: impl std::future::Future<Output = rask::collections::Result<T>>,
) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .map_err(|_| anyhow!("{what} did not finish within {secs} s"))?
        .with_context(|| what.to_string())
}

fn data() -> Vec<i64> {
    // Deterministic, with repeats and negatives.
    (0..1000i64).map(|i| (i * 7919) % 613 - 100).collect()
}

/// Every numeric bag operation against the same computation on a `Vec`.
pub async fn numeric_bag_operations(client: &Client) -> Result<()> {
    let xs = data();
    let bag = from_sequence(xs.clone(), 37)?;
    ensure!(bag.npartitions() == 28);
    ensure!(bounded("compute", 60, bag.compute(client)).await? == xs);

    let mapped: Vec<i64> = xs.iter().map(|x| x + 1).collect();
    ensure!(bounded("map", 60, bag.map(inc).compute(client)).await? == mapped);
    let evens: Vec<i64> = xs.iter().copied().filter(|x| x % 2 == 0).collect();
    ensure!(bounded("filter", 60, bag.filter(is_even).compute(client)).await? == evens);
    let chained: Vec<i64> = xs
        .iter()
        .map(|x| (x + 1) * 2)
        .filter(|x| x % 2 == 0)
        .map(|x| x * x)
        .collect();
    let got = bag.map(inc).map(double).filter(is_even).map(square);
    ensure!(bounded("chain", 60, got.compute(client)).await? == chained);
    let flat: Vec<i64> = xs.iter().flat_map(|x| 0..x.rem_euclid(4)).collect();
    ensure!(bounded("flat_map", 60, bag.flat_map(upto_mod4).compute(client)).await? == flat);
    let parts: Vec<i64> = xs
        .chunks(37)
        .flat_map(|c| [c.iter().sum::<i64>(), c.len() as i64])
        .collect();
    let mp = bag.map_partitions(sum_and_len)?;
    ensure!(bounded("map_partitions", 60, mp.compute(client)).await? == parts);

    let n = bounded("count", 60, bag.count()?.compute(client)).await?;
    ensure!(n == xs.len() as u64, "count {n}");
    let total: i64 = xs.iter().sum();
    ensure!(bounded("sum", 60, bag.sum()?.compute(client)).await? == total);
    let mean = bounded("mean", 60, bag.mean()?.compute(client)).await?;
    ensure!(
        (mean - total as f64 / xs.len() as f64).abs() < 1e-9,
        "mean {mean}"
    );
    let min = bounded("min", 60, bag.min()?.compute(client)).await?;
    let max = bounded("max", 60, bag.max()?.compute(client)).await?;
    ensure!(min == *xs.iter().min().unwrap() && max == *xs.iter().max().unwrap());

    let mut sorted = xs.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    ensure!(bounded("topk", 60, bag.topk(5)?.compute(client)).await? == sorted[..5]);
    sorted.reverse();
    ensure!(bounded("bottomk", 60, bag.bottomk(4)?.compute(client)).await? == sorted[..4]);
    let by_square = bounded("topk_by", 60, bag.topk_by(3, square)?.compute(client)).await?;
    let mut sq: Vec<i64> = xs.iter().map(|x| x * x).collect();
    sq.sort_unstable_by(|a, b| b.cmp(a));
    ensure!(by_square.iter().map(|x| x * x).collect::<Vec<_>>() == sq[..3]);

    let mut freq: BTreeMap<i64, u64> = BTreeMap::new();
    xs.iter()
        .for_each(|x| *freq.entry(x.rem_euclid(10)).or_default() += 1);
    let got = bounded(
        "frequencies",
        60,
        bag.map(mod10).frequencies()?.compute(client),
    )
    .await?;
    ensure!(got.into_iter().collect::<BTreeMap<_, _>>() == freq);
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<i64> = xs.iter().copied().filter(|x| seen.insert(*x)).collect();
    ensure!(bounded("distinct", 60, bag.distinct()?.compute(client)).await? == distinct);

    let folded = bag.fold(add_to, add, 0i64)?;
    ensure!(bounded("fold", 60, folded.compute(client)).await? == total);
    let reduced = bag.with_split_every(3).reduction(sum_all, sum_all)?;
    ensure!(bounded("reduction", 60, reduced.compute(client)).await? == total);
    let mut by_key: BTreeMap<i64, i64> = BTreeMap::new();
    xs.iter()
        .for_each(|x| *by_key.entry(x.rem_euclid(10)).or_default() += x);
    let fb = bag.foldby(mod10, add_to, 0i64, add)?;
    let got = bounded("foldby", 60, fb.compute(client)).await?;
    ensure!(got.into_iter().collect::<BTreeMap<_, _>>() == by_key);

    let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    xs.iter()
        .for_each(|x| groups.entry(x.rem_euclid(10)).or_default().push(*x));
    let g = bag.groupby(mod10, 3)?;
    ensure!(g.npartitions() == 3);
    let got = bounded("groupby", 60, g.compute(client)).await?;
    ensure!(got.len() == groups.len(), "{} groups", got.len());
    ensure!(got.into_iter().collect::<BTreeMap<_, _>>() == groups);

    ensure!(bounded("take", 60, bag.take(client, 50)).await? == xs[..50]);
    ensure!(bounded("take all", 60, bag.take(client, 5000)).await? == xs);
    Ok(())
}

/// Empty bags: counts and sums are zero, `min` and `mean` fail clearly.
pub async fn empty_bags(client: &Client) -> Result<()> {
    let bag = from_sequence(Vec::<i64>::new(), 10)?;
    ensure!(bounded("empty", 30, bag.compute(client)).await?.is_empty());
    ensure!(bounded("count", 30, bag.count()?.compute(client)).await? == 0);
    ensure!(bounded("sum", 30, bag.sum()?.compute(client)).await? == 0);
    let err = bag.min()?.compute(client).await.err();
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    ensure!(msg.contains("min of an empty bag"), "{msg}");
    let nothing = from_sequence(vec![1i64, 3], 1)?.filter(is_even);
    ensure!(bounded("none left", 30, nothing.count()?.compute(client)).await? == 0);
    Ok(())
}

/// Writes `name` in `dir` with `text` (gzip when it ends in `.gz`).
pub fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    if name.ends_with(".gz") {
        let mut enc = flate2_like::encoder(std::fs::File::create(&path)?);
        enc.write_all(text.as_bytes())?;
        enc.finish()?;
    } else {
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Gzip through the `rask` bag writer itself would be circular; the test writes gzip files
/// with a tiny stored-block encoder instead (valid gzip, no compression).
mod flate2_like {
    use std::io::Write;

    pub struct Gz<W: Write> {
        out: W,
        data: Vec<u8>,
    }

    pub fn encoder<W: Write>(out: W) -> Gz<W> {
        Gz {
            out,
            data: Vec::new(),
        }
    }

    impl<W: Write> Write for Gz<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.data.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    impl<W: Write> Gz<W> {
        pub fn finish(mut self) -> std::io::Result<()> {
            self.out
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
            let chunks: Vec<&[u8]> = if self.data.is_empty() {
                vec![&[]]
            } else {
                self.data.chunks(65535).collect()
            };
            for (i, c) in chunks.iter().enumerate() {
                let last = u8::from(i + 1 == chunks.len());
                let len = c.len() as u16;
                self.out.write_all(&[last])?;
                self.out.write_all(&len.to_le_bytes())?;
                self.out.write_all(&(!len).to_le_bytes())?;
                self.out.write_all(c)?;
            }
            self.out.write_all(&crc32(&self.data).to_le_bytes())?;
            self.out
                .write_all(&(self.data.len() as u32).to_le_bytes())?;
            self.out.flush()
        }
    }
}

fn sample_text(file: usize, lines: usize) -> String {
    let vocab = [
        "apple", "Bear", "cat", "dog", "émile", "fig", "grape", "hat",
    ];
    (0..lines)
        .map(|i| {
            let n = (i * 7 + file) % 6;
            (0..n)
                .map(|j| vocab[(i * 3 + j * 5 + file) % vocab.len()])
                .collect::<Vec<_>>()
                .join(if i % 5 == 0 { "  " } else { " " })
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `read_text` over a glob of plain and gzip files, in small blocks, with string operations,
/// word counts, `topk_by_second` and `to_textfiles`, against reading the files directly.
pub async fn text_operations(client: &Client, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let texts: Vec<String> = (0..3).map(|f| sample_text(f, 200 + f * 50)).collect();
    write(dir, "a.txt", &texts[0])?;
    write(dir, "b.txt", &texts[1])?;
    write(dir, "c.txt.gz", &texts[2])?;
    let lines: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
        .collect();
    let pattern = format!("{}/*.txt*", dir.display());
    for blocksize in [None, Some(97), Some(1000)] {
        let bag = read_text(
            &[&pattern],
            ReadTextOptions {
                blocksize,
                ..Default::default()
            },
        )?;
        let got = bounded("read_text", 60, bag.compute(client)).await?;
        ensure!(got == lines, "blocksize {blocksize:?}: {} lines", got.len());
    }
    let bag = read_text(
        &[&pattern],
        ReadTextOptions {
            blocksize: Some(300),
            ..Default::default()
        },
    )?;
    ensure!(bag.npartitions() > 3);

    let words_plain: Vec<String> = lines
        .iter()
        .flat_map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect();
    let split = bag.str_split().flatten();
    ensure!(bounded("split", 60, split.compute(client)).await? == words_plain);
    ensure!(
        bounded("flat_map words", 60, bag.flat_map(words).compute(client)).await? == words_plain
    );
    let lower: Vec<String> = words_plain.iter().map(|w| w.to_lowercase()).collect();
    ensure!(bounded("lower", 60, split.str_lower().compute(client)).await? == lower);
    let lens: Vec<u64> = lines.iter().map(|l| l.len() as u64).collect();
    ensure!(bounded("str_len", 60, bag.map(str_len).compute(client)).await? == lens);
    let non_empty_lines: Vec<String> = lines.iter().filter(|l| !l.is_empty()).cloned().collect();
    ensure!(
        bounded("non_empty", 60, bag.filter(non_empty).compute(client)).await? == non_empty_lines
    );

    let mut counts: HashMap<String, u64> = HashMap::new();
    words_plain
        .iter()
        .for_each(|w| *counts.entry(w.clone()).or_default() += 1);
    let freq = split.frequencies()?;
    let got: HashMap<String, u64> = bounded("frequencies", 60, freq.compute(client))
        .await?
        .into_iter()
        .collect();
    ensure!(got == counts);
    let mut by_count: Vec<(String, u64)> = counts.clone().into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top = bounded("topk", 60, freq.topk_by_second(3)?.compute(client)).await?;
    ensure!(top == by_count[..3], "{top:?} vs {:?}", &by_count[..3]);
    let firsts = bounded(
        "first_char",
        60,
        split.map(first_char).distinct()?.compute(client),
    )
    .await?;
    let mut seen = std::collections::HashSet::new();
    let want: Vec<String> = words_plain
        .iter()
        .map(|w| w.chars().next().unwrap().to_string())
        .filter(|c| seen.insert(c.clone()))
        .collect();
    ensure!(firsts == want);

    let out = dir.join("out");
    let pattern_out = format!("{}/part-*.txt", out.display());
    let written = bounded("to_textfiles", 60, split.to_textfiles(client, &pattern_out)).await?;
    ensure!(written.len() == bag.npartitions());
    let mut back = Vec::new();
    for p in &written {
        back.extend(std::fs::read_to_string(p)?.lines().map(String::from));
    }
    ensure!(back == words_plain);
    let gz_out = format!("{}/gz-*.txt.gz", out.display());
    bounded("to_textfiles gz", 60, split.to_textfiles(client, &gz_out)).await?;
    let reread = read_text(
        &[&format!("{}/gz-*.txt.gz", out.display())],
        ReadTextOptions::default(),
    )?;
    let mut got = bounded("reread gz", 60, reread.compute(client)).await?;
    let mut want = words_plain.clone();
    got.sort();
    want.sort();
    ensure!(got == want);
    Ok(())
}

/// JSON lines: plucking fields, bad lines named by file and line or skipped, missing files.
pub async fn json_and_errors(client: &Client, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let good: String = (0..100)
        .map(|i| {
            format!(
                "{{\"name\": \"n{i}\", \"age\": {}, \"tags\": [{i}]}}\n",
                i % 37
            )
        })
        .collect();
    write(dir, "people.jsonl", &good)?;
    let path = dir.join("people.jsonl").display().to_string();
    let bag = read_text(
        &[&path],
        ReadTextOptions {
            blocksize: Some(500),
            ..Default::default()
        },
    )?
    .json(JsonOptions::default());
    let ages = bounded("pluck", 60, bag.pluck("age").map(json_i64).compute(client)).await?;
    ensure!(ages == (0..100).map(|i| i % 37).collect::<Vec<i64>>());
    let names = bounded(
        "names",
        60,
        bag.pluck("name").map(json_text).compute(client),
    )
    .await?;
    ensure!(names == (0..100).map(|i| format!("n{i}")).collect::<Vec<_>>());
    let tags = bounded(
        "index",
        60,
        bag.pluck("tags")
            .pluck("0")
            .map(json_i64)
            .sum()?
            .compute(client),
    )
    .await?;
    ensure!(tags == (0..100).sum::<i64>());
    let docs = bounded("docs", 60, bag.take(client, 2)).await?;
    ensure!(docs[1].get("name") == Some(&serde_json::json!("n1")));

    // Line 58 of the file is malformed; the error names the file and line.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    lines[57] = "{\"name\": oops".into();
    write(dir, "bad.jsonl", &(lines.join("\n") + "\n"))?;
    let bad = dir.join("bad.jsonl").display().to_string();
    let bag = read_text(
        &[&bad],
        ReadTextOptions {
            blocksize: Some(700),
            ..Default::default()
        },
    )?;
    let err = bag
        .json(JsonOptions::default())
        .count()?
        .compute(client)
        .await;
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    ensure!(
        msg.contains(&format!("{bad}, line 58: malformed JSON")),
        "{msg}"
    );
    let skipping = bag.json(JsonOptions {
        skip_bad_lines: true,
    });
    ensure!(bounded("skip", 60, skipping.count()?.compute(client)).await? == 99);

    let missing = dir.join("missing.txt").display().to_string();
    let err = read_text(&[&missing], ReadTextOptions::default()).err();
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    ensure!(msg.contains("missing.txt"), "{msg}");
    let err = read_text(
        &[&format!("{}/*.nothing", dir.display())],
        ReadTextOptions::default(),
    )
    .err();
    ensure!(err
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("no file matches"));
    // A file removed after the bag was built: the worker's error names it.
    write(dir, "gone.txt", "x\n")?;
    let gone = dir.join("gone.txt").display().to_string();
    let bag = read_text(&[&gone], ReadTextOptions::default())?;
    std::fs::remove_file(&gone)?;
    let msg = bag
        .count()?
        .compute(client)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(msg.contains("gone.txt"), "{msg}");
    Ok(())
}

/// Delayed chains and diamonds, persist, futures as inputs, failures, and computing several
/// collections at once.
pub async fn delayed_and_graphs(client: &Client) -> Result<()> {
    //   a = inc(1)
    //   b = double(a)   c = inc(a)
    //   d = add(b, c)
    let a = delayed(inc, (1i64,))?;
    let b = delayed(double, (&a,))?;
    let c = delayed(inc, (&a,))?;
    let d = delayed(add, (&b, &c))?;
    ensure!(bounded("diamond", 30, d.compute(client)).await? == 4 + 3);
    let mut chain = delayed(inc, (0i64,))?;
    for _ in 1..50 {
        chain = delayed(inc, (&chain,))?;
    }
    ensure!(bounded("chain", 30, chain.compute(client)).await? == 50);
    let specs = rask::graph::optimize(chain.graph(), &[chain.key().clone()], Default::default())?;
    ensure!(
        specs.len() == 1,
        "the chain fused into {} tasks",
        specs.len()
    );

    let p = bounded("persist", 30, d.persist(client)).await?;
    ensure!(
        p.graph().tasks().count() == 0,
        "persisted value has no tasks left"
    );
    let e = delayed(add, (&p, 100i64))?;
    ensure!(bounded("after persist", 30, e.compute(client)).await? == 107);
    let fut = client.submit(inc, (41i64,))?;
    let from_future = delayed(double, (&fut,))?;
    ensure!(bounded("future arg", 30, from_future.compute(client)).await? == 84);
    let lit = Delayed::value(&5i64)?;
    ensure!(bounded("literal", 30, delayed(inc, (&lit,))?.compute(client)).await? == 6);

    let fails = delayed(rask::builtins::fail, ("bad input".to_string(),))?;
    let after = delayed(inc, (&fails,))?;
    let msg = after
        .compute(client)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    ensure!(msg.contains("bad input"), "{msg}");

    // Two aggregations of one bag computed together share the partition tasks.
    let bag = from_sequence(data(), 100)?.map(inc);
    let (n, total, items) = bounded(
        "compute_all",
        60,
        compute_all(client, (&bag.count()?, &bag.sum()?, &bag)),
    )
    .await?;
    let xs: Vec<i64> = data().iter().map(|x| x + 1).collect();
    ensure!(n == 1000 && total == xs.iter().sum::<i64>() && items == xs);
    let persisted = bounded("persist bag", 60, bag.persist(client)).await?;
    ensure!(bounded("persisted", 60, persisted.sum()?.compute(client)).await? == total);
    let opts = rask::ComputeOptions {
        progress: rask::Progress::Always,
        ..Default::default()
    };
    ensure!(bounded("progress", 60, bag.count()?.compute_with(client, opts)).await? == 1000);
    ensure!(bounded("progress bag", 60, bag.compute_with(client, opts)).await? == xs);
    Ok(())
}
