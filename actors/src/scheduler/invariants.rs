//! Consistency checks over the core's state, run after every step of the core's tests.

use super::core::Core;
use super::state::TaskState;

impl Core {
    /// Panics with a description of the first broken invariant. Cheap enough for tests only.
    pub fn check_invariants(&self) {
        for (key, t) in &self.tasks {
            for dep in &t.deps {
                if let Some(d) = self.tasks.get(dep) {
                    assert!(
                        d.dependents.contains(key),
                        "{dep} does not list dependent {key}"
                    );
                } else {
                    assert!(
                        matches!(t.state, TaskState::Erred(_) | TaskState::Released),
                        "{key} ({}) has a forgotten dependency {dep}",
                        t.state.name()
                    );
                }
            }
            for d in t.dependents.iter() {
                let dt = self
                    .tasks
                    .get(d)
                    .unwrap_or_else(|| panic!("{key} lists forgotten dependent {d}"));
                assert!(dt.deps.contains(key), "{d} does not depend on {key}");
            }
            match &t.state {
                TaskState::Waiting { missing } => {
                    let count = t
                        .deps
                        .iter()
                        .filter(|d| {
                            !matches!(
                                self.tasks.get(*d).map(|x| &x.state),
                                Some(TaskState::Memory { .. })
                            )
                        })
                        .count();
                    assert_eq!(
                        *missing, count,
                        "{key} waits for {missing} but {count} are missing"
                    );
                    assert!(*missing > 0, "{key} waits for nothing");
                }
                TaskState::Processing { worker } => {
                    let w = self
                        .workers
                        .get(worker)
                        .unwrap_or_else(|| panic!("{key} on gone worker {worker}"));
                    assert!(
                        w.processing.contains(key) || w.seceded.contains(key),
                        "{worker} does not list processing {key}"
                    );
                    for dep in &t.deps {
                        assert!(self.tasks.contains_key(dep), "{key} runs without dep {dep}");
                    }
                }
                TaskState::Memory { who_has } => {
                    assert!(!who_has.is_empty(), "{key} in memory nowhere");
                    for w in who_has {
                        let worker = self
                            .workers
                            .get(w)
                            .unwrap_or_else(|| panic!("{key} held by gone {w}"));
                        assert!(worker.has.contains_key(key), "{w} does not list {key}");
                    }
                    assert!(
                        self.is_needed(key) || self.recovering(),
                        "{key} is in memory but nobody needs it"
                    );
                }
                TaskState::Released | TaskState::Erred(_) => {
                    assert!(
                        !t.wanted_by.is_empty() || !t.dependents.is_empty(),
                        "{key} ({}) should have been forgotten",
                        t.state.name()
                    );
                }
                TaskState::Queued => {
                    assert!(t.function.is_some(), "{key} is queued but has no function")
                }
                TaskState::NoWorker => assert!(
                    self.workers.is_empty() || !t.restrict.is_empty(),
                    "{key} parked with workers present"
                ),
            }
            for c in &t.wanted_by {
                let client = self
                    .clients
                    .get(c)
                    .unwrap_or_else(|| panic!("{key} wanted by gone client {c}"));
                assert!(client.wants.contains(key), "client {c} does not list {key}");
            }
        }
        for (id, w) in &self.workers {
            for key in &w.processing {
                assert_eq!(
                    self.tasks.get(key).map(|t| &t.state),
                    Some(&TaskState::Processing { worker: *id }),
                    "{id} lists processing {key}"
                );
            }
            for key in w.has.keys() {
                match self.tasks.get(key).map(|t| &t.state) {
                    Some(TaskState::Memory { who_has }) => assert!(who_has.contains(id)),
                    other => panic!("{id} holds {key} in state {other:?}"),
                }
            }
            assert_eq!(w.nbytes, w.has.values().sum::<u64>(), "{id} byte count");
        }
    }
}
