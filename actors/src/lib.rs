//! rask's actors and their pure cores.
//!
//! - [`scheduler`]: the pure scheduler state machine and the actor around it.
//! - [`worker`]: the worker actor, its compute pool and the registry of task functions.
//! - [`datastore`]: a worker's results, served to peers and clients.
//! - [`client`]: the client actor, typed futures and the `Client` handle.
//! - [`transport`]: the ZeroMQ bridges (the only code that touches sockets).
//! - [`local`]: a whole cluster in one process.
//! - [`runtime`]: actix systems on their own threads, so any program can host actors.
//! - [`error`]: this crate's error type.

#![warn(missing_docs)]

pub mod client;
pub mod datastore;
pub mod error;
pub mod local;
pub mod runtime;
pub mod scheduler;
pub mod transport;
pub mod worker;

pub use error::{Error, Result};

#[doc(hidden)]
pub mod __private {
    pub use bytes::Bytes;
    pub use inventory;
    pub use rask_protocol::{encode_value, Result as ProtocolResult, TaskErrorKind};
}
