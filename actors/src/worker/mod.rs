//! The worker: the actor that takes tasks from the scheduler ([`actor`]), fetches their
//! dependencies ([`fetch`]) for as many tasks at a time as memory allows ([`admit`]), runs
//! them on the compute pool ([`pool`]) and stores results in its data-store; the registry
//! of named task functions ([`registry`]); what a running task reaches — a client of its
//! scheduler, secede/rejoin ([`context`]); and stateful actors ([`actors`], declared with
//! [`actor!`](crate::actor)).

pub mod actor;
mod actor_macro;
pub mod actors;
pub mod admit;
mod connect;
pub mod context;
pub mod fetch;
pub mod pool;
pub mod registry;

pub use actor::{Worker, WorkerConfig};
pub use actors::ActorType;
pub use context::{rejoin, secede, worker_client};
pub use registry::{Registry, TaskFunction};
