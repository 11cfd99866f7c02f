//! The collections crate's one error type.

use thiserror::Error;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong building or computing a collection.
#[derive(Debug, Error)]
pub enum Error {
    /// The runtime failed: a task erred (its message names the file and line for I/O and
    /// parsing failures), the cluster went away, a value did not decode. Retry only if the
    /// runtime error says so.
    #[error(transparent)]
    Runtime(#[from] rask_actors::Error),
    /// A value could not be encoded or decoded. Not retryable.
    #[error(transparent)]
    Protocol(#[from] rask_protocol::ProtocolError),
    /// A local file or folder could not be read or written. Retryable once the file is there.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The operating system's words.
        #[source]
        source: std::io::Error,
    },
    /// A path pattern matched no file. Not retryable as is.
    #[error("no file matches {0}")]
    NoFiles(String),
    /// A path pattern is not a valid glob. Not retryable.
    #[error("bad path pattern {pattern}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A result the client received is not what the graph promised (a bug or a mismatched
    /// worker build). Not retryable.
    #[error("malformed result: {0}")]
    Malformed(String),
    /// The operation is not defined for these arguments (empty bag for `min`, zero
    /// partitions, …). Not retryable.
    #[error("invalid: {0}")]
    Invalid(String),
    /// An Arrow computation failed (unknown column, impossible cast, malformed CSV…).
    /// Not retryable.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A Parquet file could not be read or written. Not retryable as is.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A file of a multi-file dataframe does not match the schema of the first file. Not
    /// retryable.
    #[error("{file}: column {column}: {message}")]
    SchemaMismatch {
        /// The file that differs.
        file: String,
        /// The column involved.
        column: String,
        /// How it differs.
        message: String,
    },
    /// The bucket an `s3://` URL names does not exist. Not retryable as is.
    #[error("{url}: no such bucket")]
    NoSuchBucket {
        /// The URL.
        url: String,
    },
    /// The object (or prefix) a storage URL names does not exist. Not retryable as is.
    #[error("{url}: no such key")]
    NoSuchKey {
        /// The URL.
        url: String,
    },
    /// The object store refused the request: credentials missing, unknown or not allowed.
    /// Not retryable with the same credentials.
    #[error("{url}: access denied: {message}")]
    AccessDenied {
        /// The URL.
        url: String,
        /// The store's words.
        message: String,
    },
    /// The object store could not be reached (connection refused or reset, time-out), even
    /// after the bounded retries. Retryable later.
    #[error("{url}: network failure after {attempts} attempts: {message}")]
    Network {
        /// The URL.
        url: String,
        /// How many requests were tried.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The object store answered with another error (an invalid request, a malformed
    /// reply). Not retryable as is.
    #[error("{url}: object store error: {message}")]
    Storage {
        /// The URL.
        url: String,
        /// The store's words.
        message: String,
    },
    /// A stream's source, sink or driver failed (a socket that cannot bind or connect, a
    /// send that failed, a window aggregate that could not be combined). Retryable only
    /// when the cause named is passing (a peer not yet up).
    #[error("stream: {0}")]
    Stream(String),
    /// The object store kept answering with a server error or throttling (5xx, 429 such as
    /// `503 Slow Down`) through all the bounded retries. Retryable later.
    #[error("{url}: object store unavailable after {attempts} attempts: {message}")]
    Unavailable {
        /// The URL.
        url: String,
        /// How many requests were tried.
        attempts: u32,
        /// The last answer (status and S3 error code).
        message: String,
    },
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
