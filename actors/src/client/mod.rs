//! The client: a [`Client`] handle usable from any thread or runtime, backed by a client actor
//! on its own actix thread that talks to the scheduler and to workers' data-stores; typed
//! [`Future`]s that release their result cluster-wide when the last clone drops; and the
//! cluster-wide coordination primitives the scheduler hosts ([`Queue`], [`Variable`],
//! [`Lock`], [`Semaphore`], [`Event`], topics and published datasets — not journaled: a
//! restarted scheduler starts without them); and handles on stateful actors placed on
//! workers ([`ActorHandle`], [`ActorFuture`]).

mod actor;
mod actor_handle;
mod args;
mod block;
mod coord;
mod data;
mod future;
mod handle;
mod lock;
mod pubsub;
mod queue;

pub use actor_handle::{ActorFuture, ActorHandle};
pub use args::{IntoArg, IntoArgs};
pub use coord::GRACE as COORD_GRACE;
pub use future::{as_completed, wait, Future, Status};
pub use handle::{Client, ClientConfig, SubmitOptions};
pub use lock::{Event, Lease, Lock, Semaphore};
pub use queue::{Queue, Variable};
