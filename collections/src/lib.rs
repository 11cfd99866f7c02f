//! rask collections and the built-in task functions every stock `rask worker` runs.
//!
//! - [`graph`]: the task-graph model all collections share: deterministic keys, culling,
//!   fusing, DOT export, `compute`/`persist`, computing several collections at once.
//! - [`delayed`](mod@delayed): lazy calls of registered functions, with lazy values as arguments.
//! - [`array`](mod@array): chunked n-dimensional arrays of ndarray blocks (element-wise operations,
//!   tree reductions, slicing, rechunking, blocked linear algebra, `.npy` stacks).
//! - [`bag`]: partitioned collections of serde values (text files, JSON lines, sequences)
//!   with element-wise operations and tree-reduced aggregations.
//! - [`dataframe`]: partitioned dataframes of Arrow record batches (CSV and Parquet,
//!   expressions, grouped aggregations as tree reductions).
//! - [`builtins`]: small general-purpose task functions (arithmetic, sums, byte blobs, sleeps,
//!   deliberate failures) used by the demo, the benchmarks and the tests.
//! - [`stream`]: pipelines over unbounded events run on the cluster in micro-batches
//!   (sources, registered element functions, windows and keyed state, sinks).
//! - [`storage`]: one storage layer for every reader and writer: local paths, `file://` and
//!   `s3://` URLs, globs, ranged reads, streamed and multipart writes.
//! - [`error`]: this crate's error type.

#![warn(missing_docs)]

pub mod array;
pub mod bag;
pub mod builtins;
pub mod dataframe;
pub mod delayed;
pub mod error;
pub mod graph;
mod raw;
mod rng;
pub mod storage;
pub mod stream;

pub use delayed::{delayed, Delayed};
pub use error::{Error, Result};
pub use graph::{compute_all, Collection, ComputeOptions, Graph, Progress};

#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use rask_actors::worker::registry::TaskEntry;
}
