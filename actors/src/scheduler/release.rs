//! Releasing and forgetting: what nobody needs any more is freed on its workers (or its
//! pending work cancelled) and, once unreachable, dropped from the graph.

use super::core::{Core, Outbox};
use super::state::TaskState;
use rask_protocol::{Attempt, ClientId, Key, ToWorker};

impl Core {
    /// A client dropped its interest in `key`.
    pub(super) fn unwant(&mut self, client: ClientId, key: &Key, out: &mut impl Outbox) {
        if let Some(t) = self.tasks.get_mut(key) {
            t.wanted_by.retain(|c| *c != client);
            self.release_unneeded(std::iter::once(key.clone()), out);
        }
    }

    /// Needed: some client wants it, or a pending task depends on it.
    pub(super) fn is_needed(&self, key: &Key) -> bool {
        self.tasks.get(key).is_some_and(|t| self.task_needed(t))
    }

    /// [`Core::is_needed`] for a task already looked up.
    fn task_needed(&self, t: &super::state::Task) -> bool {
        !t.wanted_by.is_empty()
            || t.dependents
                .iter()
                .any(|d| self.tasks.get(d).is_some_and(|dt| dt.state.is_pending()))
    }

    /// Releases every given key that nobody needs any more (freeing memory on workers,
    /// cancelling pending work), and forgets what is then unreachable. Cascades to dependencies.
    pub(super) fn release_unneeded(
        &mut self,
        keys: impl Iterator<Item = Key>,
        out: &mut impl Outbox,
    ) {
        let mut work: Vec<Key> = keys.collect();
        let mut freed = Vec::new();
        while let Some(key) = work.pop() {
            let Some(t) = self.tasks.get(&key) else {
                continue;
            };
            if self.task_needed(t) {
                continue;
            }
            let mut cascade = false;
            match &t.state {
                TaskState::Memory { who_has } => {
                    for w in who_has {
                        out.to_worker(*w, ToWorker::Free(vec![key.clone()]));
                        if let Some(worker) = self.workers.get_mut(w) {
                            if let Some(n) = worker.has.remove(&key) {
                                worker.nbytes -= n;
                            }
                        }
                    }
                }
                TaskState::Processing { worker } => {
                    out.to_worker(
                        *worker,
                        ToWorker::Cancel {
                            key: key.clone(),
                            attempt: Attempt(t.attempt),
                        },
                    );
                    if let Some(w) = self.workers.get_mut(worker) {
                        w.processing.remove(&key);
                    }
                    freed.push(*worker);
                    cascade = true;
                }
                TaskState::Waiting { .. } | TaskState::NoWorker | TaskState::Queued => {
                    cascade = true
                }
                TaskState::Released | TaskState::Erred(_) => {}
            }
            let t = self.tasks.get_mut(&key).expect("present");
            if !matches!(t.state, TaskState::Erred(_)) {
                t.state = TaskState::Released;
            }
            if cascade {
                work.extend(t.deps.iter().cloned());
            }
            // Forget: nobody wants it and no task depends on it any more.
            if t.wanted_by.is_empty() && t.dependents.is_empty() {
                let t = self.tasks.remove(&key).expect("present");
                for dep in t.deps {
                    if let Some(d) = self.tasks.get_mut(&dep) {
                        d.dependents.remove(&key);
                    }
                    work.push(dep);
                }
            }
        }
        freed.sort_unstable();
        freed.dedup();
        for w in freed {
            self.worker_freed(w, out);
        }
    }
}
