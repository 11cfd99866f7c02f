//! The actors crate's one error type.

use rask_protocol::{ProtocolError, TaskError};
use thiserror::Error;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime, as callers see it.
#[derive(Debug, Error, Clone)]
pub enum Error {
    /// A task failed; carries the key, the function and the message. Not retryable as is.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The peer speaks another protocol, sent garbage, or refused us. Not retryable.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A socket could not be bound or connected, or broke. Often retryable.
    #[error("transport error at {addr}: {message}")]
    Transport {
        /// The address involved.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// Waiting for something took longer than allowed. Retryable.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    /// The value could not be decoded as the type asked for.
    #[error("cannot decode the value of {key} as {type_name}: {message}")]
    Decode {
        /// The key whose value it was.
        key: String,
        /// The Rust type asked for.
        type_name: &'static str,
        /// The decoder's words.
        message: String,
    },
    /// The future was cancelled.
    #[error("{0} was cancelled")]
    Cancelled(String),
    /// The client, worker or cluster is shut down.
    #[error("{0} is closed")]
    Closed(String),
    /// A function is not in this binary's registry.
    #[error("function '{0}' is not registered in this binary")]
    UnknownFunction(String),
    /// Bad configuration or arguments.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The scheduler's journal could not be read or written.
    #[error("scheduler journal: {0}")]
    Journal(String),
    /// The scheduler refused a coordination request (unknown key or dataset, a lease this
    /// client does not hold, a dataset name already taken). Not retryable as is.
    #[error("coordination: {0}")]
    Coordination(String),
    /// An actor can no longer be called: the worker hosting it died or left, or the actor was
    /// released. Not retryable: its state is gone (create a new actor).
    #[error("actor {actor} is lost: {reason}")]
    ActorLost {
        /// The actor's key.
        actor: String,
        /// What happened.
        reason: String,
    },
    /// An actor method failed, panicked, got arguments it cannot decode, or does not exist.
    /// The actor itself lives on.
    #[error("actor {actor}: call of {method} failed ({kind:?}): {message}")]
    ActorCall {
        /// The actor's key.
        actor: String,
        /// The method called.
        method: String,
        /// What kind of failure.
        kind: rask_protocol::TaskErrorKind,
        /// The error or panic message.
        message: String,
    },
}
