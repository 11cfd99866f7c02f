//! Failures and losses: a task that erred (and its dependents), results lost with a worker,
//! tasks whose worker died, dependencies a worker could not fetch.

use super::core::{Core, Outbox};
use super::state::TaskState;
use rask_protocol::{Attempt, Key, TaskError, TaskErrorKind, ToClient, ToWorker, WorkerId};

impl Core {
    /// A worker reports a failed attempt: retry or err (and err its dependents).
    pub(super) fn failed(
        &mut self,
        worker: WorkerId,
        attempt: Attempt,
        error: TaskError,
        out: &mut impl Outbox,
    ) {
        let key = error.key.clone();
        let current = matches!(
            self.tasks.get(&key),
            Some(t) if t.state == TaskState::Processing { worker } && t.attempt == attempt.0
        );
        if !current {
            return;
        }
        if let Some(w) = self.workers.get_mut(&worker) {
            w.processing.remove(&key);
        }
        let t = self.tasks.get_mut(&key).expect("current");
        if t.retries_left > 0 && !matches!(error.kind, TaskErrorKind::UnknownFunction) {
            t.retries_left -= 1;
            let failures = t.attempt;
            tracing::debug!(%key, "attempt {failures} failed; retrying after a back-off");
            self.retry_later(&key, failures);
        } else {
            self.err_task(&key, error, out);
        }
        self.worker_freed(worker, out);
    }

    /// Marks a task erred, and every pending dependent with it; tells the clients that want
    /// them.
    pub(super) fn err_task(&mut self, root: &Key, error: TaskError, out: &mut impl Outbox) {
        let mut work = vec![(root.clone(), error)];
        let mut touched_deps = Vec::new();
        while let Some((key, error)) = work.pop() {
            let Some(t) = self.tasks.get_mut(&key) else {
                continue;
            };
            if let TaskState::Processing { worker } = t.state {
                out.to_worker(
                    worker,
                    ToWorker::Cancel {
                        key: key.clone(),
                        attempt: Attempt(t.attempt),
                    },
                );
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.processing.remove(&key);
                }
            }
            t.state = TaskState::Erred(Box::new(error.clone()));
            for c in &t.wanted_by {
                out.to_client(*c, ToClient::Erred(error.clone()));
            }
            touched_deps.extend(t.deps.iter().cloned());
            touched_deps.push(key.clone());
            let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
            for d in &dependents {
                let Some(dt) = self.tasks.get(d) else {
                    continue;
                };
                if matches!(dt.state, TaskState::Memory { .. } | TaskState::Erred(_)) {
                    continue;
                }
                let derr = TaskError {
                    key: d.clone(),
                    function: dt.function_name().to_string(),
                    kind: TaskErrorKind::DependencyFailed(root.clone()),
                    message: error.message.clone(),
                };
                work.push((d.clone(), derr));
            }
        }
        self.release_unneeded(touched_deps.into_iter(), out);
    }

    /// A key's last holder is gone: back to released, and dependents waiting on it (or queued
    /// for a retry) wait again.
    pub(super) fn lose(&mut self, key: &Key) {
        let t = self.tasks.get_mut(key).expect("caller found it");
        t.state = TaskState::Released;
        let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
        for d in dependents {
            match self.tasks.get(&d).map(|t| &t.state) {
                Some(TaskState::Waiting { .. }) | Some(TaskState::Queued) => {}
                _ => continue,
            }
            let missing = self.tasks[&d]
                .deps
                .iter()
                .filter(|dep| {
                    !matches!(
                        self.tasks.get(*dep).map(|x| &x.state),
                        Some(TaskState::Memory { .. })
                    )
                })
                .count();
            self.tasks.get_mut(&d).expect("present").state = TaskState::Waiting { missing };
        }
    }

    /// After keys were lost: recompute the ones still needed, forget the rest.
    pub(super) fn after_loss(&mut self, lost: &[Key], out: &mut impl Outbox) {
        for key in lost {
            if self.is_needed(key) {
                if self.is_actor(key) {
                    self.actor_lost(key, out);
                } else {
                    self.ensure_computed(key, out);
                }
            }
        }
        self.release_unneeded(lost.iter().cloned(), out);
    }

    /// The worker running `key` died.
    pub(super) fn worker_died_running(&mut self, key: &Key, out: &mut impl Outbox) {
        let Some(t) = self.tasks.get_mut(key) else {
            return;
        };
        t.suspicious += 1;
        if t.suspicious > self.config.allowed_failures {
            let error = TaskError {
                key: key.clone(),
                function: t.function_name().to_string(),
                kind: TaskErrorKind::KilledWorker,
                message: format!(
                    "{} workers died while running this task (allowed failures: {})",
                    t.suspicious, self.config.allowed_failures
                ),
            };
            t.state = TaskState::Released;
            self.err_task(key, error, out);
            return;
        }
        t.state = TaskState::Released;
        if self.is_needed(key) {
            self.ensure_computed(key, out);
        } else {
            self.release_unneeded(std::iter::once(key.clone()), out);
        }
    }

    /// Someone could not find `key` on `holder`: drop that holder, recompute if it was the last.
    pub(super) fn missing_on(&mut self, key: &Key, holder: WorkerId, out: &mut impl Outbox) {
        let Some(t) = self.tasks.get_mut(key) else {
            return;
        };
        let TaskState::Memory { who_has } = &mut t.state else {
            return;
        };
        if !who_has.contains(&holder) {
            return;
        }
        who_has.retain(|w| *w != holder);
        let now_lost = who_has.is_empty();
        if let Some(w) = self.workers.get_mut(&holder) {
            if let Some(n) = w.has.remove(key) {
                w.nbytes -= n;
            }
        }
        if now_lost {
            self.lose(key);
            self.after_loss(std::slice::from_ref(key), out);
        } else {
            self.notify_memory(key, None, None, out);
        }
    }

    /// A worker could not fetch dependencies for `key`: start the task over.
    pub(super) fn retry_after_missing(
        &mut self,
        worker: WorkerId,
        key: &Key,
        attempt: Attempt,
        out: &mut impl Outbox,
    ) {
        let Some(t) = self.tasks.get_mut(key) else {
            return;
        };
        if t.state != (TaskState::Processing { worker }) || t.attempt != attempt.0 {
            return;
        }
        t.state = TaskState::Released;
        if let Some(w) = self.workers.get_mut(&worker) {
            w.processing.remove(key);
        }
        self.ensure_computed(key, out);
        self.worker_freed(worker, out);
    }
}
