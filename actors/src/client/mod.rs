//! The client: a [`Client`] handle usable from any thread or runtime, backed by a client actor
//! on its own actix thread that talks to the scheduler and to workers' data-stores; typed
//! [`Future`]s that release their result cluster-wide when the last clone drops.

mod actor;
mod args;
mod data;
mod future;
mod handle;

pub use args::{IntoArg, IntoArgs};
pub use future::{as_completed, wait, Future, Status};
pub use handle::{Client, ClientConfig, SubmitOptions};
