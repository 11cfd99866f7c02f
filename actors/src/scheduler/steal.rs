//! Work stealing: when a worker has idle threads and nothing is queued on the scheduler, it
//! takes tasks that wait behind others on a busy worker — when the expected wait there is
//! worth more than moving the task's inputs. The victim gives a task back only if it has not
//! started it ([`rask_protocol::ToWorker::Steal`] / `StealReply`).

use super::core::{Core, Outbox};
use super::state::TaskState;
use rask_protocol::{Attempt, Key, ToWorker, WorkerId};
use std::time::Duration;

/// Bytes per microsecond assumed for moving inputs between workers (100 MB/s).
const BYTES_PER_US: f64 = 100.0;

/// A steal must save at least this much waiting (covers the extra round trips).
const MIN_GAIN_US: f64 = 5_000.0;

/// Idle workers look for work to steal at most this often (besides every tick).
const BALANCE_EVERY: Duration = Duration::from_millis(5);

/// At most this many tasks of a victim are looked at per round.
const SCAN_LIMIT: usize = 4096;

/// A steal in flight.
#[derive(Debug, Clone, Copy)]
pub struct Steal {
    /// Where the task was.
    pub victim: WorkerId,
    /// Where it should go.
    pub thief: WorkerId,
}

impl Core {
    /// A worker finished or dropped a task: give it queued work, or let it steal.
    pub(super) fn worker_freed(&mut self, worker: WorkerId, out: &mut impl Outbox) {
        if !self.queue.is_empty() {
            self.fill_worker(worker, out);
            return;
        }
        let idle = self
            .workers
            .get(&worker)
            .is_some_and(|w| w.processing.len() < w.nthreads as usize);
        if idle && self.now.saturating_duration_since(self.last_balance) >= BALANCE_EVERY {
            self.balance(out);
        }
    }

    /// Moves waiting tasks from busy workers to idle ones.
    pub(super) fn balance(&mut self, out: &mut impl Outbox) {
        self.last_balance = self.now;
        if self.workers.len() < 2 || !self.queue.is_empty() {
            return;
        }
        let mut incoming: rustc_hash::FxHashMap<WorkerId, usize> = Default::default();
        let mut outgoing: rustc_hash::FxHashMap<WorkerId, usize> = Default::default();
        for s in self.stealing.values() {
            *incoming.entry(s.thief).or_default() += 1;
            *outgoing.entry(s.victim).or_default() += 1;
        }
        let free = |id: &WorkerId, w: &super::state::Worker| {
            (w.nthreads as usize)
                .saturating_sub(w.processing.len() + incoming.get(id).copied().unwrap_or(0))
        };
        let thieves: Vec<(WorkerId, usize)> = self
            .workers
            .iter()
            .map(|(id, w)| (*id, free(id, w)))
            .filter(|(_, n)| *n > 0)
            .collect();
        if thieves.is_empty() {
            return;
        }
        let mut victims: Vec<(WorkerId, usize)> =
            self.workers
                .iter()
                .map(|(id, w)| {
                    let backlog = w.processing.len().saturating_sub(
                        w.nthreads as usize + outgoing.get(id).copied().unwrap_or(0),
                    );
                    (*id, backlog)
                })
                .filter(|(_, b)| *b > 0)
                .collect();
        victims.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        for (thief, mut want) in thieves {
            for (victim, backlog) in victims.iter_mut() {
                if want == 0 {
                    break;
                }
                if *backlog == 0 || *victim == thief {
                    continue;
                }
                let picked = self.pick_for(thief, *victim, (*backlog).min(want));
                for (key, attempt) in picked {
                    out.to_worker(
                        *victim,
                        ToWorker::Steal {
                            key: key.clone(),
                            attempt,
                        },
                    );
                    self.stealing.insert(
                        key,
                        Steal {
                            victim: *victim,
                            thief,
                        },
                    );
                    *backlog -= 1;
                    want -= 1;
                }
            }
        }
    }

    /// Up to `n` of `victim`'s tasks worth moving to `thief`, lowest priority first (the ones
    /// the victim would run last).
    fn pick_for(&self, thief: WorkerId, victim: WorkerId, n: usize) -> Vec<(Key, Attempt)> {
        let (Some(t_w), Some(v_w)) = (self.workers.get(&thief), self.workers.get(&victim)) else {
            return Vec::new();
        };
        let backlog = v_w.processing.len().saturating_sub(v_w.nthreads as usize) as f64;
        let mut candidates: Vec<(i32, &Key, u32)> = Vec::new();
        for key in v_w.processing.iter().take(SCAN_LIMIT) {
            if self.stealing.contains_key(key) {
                continue;
            }
            let t = &self.tasks[key];
            let function = t.function_name();
            if !t_w.can_run(function, &t.restrict) {
                continue;
            }
            // Expected wait on the victim: half its backlog, shared by its threads.
            let wait = self.durations.get(function) * backlog / 2.0 / v_w.nthreads.max(1) as f64;
            let to_move: u64 = t
                .deps
                .iter()
                .filter(|d| !t_w.has.contains_key(*d))
                .map(|d| self.tasks.get(d).map_or(0, |x| x.nbytes))
                .sum();
            let cost = to_move as f64 / BYTES_PER_US;
            if wait - cost >= MIN_GAIN_US {
                candidates.push((t.priority, key, t.attempt));
            }
        }
        candidates.sort_by_key(|(p, k, _)| (*p, (*k).clone()));
        candidates
            .into_iter()
            .take(n)
            .map(|(_, k, a)| (k.clone(), Attempt(a)))
            .collect()
    }

    /// A victim answered a steal request.
    pub(super) fn steal_reply(
        &mut self,
        victim: WorkerId,
        key: Key,
        attempt: Attempt,
        stolen: bool,
        out: &mut impl Outbox,
    ) {
        let Some(steal) = self.stealing.remove(&key) else {
            return;
        };
        let current = matches!(
            self.tasks.get(&key),
            Some(t) if t.state == TaskState::Processing { worker: victim } && t.attempt == attempt.0
        );
        if !stolen || !current {
            return;
        }
        if let Some(w) = self.workers.get_mut(&victim) {
            w.processing.remove(&key);
        }
        self.tasks.get_mut(&key).expect("current").state = TaskState::Released;
        let thief_ok = self.workers.get(&steal.thief).is_some_and(|w| {
            let t = &self.tasks[&key];
            w.can_run(t.function_name(), &t.restrict)
        });
        let deps_ready = self.tasks[&key].deps.iter().all(|d| {
            matches!(
                self.tasks.get(d).map(|x| &x.state),
                Some(TaskState::Memory { .. })
            )
        });
        if thief_ok && deps_ready {
            self.assign(&key, steal.thief, out);
        } else {
            self.ensure_computed(&key, out);
        }
        self.worker_freed(victim, out);
    }

    /// Forgets steals that involve a worker that left.
    pub(super) fn forget_steals_of(&mut self, worker: WorkerId) {
        self.stealing
            .retain(|_, s| s.victim != worker && s.thief != worker);
    }
}
