//! Tasks that wait on other tasks, and actors. A task that seceded (it submitted tasks and
//! waits on them from inside a worker) stays `Processing` on its worker but stops counting
//! against the worker's threads, so the tasks it waits for can be sent there (Dask's
//! long-running tasks). An actor's key is never recomputed: when its only holder is lost the
//! actor's state is gone, and the clients holding it are told so.

use super::core::{Core, Outbox};
use super::state::TaskState;
use rask_protocol::{is_actor_function, Attempt, Key, TaskError, TaskErrorKind, WorkerId};
use rustc_hash::FxHashSet as HashSet;

impl Core {
    /// `worker` says the running attempt of `key` seceded.
    pub(super) fn on_seceded(
        &mut self,
        worker: WorkerId,
        key: Key,
        attempt: Attempt,
        out: &mut impl Outbox,
    ) {
        let current = matches!(
            self.tasks.get(&key),
            Some(t) if t.state == TaskState::Processing { worker } && t.attempt == attempt.0
        );
        let tasks = &self.tasks;
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        // Forget seceded tasks that finished meanwhile.
        w.seceded.retain(|k| {
            tasks
                .get(k)
                .is_some_and(|t| t.state == TaskState::Processing { worker })
        });
        if !current || !w.processing.remove(&key) {
            return;
        }
        w.seceded.insert(key);
        self.worker_freed(worker, out);
    }

    /// Of a removed worker's seceded tasks, those still running there.
    pub(super) fn seceded_running(&self, worker: WorkerId, seceded: &HashSet<Key>) -> Vec<Key> {
        seceded
            .iter()
            .filter(|k| {
                self.tasks
                    .get(*k)
                    .is_some_and(|t| t.state == TaskState::Processing { worker })
            })
            .cloned()
            .collect()
    }

    /// True if `key` is an actor (made by an actor-creation task).
    pub(super) fn is_actor(&self, key: &Key) -> bool {
        self.tasks
            .get(key)
            .and_then(|t| t.function.as_deref())
            .is_some_and(is_actor_function)
    }

    /// An actor's only holder is gone: its clients' handles fail from now on.
    pub(super) fn actor_lost(&mut self, key: &Key, out: &mut impl Outbox) {
        let Some(t) = self.tasks.get(key) else {
            return;
        };
        let error = TaskError {
            key: key.clone(),
            function: t.function_name().to_string(),
            kind: TaskErrorKind::LostData,
            message: "the worker hosting this actor is gone, and its state with it".into(),
        };
        self.err_task(key, error, out);
    }
}
