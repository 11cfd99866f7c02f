//! One storage layer for every reader and writer: a URL (`/local/path`, `file:///path`,
//! `s3://bucket/prefix/*.csv`) resolves to a backend (local files or S3), patterns and
//! prefixes list objects, and objects are read whole or by byte range and written whole or
//! streamed (multipart uploads for big S3 objects).
//!
//! - [`url`]: parsing URLs into a [`Location`].
//! - [`glob`](mod@glob): key patterns (`*` inside one part, `**` across parts).
//! - [`local`]: the file-system backend.
//! - [`s3`]: the S3 backend (rust-s3; endpoint, region, credentials from [`S3Options`] or
//!   the `AWS_*` environment variables; transient failures retried with backoff).
//! - [`writer`]: streaming writers ([`ObjectWriter`], gzip-aware [`TextWriter`]).
//! - [`blocks`]: text files cut into blocks on line boundaries, read by range.
//! - [`ranged`]: a Parquet [`ChunkReader`](parquet::file::reader::ChunkReader) over ranged
//!   reads (footer and row-group column chunks only).
//!
//! Readers list objects on the client and read them in the tasks on the workers (the URL
//! and byte range are task arguments), so workers need the same `AWS_*` variables.
//!
//! ```no_run
//! # fn main() -> rask_collections::Result<()> {
//! use rask_collections::storage;
//! for obj in storage::expand(&["s3://logs/2024/*.txt"])? {
//!     let head = storage::read_range(&obj.url, 0, Some(100))?;
//!     println!("{} ({} bytes) starts with {:?}", obj.url, obj.size, head);
//! }
//! storage::write("s3://logs/summary.txt", b"done\n")?;
//! # Ok(()) }
//! ```

pub mod blocks;
pub mod glob;
pub mod local;
pub mod ranged;
pub mod s3;
pub mod url;
pub mod writer;

pub use self::s3::S3Options;
pub use url::Location;
pub use writer::{ObjectWriter, TextWriter};

use crate::{Error, Result};
use bytes::Bytes;

/// One object found by [`expand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Its URL (plain path for local files), as the workers use it.
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// Changes when the object does (modification time, or a hash of the S3 entity tag),
    /// so task keys built from it change too.
    pub version: u64,
}

/// The objects named by paths, URLs or patterns, sorted within each pattern.
///
/// A plain local path must exist. A plain `s3://bucket/key` names that object, or, if there
/// is none, every object under `key/` (a folder); when there is neither, the error is
/// [`Error::NoSuchKey`]. A pattern matching nothing is [`Error::NoFiles`].
pub fn expand(patterns: &[&str]) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    for p in patterns {
        match Location::parse(p)? {
            Location::Local(path) => out.extend(local::expand(p, &path)?),
            Location::S3 { bucket, key } => out.extend(expand_s3(p, &bucket, &key)?),
        }
    }
    Ok(out)
}

fn expand_s3(pattern: &str, bucket: &str, key: &str) -> Result<Vec<ObjectMeta>> {
    let opts = S3Options::current();
    let meta = |l: s3::Listed| ObjectMeta {
        url: format!("s3://{bucket}/{}", l.key),
        size: l.size,
        version: xxhash_rust::xxh3::xxh3_64(l.etag.as_bytes()),
    };
    if glob::has_glob(key) {
        let g = glob::KeyGlob::new(key, pattern)?;
        let found: Vec<ObjectMeta> = s3::list(&opts, bucket, glob::literal_prefix(key))
            .map_err(|e| about(e, pattern))?
            .into_iter()
            .filter(|l| g.matches(&l.key))
            .map(meta)
            .collect();
        if found.is_empty() {
            return Err(Error::NoFiles(pattern.to_string()));
        }
        return Ok(found);
    }
    let listed = s3::list(&opts, bucket, key).map_err(|e| about(e, pattern))?;
    if let Some(exact) = listed.iter().find(|l| l.key == key) {
        return Ok(vec![meta(exact.clone())]);
    }
    let folder = match key {
        "" => String::new(),
        k => format!("{}/", k.trim_end_matches('/')),
    };
    let under: Vec<ObjectMeta> = listed
        .into_iter()
        .filter(|l| l.key.starts_with(&folder))
        .map(meta)
        .collect();
    if under.is_empty() {
        return Err(Error::NoSuchKey {
            url: pattern.to_string(),
        });
    }
    Ok(under)
}

/// A whole object.
pub fn read(url: &str) -> Result<Bytes> {
    read_range(url, 0, None)
}

/// Bytes `[start, end)` of an object (`end: None`: to its end; a range past the end is cut
/// there).
pub fn read_range(url: &str, start: u64, end: Option<u64>) -> Result<Bytes> {
    match Location::parse(url)? {
        Location::Local(path) => local::read_range(&path, start, end),
        Location::S3 { bucket, key } => s3::get(&S3Options::current(), &bucket, &key, start, end),
    }
}

/// Makes sure a folder exists for writing into: created (with its parents) on the local
/// file system; nothing to do for `s3://` prefixes, which exist once an object is under them.
pub fn create_dir(url: &str) -> Result<()> {
    match Location::parse(url)? {
        Location::Local(path) => std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e)),
        Location::S3 { .. } => Ok(()),
    }
}

/// Writes `data` as a whole object (creating local folders; multipart for big S3 objects).
pub fn write(url: &str, data: &[u8]) -> Result<()> {
    let mut w = ObjectWriter::create(url)?;
    std::io::Write::write_all(&mut w, data).map_err(|e| writer::unwrap_io(e, url))?;
    w.finish()
}

/// The same error about `url` (listing errors name the prefix listed, not the pattern).
fn about(e: Error, url: &str) -> Error {
    let url = url.to_string();
    match e {
        Error::NoSuchKey { .. } => Error::NoSuchKey { url },
        Error::NoSuchBucket { .. } => Error::NoSuchBucket { url },
        Error::AccessDenied { message, .. } => Error::AccessDenied { url, message },
        Error::Network {
            attempts, message, ..
        } => Error::Network {
            url,
            attempts,
            message,
        },
        Error::Storage { message, .. } => Error::Storage { url, message },
        e => e,
    }
}
