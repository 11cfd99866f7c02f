//! Admission of tasks that have dependencies: at most [`limit`] of them at a time gather their
//! arguments and wait in or run on the compute pool; the rest wait here, highest priority
//! first, holding no data. Without it, a worker sent a hundred tasks at once would read a
//! hundred dependencies into memory at once (spilled ones back from disk) before the pool ran
//! the first.

use rask_protocol::{Attempt, Key};
use rustc_hash::FxHashSet as HashSet;
use std::collections::BinaryHeap;

/// How many tasks with dependencies may hold their arguments at once on a worker with
/// `nthreads` compute threads: one running on each thread and two ready to start.
pub fn limit(nthreads: usize) -> usize {
    nthreads.max(1) + 2
}

struct Waiting<T> {
    priority: i32,
    seq: u64,
    key: Key,
    attempt: Attempt,
    item: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.seq) == (other.priority, other.seq)
    }
}
impl<T> Eq for Waiting<T> {}
impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Waiting<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Highest priority first, then first come first served.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Tasks waiting for admission and the attempts admitted.
pub struct Admission<T> {
    limit: usize,
    seq: u64,
    waiting: BinaryHeap<Waiting<T>>,
    active: HashSet<(Key, Attempt)>,
}

impl<T> Admission<T> {
    /// Admits at most `limit` attempts at a time.
    pub fn new(limit: usize) -> Self {
        Admission {
            limit: limit.max(1),
            seq: 0,
            waiting: BinaryHeap::new(),
            active: HashSet::default(),
        }
    }

    /// Queues an attempt.
    pub fn push(&mut self, key: Key, attempt: Attempt, priority: i32, item: T) {
        self.seq += 1;
        self.waiting.push(Waiting {
            priority,
            seq: self.seq,
            key,
            attempt,
            item,
        });
    }

    /// The next attempt to start, if one waits and a place is free; it counts as admitted
    /// until [`Admission::finish`].
    pub fn pop(&mut self) -> Option<(Key, Attempt, T)> {
        if self.active.len() >= self.limit {
            return None;
        }
        let w = self.waiting.pop()?;
        self.active.insert((w.key.clone(), w.attempt));
        Some((w.key, w.attempt, w.item))
    }

    /// An admitted attempt ended (ran, failed, or could not get its arguments); false when it
    /// was not admitted here.
    pub fn finish(&mut self, key: &Key, attempt: Attempt) -> bool {
        self.active.remove(&(key.clone(), attempt))
    }

    /// Attempts waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_by_priority_and_frees_places_on_finish() {
        let mut a = Admission::new(2);
        for (i, p) in [(1, 0), (2, 5), (3, 0), (4, 5)] {
            a.push(Key::new(format!("t{i}")), Attempt(0), p, i);
        }
        let first: Vec<i32> = std::iter::from_fn(|| a.pop().map(|(_, _, i)| i)).collect();
        assert_eq!(first, [2, 4], "highest priority first, then arrival order");
        assert!(a.pop().is_none(), "the limit holds");
        assert!(
            !a.finish(&Key::new("t1"), Attempt(0)),
            "t1 was never admitted"
        );
        assert!(a.finish(&Key::new("t2"), Attempt(0)));
        assert!(!a.finish(&Key::new("t2"), Attempt(0)), "finished once only");
        assert_eq!(a.pop().map(|(_, _, i)| i), Some(1));
        assert!(a.pop().is_none());
        assert!(
            !a.finish(&Key::new("t4"), Attempt(1)),
            "another attempt is another task"
        );
        assert!(a.finish(&Key::new("t4"), Attempt(0)));
        assert_eq!(a.pop().map(|(_, _, i)| i), Some(3));
        assert_eq!(a.waiting(), 0);
    }
}
