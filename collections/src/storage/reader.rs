//! Streamed reads: [`ObjectReader`] reads an object (local file or `s3://`) front to back in
//! ranged requests of a fixed size, as a [`std::io::Read`], so a big `.gz` file is
//! decompressed without first holding all of it, and a sample of its start costs only the
//! first requests.

use super::StorageOptions;
use bytes::{Buf, Bytes};
use std::io::Read;

/// Bytes fetched per request by default.
pub const CHUNK: u64 = 8 << 20;

/// An object read sequentially, one ranged read of [`CHUNK`] bytes at a time.
pub struct ObjectReader {
    url: String,
    storage: StorageOptions,
    size: u64,
    pos: u64,
    chunk: u64,
    buf: Bytes,
}

impl ObjectReader {
    /// A reader of `url`, whose size (as listed) is `size`, with these settings. Nothing is
    /// read until the first `read`.
    pub fn new(url: &str, size: u64, storage: &StorageOptions) -> ObjectReader {
        ObjectReader {
            url: url.to_string(),
            storage: storage.clone(),
            size,
            pos: 0,
            chunk: CHUNK,
            buf: Bytes::new(),
        }
    }

    /// The same reader fetching `chunk` bytes per request (at least 1).
    pub fn with_chunk(mut self, chunk: u64) -> ObjectReader {
        self.chunk = chunk.max(1);
        self
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.size || out.is_empty() {
                return Ok(0);
            }
            let end = (self.pos + self.chunk).min(self.size);
            let data = self
                .storage
                .read_range(&self.url, self.pos, Some(end))
                .map_err(std::io::Error::other)?;
            if data.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: ends at byte {}, but {} bytes were listed",
                        self.url, self.pos, self.size
                    ),
                ));
            }
            self.pos += data.len() as u64;
            self.buf = data;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn objects_stream_in_chunks_and_a_short_object_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let data: Vec<u8> = (0..100_003u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let url = p.to_str().unwrap();
        let storage = StorageOptions::default();
        for chunk in [1, 4096, 100_003, 1 << 20] {
            let mut got = Vec::new();
            ObjectReader::new(url, data.len() as u64, &storage)
                .with_chunk(chunk)
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == data, "chunk {chunk}");
        }
        let mut got = Vec::new();
        let e = ObjectReader::new(url, data.len() as u64 + 10, &storage)
            .with_chunk(4096)
            .read_to_end(&mut got)
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(e.to_string().contains("f.bin: ends at byte 100003"), "{e}");
        let gone = dir.path().join("gone.bin");
        let e = ObjectReader::new(gone.to_str().unwrap(), 5, &storage)
            .read_to_end(&mut got)
            .unwrap_err();
        let e = super::super::writer::unwrap_io(e, "unused");
        assert!(matches!(e, crate::Error::Io { .. }) && e.to_string().contains("gone.bin"));
    }

    #[test]
    fn gzip_is_decompressed_from_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::fast(),
        );
        let text = "line of text\n".repeat(20_000);
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let size = std::fs::metadata(&p).unwrap().len();
        let r = ObjectReader::new(p.to_str().unwrap(), size, &Default::default()).with_chunk(100);
        let mut out = String::new();
        flate2::read::MultiGzDecoder::new(r)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
