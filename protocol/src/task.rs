//! Tasks on the wire: what to run, with which arguments, and how a failure is described.

use crate::ids::Key;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One positional argument of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arg {
    /// A value, already postcard-encoded as the function's parameter type.
    Value(Bytes),
    /// The result of another task: a dependency.
    Key(Key),
}

/// A task as a client submits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The task's key (also the key of its result).
    pub key: Key,
    /// The registered name of the function to run.
    pub function: String,
    /// Positional arguments.
    pub args: Vec<Arg>,
    /// Higher runs first among ready tasks.
    pub priority: i32,
    /// How many times a failed run is retried before the task is erred.
    pub retries: u32,
    /// Whether the submitting client holds a future for this key (intermediate graph tasks are
    /// not wanted by themselves and are freed once their dependents are done).
    pub wanted: bool,
    /// Restrict the task to workers with these names or data-store addresses (empty: any).
    pub workers: Vec<String>,
}

impl TaskSpec {
    /// The keys this task depends on, in argument order (duplicates kept).
    pub fn dependencies(&self) -> impl Iterator<Item = &Key> {
        self.args.iter().filter_map(|a| match a {
            Arg::Key(k) => Some(k),
            Arg::Value(_) => None,
        })
    }
}

/// Why a task failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskErrorKind {
    /// The function returned an error.
    Failed,
    /// The function panicked (the worker caught it and survived).
    Panicked,
    /// No connected worker knows the function.
    UnknownFunction,
    /// The arguments did not decode as the function's parameter types.
    BadArguments,
    /// A dependency failed, so this task cannot run.
    DependencyFailed(Key),
    /// The task was cancelled by a client.
    Cancelled,
    /// The task was running on too many workers that died.
    KilledWorker,
    /// The result was held only by workers that died and it cannot be recomputed (scattered).
    LostData,
}

/// A task's failure as the caller sees it: the key, the function and the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// Key of the failed task.
    pub key: Key,
    /// Name of its function.
    pub function: String,
    /// What kind of failure.
    pub kind: TaskErrorKind,
    /// The error or panic message.
    pub message: String,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            TaskErrorKind::Failed => "failed".to_string(),
            TaskErrorKind::Panicked => "panicked".to_string(),
            TaskErrorKind::UnknownFunction => "names a function no worker knows".to_string(),
            TaskErrorKind::BadArguments => "got arguments it cannot decode".to_string(),
            TaskErrorKind::DependencyFailed(dep) => {
                format!("could not run: dependency {dep} failed")
            }
            TaskErrorKind::Cancelled => "was cancelled".to_string(),
            TaskErrorKind::KilledWorker => "killed too many workers".to_string(),
            TaskErrorKind::LostData => "lost its data".to_string(),
        };
        write!(
            f,
            "task {} ({}) {}: {}",
            self.key, self.function, what, self.message
        )
    }
}

impl std::error::Error for TaskError {}

/// Task functions whose names start with this create a stateful actor instead of computing a
/// value: the worker that runs one keeps the object under the task's key and serves method
/// calls on it (`rask::actor!`). The scheduler never recomputes such a key: an actor lost with
/// its worker stays lost, as in Dask.
pub const ACTOR_PREFIX: &str = "rask::actor::";

/// True if `function` creates an actor (see [`ACTOR_PREFIX`]).
pub fn is_actor_function(function: &str) -> bool {
    function.starts_with(ACTOR_PREFIX)
}
