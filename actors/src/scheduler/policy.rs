//! Placement: which worker runs a ready task. Behind a trait so other policies (random,
//! stealing-aware) can be swapped in and tested alone.

use super::state::Worker;
use rask_protocol::WorkerId;
use std::collections::BTreeMap;

/// What a policy sees of a ready task.
pub struct Candidate<'a> {
    /// The function it runs (only workers that know it may be chosen).
    pub function: &'a str,
    /// Names or data-store addresses of the only workers allowed (empty: any).
    pub restrict: &'a [String],
    /// For each dependency in memory: this task's share of its size (its bytes divided among
    /// the tasks that read it) and its holders.
    pub inputs: Vec<(u64, &'a [WorkerId])>,
}

/// Chooses a worker for a task.
pub trait Placement: Send {
    /// Returns the chosen worker, or `None` when no worker can run the function.
    fn choose(
        &mut self,
        task: &Candidate<'_>,
        workers: &BTreeMap<WorkerId, Worker>,
    ) -> Option<WorkerId>;
}

/// Dask's default: the worker holding the most input bytes, then the least occupied.
#[derive(Debug, Default)]
pub struct LocalityThenOccupancy;

impl Placement for LocalityThenOccupancy {
    fn choose(
        &mut self,
        task: &Candidate<'_>,
        workers: &BTreeMap<WorkerId, Worker>,
    ) -> Option<WorkerId> {
        let mut best: Option<(u64, f64, WorkerId)> = None;
        for (&id, w) in workers {
            if !w.can_run(task.function, task.restrict) {
                continue;
            }
            let local: u64 = task
                .inputs
                .iter()
                .filter(|(_, holders)| holders.contains(&id))
                .map(|(n, _)| *n)
                .sum();
            let occ = w.occupancy();
            let better = match best {
                None => true,
                Some((bl, bo, _)) => local > bl || (local == bl && occ < bo),
            };
            if better {
                best = Some((local, occ, id));
            }
        }
        best.map(|(_, _, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
    use std::time::Instant;

    fn worker(funcs: &[&str], processing: usize) -> Worker {
        Worker {
            name: "w".into(),
            store_addr: "".into(),
            nthreads: 1,
            functions: funcs.iter().map(|s| s.to_string()).collect(),
            processing: (0..processing)
                .map(|i| rask_protocol::Key::new(format!("p{i}")))
                .collect::<HashSet<_>>(),
            seceded: HashSet::default(),
            has: HashMap::default(),
            nbytes: 0,
            last_seen: Instant::now(),
        }
    }

    #[test]
    fn prefers_input_bytes_then_least_busy() {
        let mut ws = BTreeMap::new();
        ws.insert(WorkerId(1), worker(&["f"], 0));
        ws.insert(WorkerId(2), worker(&["f"], 5));
        ws.insert(WorkerId(3), worker(&["g"], 0));
        let mut p = LocalityThenOccupancy;
        let holders = [WorkerId(2)];
        let t = Candidate {
            function: "f",
            restrict: &[],
            inputs: vec![(100, &holders)],
        };
        assert_eq!(p.choose(&t, &ws), Some(WorkerId(2)));
        let t = Candidate {
            function: "f",
            restrict: &[],
            inputs: vec![],
        };
        assert_eq!(p.choose(&t, &ws), Some(WorkerId(1)));
        let t = Candidate {
            function: "h",
            restrict: &[],
            inputs: vec![],
        };
        assert_eq!(p.choose(&t, &ws), None);
        let only = ["w3".to_string()];
        ws.get_mut(&WorkerId(2)).unwrap().name = "w3".into();
        let t = Candidate {
            function: "f",
            restrict: &only,
            inputs: vec![],
        };
        assert_eq!(p.choose(&t, &ws), Some(WorkerId(2)));
    }
}
