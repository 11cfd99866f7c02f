//! One storage layer for every reader and writer: a URL (`/local/path`, `file:///path`,
//! `s3://bucket/prefix/*.csv`) resolves to a backend (local files or S3), patterns and
//! prefixes list objects, and objects are read whole, by byte range or streamed, and written
//! whole or streamed (multipart uploads for big S3 objects).
//!
//! - [`url`]: parsing URLs into a [`Location`].
//! - [`options`]: [`StorageOptions`], the backends' settings given in code, carried inside
//!   the tasks that read and write; its methods are the operations below under them.
//! - [`glob`](mod@glob): key patterns (`*` inside one part, `**` across parts).
//! - [`local`]: the file-system backend.
//! - [`s3`]: the S3 backend (rust-s3; endpoint, region, credentials from [`S3Options`] or
//!   the `AWS_*` environment variables; transient failures retried with backoff).
//! - [`reader`]: streamed reads ([`ObjectReader`], ranged requests front to back).
//! - [`writer`]: streaming writers ([`ObjectWriter`], gzip-aware [`TextWriter`]).
//! - [`blocks`]: text files cut into blocks on line boundaries, read by range.
//! - [`ranged`]: a Parquet [`ChunkReader`](parquet::file::reader::ChunkReader) over ranged
//!   reads (footer and row-group column chunks only).
//!
//! Readers list objects on the client and read them in the tasks on the workers: the URL,
//! the byte range and the [`StorageOptions`] are task arguments. With explicit options the
//! workers need no `AWS_*` variables of their own; the default options leave each process
//! to its own (environment or [`S3Options::set_current`]).
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
pub mod options;
pub mod ranged;
pub mod reader;
pub mod s3;
pub mod url;
pub mod writer;

pub use self::s3::S3Options;
pub use options::StorageOptions;
pub use reader::ObjectReader;
pub use url::Location;
pub use writer::{ObjectWriter, TextWriter};

use crate::Result;
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

/// The objects named by paths, URLs or patterns, with this process's own settings (see
/// [`StorageOptions::expand`]).
pub fn expand(patterns: &[&str]) -> Result<Vec<ObjectMeta>> {
    StorageOptions::default().expand(patterns)
}

/// A whole object, with this process's own settings.
pub fn read(url: &str) -> Result<Bytes> {
    StorageOptions::default().read(url)
}

/// Bytes `[start, end)` of an object, with this process's own settings (see
/// [`StorageOptions::read_range`]).
pub fn read_range(url: &str, start: u64, end: Option<u64>) -> Result<Bytes> {
    StorageOptions::default().read_range(url, start, end)
}

/// Makes sure a folder exists for writing into (see [`StorageOptions::create_dir`]).
pub fn create_dir(url: &str) -> Result<()> {
    StorageOptions::default().create_dir(url)
}

/// Writes `data` as a whole object, with this process's own settings (see
/// [`StorageOptions::write`]).
pub fn write(url: &str, data: &[u8]) -> Result<()> {
    StorageOptions::default().write(url, data)
}
