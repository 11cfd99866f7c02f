//! rask collections and the built-in task functions every stock `rask worker` runs.
//!
//! - [`builtins`]: small general-purpose task functions (arithmetic, sums, byte blobs, sleeps,
//!   deliberate failures) used by the demo, the benchmarks and the tests.
//!
//! The delayed, bag, array and dataframe collections build on these and land here next.

#![warn(missing_docs)]

pub mod builtins;
