//! Text objects (local or S3) cut into blocks on line boundaries, planned on the client and
//! read by byte range on the worker.
//!
//! A block `[start, end)` of a file owns the lines whose first byte lies in it, so blocks
//! split big files on line boundaries without overlap or loss: it begins after the first
//! newline at or after `start - 1` and ends after the first newline at or after `end - 1`
//! (the block is read with 64 KiB past `end`, then further ranges of growing size until that
//! newline). `.gz` files are decompressed as they stream in and never split. Lines lose
//! their `\n` / `\r\n` terminator.

use super::{ObjectMeta, StorageOptions};
use crate::raw::failed;
use rask_protocol::TaskErrorKind;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// A task failure (kind and message).
type Fail = (TaskErrorKind, String);

/// One block of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The file's URL (or plain path), as the workers see it.
    pub path: String,
    /// First byte of the block.
    pub start: u64,
    /// One past the last byte (`None`: to the end of the file).
    pub end: Option<u64>,
    /// Decompress with gzip.
    pub gzip: bool,
    /// Size and version (modification time or entity-tag hash), so a changed file gets new
    /// keys.
    pub stamp: (u64, u64),
    /// How the worker reaches the file (the reader's settings, not the worker's own).
    pub storage: StorageOptions,
}

/// The blocks of `files`: `blocksize` bytes each (a whole file per block when `None`, and
/// always for `.gz` files), read with `storage`.
pub fn blocks(
    files: &[ObjectMeta],
    blocksize: Option<u64>,
    storage: &StorageOptions,
) -> Vec<TextBlock> {
    let mut out = Vec::new();
    for f in files {
        let size = f.size;
        let gzip = f.url.ends_with(".gz");
        let block = |start, end| TextBlock {
            path: f.url.clone(),
            start,
            end,
            gzip,
            stamp: (size, f.version),
            storage: storage.clone(),
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
    out
}

fn fail(e: impl std::fmt::Display) -> Fail {
    failed(e.to_string())
}

/// Bytes read past a block's end with the block, to finish its last line; further reads,
/// if needed, double in size.
const TAIL_STEP: u64 = 64 << 10;

/// Reads the block's whole lines (terminators included) into one buffer; also returns the
/// file offset of its first line.
pub fn read_block(b: &TextBlock) -> Result<(Vec<u8>, u64), Fail> {
    if b.gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(b.storage.open(&b.path, b.stamp.0))
            .read_to_end(&mut out)
            .map_err(|e| fail(super::writer::unwrap_io(e, &b.path)))?;
        return Ok((out, 0));
    }
    let from = b.start.saturating_sub(1);
    let size = b.stamp.0;
    // Read a little past the end at once: the block's last line nearly always ends there,
    // so one request per block suffices.
    let until = b.end.map(|e| (e + TAIL_STEP).min(size.max(e)));
    let mut buf = b
        .storage
        .read_range(&b.path, from, until)
        .map_err(fail)?
        .to_vec();
    if let Some(end) = b.end {
        // Keep up to the first newline at or after the block's last byte, reading further
        // ranges of growing size while there is none.
        let mut scan = ((end - 1 - from) as usize).min(buf.len());
        let (mut pos, mut step) = (from + buf.len() as u64, TAIL_STEP * 2);
        loop {
            if let Some(i) = memchr::memchr(b'\n', &buf[scan..]) {
                buf.truncate(scan + i + 1);
                break;
            }
            if pos >= size {
                break;
            }
            let chunk = b
                .storage
                .read_range(&b.path, pos, Some((pos + step).min(size)))
                .map_err(fail)?;
            if chunk.is_empty() {
                break;
            }
            scan = buf.len();
            pos += chunk.len() as u64;
            step = (step * 2).min(16 << 20);
            buf.extend_from_slice(&chunk);
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
    use crate::storage::expand;
    use crate::Error;

    fn all_lines(path: &std::path::Path, blocksize: Option<u64>) -> Vec<String> {
        let files = expand(&[path.to_str().unwrap()]).unwrap();
        blocks(&files, blocksize, &StorageOptions::default())
            .iter()
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
    fn lines_longer_than_the_tail_step_are_finished_across_several_reads() {
        // Lines of ~150 KiB and ~400 KiB make a block end need two and three further reads.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("long.txt");
        let long: Vec<String> = [10, 150_000, 3, 400_000, 7]
            .iter()
            .enumerate()
            .map(|(i, n)| char::from(b'a' + i as u8).to_string().repeat(*n))
            .collect();
        std::fs::write(&p, long.join("\n") + "\n").unwrap();
        for bs in [4096, 100_000, 300_000] {
            assert_eq!(all_lines(&p, Some(bs)), long, "blocksize {bs}");
        }
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
        assert!(files[0].url.ends_with("a.txt"));
        let url = format!("file://{}", dir.path().join("a.txt").display());
        assert_eq!(expand(&[&url]).unwrap()[0].size, 2);
        let missing = format!("{}/nope.txt", dir.path().display());
        let err = expand(&[&missing]).unwrap_err().to_string();
        assert!(err.contains("nope.txt"), "{err}");
        let nothing = format!("{}/*.csv", dir.path().display());
        assert!(matches!(expand(&[&nothing]), Err(Error::NoFiles(_))));
    }
}
