//! The scheduler's records of tasks, workers and clients: plain data, no behaviour beyond
//! small queries.

use rask_protocol::{Arg, ClientId, Key, TaskError, WorkerId};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::time::Instant;

/// Where a task is in its life (Dask's states; `Forgotten` is removal from the map).
#[derive(Debug, Clone, PartialEq)]
pub enum TaskState {
    /// No result and not scheduled; kept only as lineage for dependents.
    Released,
    /// Waiting for `missing` dependencies to reach memory.
    Waiting {
        /// Distinct dependencies not yet in memory.
        missing: usize,
    },
    /// Ready, but no connected worker yet (waits for one).
    NoWorker,
    /// Ready and queued on the scheduler until a worker has room (or a retry's back-off ends).
    Queued,
    /// Assigned to a worker.
    Processing {
        /// The worker running it.
        worker: WorkerId,
    },
    /// Result held in memory by these workers.
    Memory {
        /// Holders (never empty in this state).
        who_has: Vec<WorkerId>,
    },
    /// Failed for good.
    Erred(Box<TaskError>),
}

impl TaskState {
    /// Short name, for logs and invariant messages.
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Released => "released",
            TaskState::Waiting { .. } => "waiting",
            TaskState::NoWorker => "no-worker",
            TaskState::Queued => "queued",
            TaskState::Processing { .. } => "processing",
            TaskState::Memory { .. } => "memory",
            TaskState::Erred(_) => "erred",
        }
    }

    /// True while the task still has to run (its dependencies are needed for it).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            TaskState::Waiting { .. }
                | TaskState::NoWorker
                | TaskState::Queued
                | TaskState::Processing { .. }
        )
    }
}

/// One task the scheduler tracks.
#[derive(Debug, Clone)]
pub struct Task {
    /// Registered function name (`None` for scattered data, which has no lineage).
    pub function: Option<std::sync::Arc<str>>,
    /// Arguments, kept so the task can be recomputed.
    pub args: Vec<Arg>,
    /// Distinct dependency keys.
    pub deps: Vec<Key>,
    /// Tasks that depend on this one.
    pub dependents: super::keyset::KeySet,
    /// Clients holding a future for this key.
    pub wanted_by: Vec<ClientId>,
    /// Current state.
    pub state: TaskState,
    /// Number of the latest attempt; results from older attempts are stale.
    pub attempt: u32,
    /// Retries left after a failure.
    pub retries_left: u32,
    /// Higher runs first.
    pub priority: i32,
    /// Size of the result once known.
    pub nbytes: u64,
    /// How many workers died while running it.
    pub suspicious: u32,
    /// Names or addresses of the only workers allowed to run it (empty: any).
    pub restrict: Vec<String>,
}

impl Task {
    /// The function name for error messages.
    pub fn function_name(&self) -> &str {
        self.function.as_deref().unwrap_or("scatter")
    }
}

/// A connected worker.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Its name.
    pub name: String,
    /// Its data-store address.
    pub store_addr: std::sync::Arc<str>,
    /// Compute threads.
    pub nthreads: u32,
    /// Functions it can run.
    pub functions: HashSet<String>,
    /// Tasks assigned to it and not finished.
    pub processing: HashSet<Key>,
    /// Tasks running on it that seceded (they wait on other tasks): still `Processing` here,
    /// but out of `processing`, so they do not count against its threads. May list tasks
    /// that finished since; only those still processing on this worker count.
    pub seceded: HashSet<Key>,
    /// Keys it holds, with sizes.
    pub has: HashMap<Key, u64>,
    /// Sum of `has` sizes.
    pub nbytes: u64,
    /// Last time we heard from it.
    pub last_seen: Instant,
}

impl Worker {
    /// Occupancy used by placement: assigned tasks per thread.
    pub fn occupancy(&self) -> f64 {
        self.processing.len() as f64 / self.nthreads.max(1) as f64
    }

    /// True if it knows `function` and is allowed by `restrict` (names or data-store
    /// addresses; empty allows every worker).
    pub fn can_run(&self, function: &str, restrict: &[String]) -> bool {
        self.functions.contains(function)
            && (restrict.is_empty()
                || restrict
                    .iter()
                    .any(|r| *r == self.name || **r == *self.store_addr))
    }
}

/// A connected client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its name.
    pub name: String,
    /// Keys it holds futures for.
    pub wants: HashSet<Key>,
    /// Last time we heard from it.
    pub last_seen: Instant,
}
