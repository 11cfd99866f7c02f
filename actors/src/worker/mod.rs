//! The worker: the actor that takes tasks from the scheduler ([`actor`]), fetches their
//! dependencies ([`fetch`]) for as many tasks at a time as memory allows ([`admit`]), runs
//! them on the compute pool ([`pool`]) and stores results in its data-store; and the registry
//! of named task functions ([`registry`]).

pub mod actor;
pub mod admit;
mod connect;
pub mod fetch;
pub mod pool;
pub mod registry;

pub use actor::{Worker, WorkerConfig};
pub use registry::{Registry, TaskFunction};
