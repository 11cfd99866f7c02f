//! Queuing on the scheduler: ready root tasks (no dependencies) wait here instead of flooding
//! workers, and go out as worker threads free up — enough per worker to cover the round trip
//! to the scheduler, judged from how long the task's function has been taking. Failed tasks
//! that asked for retries wait here for their back-off too.

use super::core::{Core, Outbox};
use super::state::{TaskState, Worker};
use rask_protocol::{Key, WorkerId};
use rustc_hash::FxHashMap as HashMap;
use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Assumed run time of a function not seen finishing yet (Dask's `unknown-task-duration`).
pub const UNKNOWN_DURATION_US: f64 = 500_000.0;

/// At most this many queued tasks per worker thread, however short the tasks.
const MAX_DEPTH_PER_THREAD: usize = 1024;

/// How many queue entries a worker looks past when the first ones cannot run on it.
const SCAN_PAST: usize = 32;

/// Running averages of task durations per function (exponentially weighted).
#[derive(Debug, Default)]
pub struct Durations {
    by_fn: HashMap<Arc<str>, f64>,
}

impl Durations {
    /// Records one run of `function` that took `us` microseconds.
    pub fn record(&mut self, function: &Arc<str>, us: u64) {
        let us = us as f64;
        match self.by_fn.get_mut(function) {
            Some(avg) => *avg = 0.8 * *avg + 0.2 * us,
            None => {
                self.by_fn.insert(function.clone(), us);
            }
        }
    }

    /// The average for `function`, or [`UNKNOWN_DURATION_US`].
    pub fn get(&self, function: &str) -> f64 {
        self.by_fn
            .get(function)
            .copied()
            .unwrap_or(UNKNOWN_DURATION_US)
    }
}

/// How many tasks of a function taking `avg_us` a worker with `nthreads` should hold at once:
/// one per thread, plus enough queued behind them to cover `target` of work per thread (at
/// least one, like Dask's `worker-saturation` of 1.1 rounded up).
pub fn worker_slots(nthreads: u32, avg_us: f64, target: Duration) -> usize {
    let n = nthreads.max(1) as usize;
    let per_thread = (target.as_micros() as f64 / avg_us.max(0.1)).ceil() as usize;
    n + (n * per_thread.clamp(1, MAX_DEPTH_PER_THREAD))
}

/// Ready tasks waiting on the scheduler, highest priority first and first come first served
/// within a priority: one FIFO lane per priority, so the common case (every task of a graph
/// at one priority) queues and dequeues in constant time. Entries whose task left the
/// `Queued` state are skipped when reached (and swept out when they pile up).
#[derive(Debug, Default)]
pub struct ReadyQueue {
    lanes: BTreeMap<Reverse<i32>, VecDeque<Key>>,
    len: usize,
    /// Retries waiting for their back-off to pass.
    delayed: Vec<(Instant, Key)>,
    /// Queue length after the last sweep.
    swept_len: usize,
}

impl ReadyQueue {
    /// Entries queued (some may be stale).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, priority: i32, key: Key) {
        self.lanes
            .entry(Reverse(priority))
            .or_default()
            .push_back(key);
        self.len += 1;
    }

    /// The next entry, without taking it.
    fn peek(&self) -> Option<&Key> {
        self.lanes.values().next().and_then(|l| l.front())
    }

    /// Takes the next entry, with its priority.
    fn pop(&mut self) -> Option<(i32, Key)> {
        let mut lane = self.lanes.first_entry()?;
        let key = lane.get_mut().pop_front().expect("lanes are never empty");
        let priority = lane.key().0;
        if lane.get().is_empty() {
            lane.remove();
        }
        self.len -= 1;
        Some((priority, key))
    }

    /// Puts entries taken with [`ReadyQueue::pop`] back at the front, in the order given.
    fn unpop(&mut self, entries: Vec<(i32, Key)>) {
        for (priority, key) in entries.into_iter().rev() {
            self.lanes
                .entry(Reverse(priority))
                .or_default()
                .push_front(key);
            self.len += 1;
        }
    }

    /// Keeps only the entries `keep` accepts.
    fn retain(&mut self, mut keep: impl FnMut(&Key) -> bool) {
        for lane in self.lanes.values_mut() {
            lane.retain(&mut keep);
            lane.shrink_to_fit();
        }
        self.lanes.retain(|_, lane| !lane.is_empty());
        self.len = self.lanes.values().map(VecDeque::len).sum();
    }
}

impl Core {
    /// True if `w` may take one more task of `function` now.
    pub(super) fn has_room(&self, w: &Worker, function: &str) -> bool {
        match self.config.queue_target {
            None => true,
            Some(target) => {
                w.processing.len() < worker_slots(w.nthreads, self.durations.get(function), target)
            }
        }
    }

