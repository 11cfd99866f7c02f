//! Admission of tasks that have dependencies: only so many of them at a time gather their
//! arguments and wait in or run on the compute pool; the rest wait here, highest priority
//! first, holding no data. Without it, a worker sent a hundred tasks at once would read a
//! hundred dependencies into memory at once (spilled ones back from disk) before the pool ran
//! the first.
//!
//! How many: always `nthreads + 2` (one running on each thread, two ready to start), and more
//! while the arguments they are expected to hold fit a byte budget (a tenth of the memory
//! limit). The expectation follows the argument sizes of recent tasks, starting pessimistic,
//! so a stream of small tasks soon runs hundreds deep (fetches overlap) while big ones stay
//! a few at a time.

use rask_protocol::{Attempt, Key};
use rustc_hash::FxHashSet as HashSet;
use std::collections::BinaryHeap;

/// How far admission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Always admitted, whatever the sizes.
    pub min: usize,
    /// Never more than this many at once.
    pub max: usize,
    /// Bytes of arguments the admitted tasks may be expected to hold.
    pub budget: u64,
}

/// The limits for a worker with `nthreads` compute threads and a memory limit of
/// `memory_limit` bytes (`None`: unlimited).
pub fn limits(nthreads: usize, memory_limit: Option<u64>) -> Limits {
    const MIB: u64 = 1 << 20;
    Limits {
        min: nthreads.max(1) + 2,
        max: 1024,
        budget: memory_limit.map_or(256 * MIB, |l| (l / 10).clamp(8 * MIB, 1024 * MIB)),
    }
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
    limits: Limits,
    /// Expected argument bytes of the next task (recent sizes, halving the distance each time).
    expected: f64,
    seq: u64,
    waiting: BinaryHeap<Waiting<T>>,
    active: HashSet<(Key, Attempt)>,
}

impl<T> Admission<T> {
    /// Admission within `limits`, expecting big arguments until tasks show otherwise.
    pub fn new(limits: Limits) -> Self {
        let limits = Limits {
            min: limits.min.max(1),
            max: limits.max.max(limits.min.max(1)),
            ..limits
        };
        Admission {
            expected: limits.budget as f64 / limits.min as f64,
            limits,
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

    fn has_room(&self) -> bool {
        let n = self.active.len();
        n < self.limits.min
            || (n < self.limits.max && (n + 1) as f64 * self.expected <= self.limits.budget as f64)
    }

    /// The next attempt to start, if one waits and there is room; it counts as admitted until
    /// [`Admission::finish`].
    pub fn pop(&mut self) -> Option<(Key, Attempt, T)> {
        if !self.has_room() {
            return None;
        }
        let w = self.waiting.pop()?;
        self.active.insert((w.key.clone(), w.attempt));
        Some((w.key, w.attempt, w.item))
    }

    /// An admitted attempt ended (ran, failed, or could not get its arguments), having held
    /// `arg_bytes` of arguments when known; false when it was not admitted here.
    pub fn finish(&mut self, key: &Key, attempt: Attempt, arg_bytes: Option<u64>) -> bool {
        let known = self.active.remove(&(key.clone(), attempt));
        if let (true, Some(bytes)) = (known, arg_bytes) {
            self.expected = (self.expected + bytes as f64) / 2.0;
        }
        known
    }

    /// Attempts waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Attempts admitted and not finished.
    pub fn active(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn admission(min: usize, max: usize, budget: u64) -> Admission<i32> {
        Admission::new(Limits { min, max, budget })
    }

    #[test]
    fn admits_the_minimum_by_priority_and_frees_places_on_finish() {
        let mut a = admission(2, 2, MIB);
        for (i, p) in [(1, 0), (2, 5), (3, 0), (4, 5)] {
            a.push(Key::new(format!("t{i}")), Attempt(0), p, i);
        }
        let first: Vec<i32> = std::iter::from_fn(|| a.pop().map(|(_, _, i)| i)).collect();
        assert_eq!(first, [2, 4], "highest priority first, then arrival order");
        assert!(a.pop().is_none(), "the limit holds");
        assert!(
            !a.finish(&Key::new("t1"), Attempt(0), None),
            "t1 was never admitted"
        );
        assert!(a.finish(&Key::new("t2"), Attempt(0), None));
        assert!(
            !a.finish(&Key::new("t2"), Attempt(0), None),
            "finished once only"
        );
        assert_eq!(a.pop().map(|(_, _, i)| i), Some(1));
        assert!(a.pop().is_none());
        assert!(
            !a.finish(&Key::new("t4"), Attempt(1), None),
            "another attempt is another task"
        );
        assert!(a.finish(&Key::new("t4"), Attempt(0), None));
        assert_eq!(a.pop().map(|(_, _, i)| i), Some(3));
        assert_eq!(a.waiting(), 0);
    }

    fn run_wave(a: &mut Admission<i32>, bytes: u64, rounds: usize) -> usize {
        // Admit as many as there is room for, finish them all with `bytes` each; repeat.
        let mut last = 0;
        for r in 0..rounds {
            for i in 0..2000 {
                a.push(Key::new(format!("r{r}-{i}")), Attempt(0), 0, i);
            }
            let admitted: Vec<_> = std::iter::from_fn(|| a.pop()).collect();
            last = admitted.len();
            for (k, at, _) in admitted {
                assert!(a.finish(&k, at, Some(bytes)));
            }
            while a.pop().map(|(k, at, _)| a.finish(&k, at, None)).is_some() {}
        }
        last
    }

    #[test]
    fn small_arguments_open_up_to_the_maximum_and_big_ones_stay_near_the_minimum() {
        let l = limits(1, Some(200_000_000));
        assert_eq!((l.min, l.max, l.budget), (3, 1024, 20_000_000));
        let mut a = Admission::new(l);
        assert_eq!(run_wave(&mut a, 16, 1), 3, "pessimistic at first");
        assert_eq!(
            run_wave(&mut a, 16, 30),
            1024,
            "tiny arguments: as deep as allowed"
        );
        assert_eq!(
            run_wave(&mut a, 5_000_000, 30),
            4,
            "5 MB arguments: 20 MB of them"
        );
        assert_eq!(
            run_wave(&mut a, 50_000_000, 30),
            3,
            "never below the minimum"
        );
        assert_eq!(limits(4, None).budget, 256 * MIB);
        assert_eq!(limits(1, Some(10 * MIB)).budget, 8 * MIB);
    }
}
