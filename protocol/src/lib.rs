//! The rask wire protocol: every message that crosses a socket, and nothing else.
//!
//! This crate knows no sockets and no actors; it is pure and fuzzable.
//!
//! - [`ids`]: keys and the numeric ids of workers, clients and attempts.
//! - [`handshake`]: the protocol-version constant and the first message of every connection.
//! - [`task`]: what a task is on the wire and how a task failure is described.
//! - [`messages`]: the messages, one enum per direction (`FromClient`, `ToClient`, …).
//! - [`codec`]: postcard encoding of message batches onto ZeroMQ multipart frames,
//!   with bulk values riding in frames of their own.
//! - [`coord`]: the cluster-wide queues, locks, events, topics and datasets the scheduler
//!   hosts (operations and their answers).
//! - [`blob`]: byte payloads that decode as slices of the received buffer.
//! - [`error`]: the one error type of this crate.

#![warn(missing_docs)]

pub mod blob;
pub mod codec;
pub mod coord;
pub mod error;
pub mod handshake;
pub mod ids;
pub mod messages;
pub mod task;

pub use blob::{decode_value_shared, Blob};
pub use codec::{decode_batch, decode_value, encode_batch, encode_value, Batch};
pub use coord::{CoordOp, CoordReply, Item};
pub use error::{ProtocolError, Result};
pub use handshake::{Hello, HelloReply, Role, Welcome, WorkerHello, PROTOCOL_VERSION};
pub use ids::{Attempt, ClientId, Key, RequestId, WorkerId};
pub use messages::*;
pub use task::{is_actor_function, Arg, TaskError, TaskErrorKind, TaskSpec, ACTOR_PREFIX};