    /// Parks a ready task in the queue until a worker has room.
    pub(super) fn enqueue(&mut self, key: &Key) {
        let t = self.tasks.get_mut(key).expect("caller checked");
        t.state = TaskState::Queued;
        let priority = t.priority;
        self.queue.push(priority, key.clone());
    }

    /// A failed task with retries left: run it again after a back-off that doubles with every
    /// failure (100 ms, 200 ms, … up to 10 s).
    pub(super) fn retry_later(&mut self, key: &Key, failures: u32) {
        let t = self.tasks.get_mut(key).expect("caller checked");
        t.state = TaskState::Queued;
        let backoff = Duration::from_millis(100 << failures.saturating_sub(1).min(7))
            .min(Duration::from_secs(10));
        self.queue.delayed.push((self.now + backoff, key.clone()));
    }

    /// Moves retries whose back-off has passed into the queue.
    pub(super) fn release_due(&mut self, out: &mut impl Outbox) {
        if self.queue.delayed.is_empty() {
            return;
        }
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue.delayed)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.queue.delayed = later;
        for (_, key) in due {
            if let Some(t) = self.tasks.get(&key) {
                if t.state == TaskState::Queued {
                    let priority = t.priority;
                    self.queue.push(priority, key);
                }
            }
        }
        self.fill_all(out);
    }

    /// Gives every worker with room queued tasks.
    pub(super) fn fill_all(&mut self, out: &mut impl Outbox) {
        if self.queue.is_empty() {
            return;
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            self.fill_worker(id, out);
        }
    }

    /// Hands queued tasks to `id` while it has room.
    pub(super) fn fill_worker(&mut self, id: WorkerId, out: &mut impl Outbox) {
        let mut skipped = Vec::new();
        while let Some(key) = self.queue.peek() {
            let Some(t) = self.tasks.get(key) else {
                self.queue.pop();
                continue;
            };
            if t.state != TaskState::Queued {
                self.queue.pop();
                continue;
            }
            let Some(w) = self.workers.get(&id) else {
                break;
            };
            let function = t.function_name();
            if !self.has_room(w, function) {
                break;
            }
            let runs_here = w.can_run(function, &t.restrict);
            let entry = self.queue.pop().expect("peeked");
            if runs_here {
                self.assign(&entry.1, id, out);
            } else {
                skipped.push(entry);
                if skipped.len() >= SCAN_PAST {
                    break;
                }
            }
        }
        self.queue.unpop(skipped);
    }

    /// Drops stale entries once they make up most of the queue.
    pub(super) fn sweep_queue(&mut self) {
        let len = self.queue.len();
        if len < 1024 || len < 2 * self.queue.swept_len {
            return;
        }
        let tasks = &self.tasks;
        self.queue
            .retain(|k| tasks.get(k).is_some_and(|t| t.state == TaskState::Queued));
        self.queue.swept_len = self.queue.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_the_target_and_at_least_one_extra() {
        let target = Duration::from_millis(2);
        // Unknown or long tasks: one running and one waiting per thread.
        assert_eq!(worker_slots(1, UNKNOWN_DURATION_US, target), 2);
        assert_eq!(worker_slots(4, 1_000_000.0, target), 8);
        // 10 µs tasks: 200 per thread behind the running one.
        assert_eq!(worker_slots(1, 10.0, target), 201);
        // Never more than the cap, even for free tasks.
        assert_eq!(worker_slots(2, 0.0, target), 2 + 2 * MAX_DEPTH_PER_THREAD);
    }

    #[test]
    fn durations_average_per_function() {
        let mut d = Durations::default();
        let f: Arc<str> = Arc::from("f");
        assert_eq!(d.get("f"), UNKNOWN_DURATION_US);
        d.record(&f, 100);
        assert_eq!(d.get("f"), 100.0);
        d.record(&f, 200);
        assert!((d.get("f") - 120.0).abs() < 1e-9);
        assert_eq!(d.get("g"), UNKNOWN_DURATION_US);
    }

    #[test]
    fn queue_orders_by_priority_then_arrival() {
        let mut q = ReadyQueue::default();
        q.push(0, Key::new("a"));
        q.push(5, Key::new("b"));
        q.push(0, Key::new("c"));
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|(_, k)| k.to_string())
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert!(q.is_empty());
    }

    #[test]
    fn skipped_entries_go_back_in_front_in_order() {
        let mut q = ReadyQueue::default();
        for (p, k) in [(1, "a"), (0, "b"), (1, "c"), (0, "d")] {
            q.push(p, Key::new(k));
        }
        let first = vec![q.pop().unwrap(), q.pop().unwrap(), q.pop().unwrap()];
        assert_eq!(first.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [1, 1, 0]);
        q.unpop(first);
        assert_eq!(q.len(), 4);
        q.retain(|k| k.as_str() != "c");
        let order: Vec<String> = std::iter::from_fn(|| q.pop())
            .map(|(_, k)| k.to_string())
            .collect();
        assert_eq!(order, ["a", "b", "d"]);
    }
}
