//! Local text files: expanding paths and globs into blocks on the client, and reading a block
//! on the worker.
//!
//! A block `[start, end)` of a file owns the lines whose first byte lies in it, so blocks
//! split big files on line boundaries without overlap or loss: it begins after the first
//! newline at or after `start - 1` and ends after the first newline at or after `end - 1`.
//! `.gz` files are decompressed and never split. Lines lose their `\n` / `\r\n` terminator.

use super::records::Fail;
use crate::raw::failed;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// One block of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The file, as the workers see it.
    pub path: String,
    /// First byte of the block.
    pub start: u64,
    /// One past the last byte (`None`: to the end of the file).
    pub end: Option<u64>,
    /// Decompress with gzip.
    pub gzip: bool,
    /// Size and modification time, so a changed file gets new keys.
    pub stamp: (u64, u64),
}

/// The files a list of paths or glob patterns names, sorted within each pattern. A plain
/// path that does not exist, or a pattern matching nothing, is an error naming it.
pub fn expand(patterns: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in patterns {
        if !p.contains(['*', '?', '[']) {
            let path = PathBuf::from(p);
            std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
            out.push(path);
            continue;
        }
        let paths = glob::glob(p).map_err(|e| Error::Pattern {
            pattern: p.to_string(),
            message: e.to_string(),
        })?;
        let mut found: Vec<PathBuf> = paths
            .filter_map(|r| r.ok())
            .filter(|p| p.is_file())
            .collect();
        if found.is_empty() {
            return Err(Error::NoFiles(p.to_string()));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// The blocks of `files`: `blocksize` bytes each (a whole file per block when `None`, and
/// always for `.gz` files).
pub fn blocks(files: &[PathBuf], blocksize: Option<u64>) -> Result<Vec<TextBlock>> {
    let mut out = Vec::new();
    for f in files {
        let meta = std::fs::metadata(f).map_err(|e| Error::io(f, e))?;
        let size = meta.len();
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        let path = f.display().to_string();
        let gzip = path.ends_with(".gz");
        let block = |start, end| TextBlock {
            path: path.clone(),
            start,
            end,
            gzip,
            stamp: (size, mtime),
        };
        match blocksize {
            Some(b) if !gzip && b > 0 && size > b => {
                let mut s = 0;
                while s < size {
                    let e = (s + b).min(size);
                    out.push(block(s, if e == size { None } else { Some(e) }));
                    s = e;
                }
            }
            _ => out.push(block(0, None)),
        }
    }
    Ok(out)
}

fn io_fail(path: &str, e: std::io::Error) -> Fail {
    failed(format!("{path}: {e}"))
}

/// Reads the block's whole lines (terminators included) into one buffer; also returns the
/// file offset of its first line.
pub fn read_block(b: &TextBlock) -> Result<(Vec<u8>, u64), Fail> {
    let mut f = std::fs::File::open(&b.path).map_err(|e| io_fail(&b.path, e))?;
    if b.gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f))
            .read_to_end(&mut out)
            .map_err(|e| io_fail(&b.path, e))?;
        return Ok((out, 0));
    }
    let from = b.start.saturating_sub(1);
    f.seek(SeekFrom::Start(from))
        .map_err(|e| io_fail(&b.path, e))?;
    let mut buf = Vec::with_capacity(b.end.map_or(0, |e| (e - from) as usize + 4096));
    match b.end {
        None => {
            f.read_to_end(&mut buf).map_err(|e| io_fail(&b.path, e))?;
        }
        Some(end) => {
            let want = end.saturating_sub(from);
            (&mut f)
                .take(want)
                .read_to_end(&mut buf)
                .map_err(|e| io_fail(&b.path, e))?;
            // Finish the line that holds the block's last byte.
            let mut chunk = [0u8; 4096];
            while buf.last().is_some_and(|c| *c != b'\n') {
                let n = f.read(&mut chunk).map_err(|e| io_fail(&b.path, e))?;
                if n == 0 {
                    break;
                }
                match memchr::memchr(b'\n', &chunk[..n]) {
                    Some(i) => {
                        buf.extend_from_slice(&chunk[..=i]);
                        break;
                    }
                    None => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }
    }
    if b.start > 0 {
        // buf[0] is the byte before the block: skip to the first line starting in it.
        let skip = memchr::memchr(b'\n', &buf).map_or(buf.len(), |i| i + 1);
        buf.drain(..skip);
        return Ok((buf, from + skip as u64));
    }
    Ok((buf, 0))
}

/// The lines of a block, without terminators.
pub fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let empty = buf.is_empty();
    body.split(|c| *c == b'\n')
        .filter(move |_| !empty)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(path: &std::path::Path, blocksize: Option<u64>) -> Vec<String> {
        let bs = blocks(&[path.to_path_buf()], blocksize).unwrap();
        bs.iter()
            .flat_map(|b| {
                let (buf, _) = read_block(b).unwrap();
                lines(&buf)
                    .map(|l| String::from_utf8(l.to_vec()).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn every_blocksize_gives_every_line_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        let text = "alpha\nbe\n\ngamma delta\r\nx\nlast-without-newline";
        std::fs::write(&p, text).unwrap();
        let want: Vec<String> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        for bs in 1..=text.len() as u64 + 1 {
            assert_eq!(all_lines(&p, Some(bs)), want, "blocksize {bs}");
        }
        assert_eq!(all_lines(&p, None), want);
        std::fs::write(&p, "one\ntwo\n").unwrap();
        assert_eq!(all_lines(&p, Some(3)), ["one", "two"]);
        std::fs::write(&p, "").unwrap();
        assert!(all_lines(&p, Some(3)).is_empty());
    }

    #[test]
    fn gzip_is_read_whole_and_globs_expand_sorted() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("b.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(b"x y\nz\n").unwrap();
        enc.finish().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
        assert_eq!(all_lines(&gz, Some(1)), ["x y", "z"]);
        let pat = format!("{}/*.txt*", dir.path().display());
        let files = expand(&[&pat]).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.txt"));
        let missing = format!("{}/nope.txt", dir.path().display());
        let err = expand(&[&missing]).unwrap_err().to_string();
        assert!(err.contains("nope.txt"), "{err}");
        let nothing = format!("{}/*.csv", dir.path().display());
        assert!(matches!(expand(&[&nothing]), Err(Error::NoFiles(_))));
    }
}
