//! The scheduler: a pure state machine ([`core`]) with transitions in `graph`, a placement
//! policy behind a trait ([`policy`]), and the actor that feeds it from its ROUTER socket
//! ([`actor`]).

pub mod actor;
pub mod coord;
pub mod core;
mod failure;
mod graph;
pub mod invariants;
pub mod journal;
pub mod keyset;
mod long_running;
pub mod policy;
pub mod queue;
pub mod recovery;
mod release;
pub mod state;
pub mod steal;
#[cfg(test)]
mod tests;

pub use self::actor::{start_scheduler, SchedulerConfig, SchedulerHandle};
pub use self::core::{Core, CoreConfig, Outbox};
pub use self::state::TaskState;
