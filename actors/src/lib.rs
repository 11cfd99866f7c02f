//! rask's actors and their pure cores.
//!
//! - [`scheduler`]: the pure scheduler state machine and the actor around it.
//! - [`error`]: this crate's error type.

#![warn(missing_docs)]

pub mod error;
pub mod scheduler;

pub use error::{Error, Result};
