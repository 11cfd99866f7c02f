//! # rask
//!
//! Dask's distributed computing model — a central scheduler, many workers, clients holding
//! typed futures — as Rust actors talking over ZeroMQ.
//!
//! ```no_run
//! use rask::builtins::inc;
//! # fn main() -> anyhow::Result<()> {
//! let client = rask::Client::local_blocking(2)?;          // scheduler + 2 workers in-process
//! let futures = client.map(inc, (0..10i64).map(|i| (i,)))?;
//! let total: i64 = client.gather_blocking(&futures)?.iter().sum();
//! assert_eq!(total, 55);
//! # Ok(()) }
//! ```
//!
//! This crate is a thin facade over the member crates:
//! [`protocol`] (wire messages), [`actors`] (scheduler, worker, data-store, client),
//! [`collections`] (built-in functions and collections) and [`nodes`] (the command line).

#![warn(missing_docs)]

pub use rask_actors as actors;
pub use rask_collections as collections;
pub use rask_nodes as nodes;
pub use rask_protocol as protocol;
pub use rask_protocol::Blob;

pub use rask_actors::client::{
    as_completed, wait, Client, ClientConfig, Future, IntoArg, IntoArgs, Status, SubmitOptions,
};
pub use rask_actors::client::{ActorFuture, ActorHandle};
pub use rask_actors::client::{Event, Lease, Lock, Queue, Semaphore, Variable};
pub use rask_actors::local::{LocalCluster, LocalConfig};
pub use rask_actors::scheduler::{CoreConfig, SchedulerConfig};
pub use rask_actors::worker::{rejoin, secede, worker_client};
pub use rask_actors::worker::{ActorType, Registry, TaskFunction, WorkerConfig};
pub use rask_actors::{actor, task};
pub use rask_actors::{Error, Result};
pub use rask_collections::array::{self, Array, Chunk};
pub use rask_collections::bag::{self, Bag, Items, JsonValue};
pub use rask_collections::builtins;
pub use rask_collections::dataframe::{self, DataFrame};
pub use rask_collections::delayed::{delayed, Delayed};
pub use rask_collections::graph::{self, compute_all, ComputeOptions, Progress};
pub use rask_collections::stream::{self, Stream};
pub use rask_collections::Error as CollectionError;
pub use rask_protocol::{Key, TaskError, TaskErrorKind, WorkerId, PROTOCOL_VERSION};
