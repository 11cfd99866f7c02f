//! A Parquet [`ChunkReader`] over ranged reads of any storage URL: the footer comes from one
//! read of the file's tail, the column chunks of the row groups wanted from one read each
//! (prefetched), and anything else parquet asks for is read on demand and kept.

use super::StorageOptions;
use bytes::Bytes;
use parquet::errors::{ParquetError, Result as PqResult};
use parquet::file::reader::{ChunkReader, Length};
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Bytes read from the end of a file for its footer (most footers fit).
pub const TAIL: u64 = 64 << 10;

/// Ranges closer than this are read as one.
const COALESCE: u64 = 1 << 20;

/// Reads of one file, cached by range (clones share the cache).
#[derive(Clone)]
pub struct RangeReader {
    url: String,
    storage: StorageOptions,
    len: u64,
    cache: Arc<Mutex<Vec<(u64, Bytes)>>>,
}

fn err(e: crate::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl RangeReader {
    /// A reader of `url`, whose size is `len`, with these settings; reads the tail (footer)
    /// at once.
    pub fn open(url: &str, len: u64, storage: &StorageOptions) -> crate::Result<RangeReader> {
        let r = RangeReader {
            url: url.to_string(),
            storage: storage.clone(),
            len,
            cache: Arc::new(Mutex::new(Vec::new())),
        };
        r.prefetch(std::slice::from_ref(&(len.saturating_sub(TAIL)..len)))?;
        Ok(r)
    }

    /// Reads these ranges (merged when close) into the cache.
    pub fn prefetch(&self, ranges: &[Range<u64>]) -> crate::Result<()> {
        let mut rs: Vec<Range<u64>> = ranges.iter().filter(|r| r.end > r.start).cloned().collect();
        rs.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for r in rs {
            match merged.last_mut() {
                Some(m) if r.start <= m.end + COALESCE => m.end = m.end.max(r.end),
                _ => merged.push(r),
            }
        }
        for r in merged {
            let data = self.storage.read_range(&self.url, r.start, Some(r.end))?;
            self.lock().push((r.start, data));
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Bytes)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cached bytes from `start` to the end of the cached range holding it, if any.
    fn cached_from(&self, start: u64) -> Option<Bytes> {
        self.lock()
            .iter()
            .find(|(s, d)| *s <= start && start < s + d.len() as u64)
            .map(|(s, d)| d.slice((start - s) as usize..))
    }

    /// The number of range reads made (for tests and diagnostics).
    pub fn reads(&self) -> usize {
        self.lock().len()
    }
}

impl Length for RangeReader {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for RangeReader {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> PqResult<Self::T> {
        use bytes::Buf;
        if let Some(b) = self.cached_from(start) {
            return Ok(b.reader());
        }
        let end = (start + COALESCE).min(self.len);
        self.prefetch(std::slice::from_ref(&(start..end)))
            .map_err(err)?;
        Ok(self.cached_from(start).unwrap_or_default().reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> PqResult<Bytes> {
        if let Some(b) = self.cached_from(start).filter(|b| b.len() >= length) {
            return Ok(b.slice(..length));
        }
        let data = self
            .storage
            .read_range(&self.url, start, Some(start + length as u64))
            .map_err(err)?;
        if data.len() < length {
            return Err(ParquetError::EOF(format!(
                "{}: wanted {length} bytes at {start}, got {}",
                self.url,
                data.len()
            )));
        }
        self.lock().push((start, data.clone()));
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_served_from_the_cache_and_close_ones_merged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let r =
            RangeReader::open(p.to_str().unwrap(), data.len() as u64, &Default::default()).unwrap();
        assert_eq!(r.reads(), 1);
        let tail = r.get_bytes(299_000, 1000).unwrap();
        assert_eq!(&tail[..], &data[299_000..]);
        assert_eq!(r.reads(), 1, "the footer read serves the tail");
        r.prefetch(&[10..20, 100..200, 5..8]).unwrap();
        assert_eq!(r.reads(), 2, "close ranges are one read");
        assert_eq!(&r.get_bytes(150, 10).unwrap()[..], &data[150..160]);
        let mut rd = r.get_read(1_000).unwrap();
        let mut buf = [0u8; 4];
        std::io::Read::read_exact(&mut rd, &mut buf).unwrap();
        assert_eq!(&buf, &data[1_000..1_004]);
        assert!(r.get_bytes(299_990, 20).is_err());
    }
}
