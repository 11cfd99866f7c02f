//! Task-state transitions of the core: computing what is needed, scheduling, finishing,
//! failing, losing data, releasing and forgetting. Worklists, not recursion, so graphs of any
//! depth are safe.

use super::core::{Core, Outbox};
use super::policy::Candidate;
use super::state::{Task, TaskState};
use bytes::Bytes;
use rask_protocol::{
    Arg, Attempt, ClientId, ComputeMsg, DepLocation, InMemoryMsg, Key, ScatteredMsg, TaskError,
    TaskErrorKind, TaskSpec, ToClient, ToWorker, WorkerId,
};
use std::sync::Arc;

impl Core {
    /// Records a new task (state `Released`); [`Core::link_dependencies`] links it once the
    /// whole batch is in, so a graph may list its tasks in any order.
    pub(super) fn insert_task(&mut self, client: ClientId, spec: TaskSpec) {
        // Dependencies refer to the scheduler's own copy of each known key: one allocation per
        // key however many tasks name it, and comparisons that stop at the pointer.
        let mut args = spec.args;
        let mut deps: Vec<Key> = Vec::new();
        for arg in &mut args {
            if let Arg::Key(dep) = arg {
                if let Some((known, _)) = self.tasks.get_key_value(dep) {
                    *dep = known.clone();
                }
                if !deps.contains(dep) {
                    deps.push(dep.clone());
                }
            }
        }
        let task = Task {
            function: Some(self.intern(&spec.function)),
            args,
            deps,
            dependents: Default::default(),
            wanted_by: if spec.wanted { vec![client] } else { vec![] },
            state: TaskState::Released,
            attempt: 0,
            retries_left: spec.retries,
            priority: spec.priority,
            nbytes: 0,
            suspicious: 0,
            restrict: spec.workers,
        };
        self.tasks.insert(spec.key, Box::new(task));
    }

    /// The shared copy of a function name.
    fn intern(&mut self, name: &str) -> std::sync::Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        let n: std::sync::Arc<str> = std::sync::Arc::from(name);
        self.names.insert(n.clone());
        n
    }

    /// Adds `key` to the dependents of each of its known dependencies.
    pub(super) fn link_dependencies(&mut self, key: &Key) {
        // The list is lent out while its entries are updated (no copy of it per task).
        let deps = std::mem::take(&mut self.tasks.get_mut(key).expect("inserted").deps);
        for dep in &deps {
            if let Some(d) = self.tasks.get_mut(dep) {
                d.dependents.insert(key.clone());
            }
        }
        self.tasks.get_mut(key).expect("inserted").deps = deps;
    }

    /// Validates a just-inserted task and, when a client wants it, starts computing it.
    pub(super) fn start_new(&mut self, key: &Key, out: &mut impl Outbox) {
        let Some(t) = self.tasks.get(key) else { return };
        if !matches!(t.state, TaskState::Released) {
            return;
        }
        if let Some(dep) = t.deps.iter().find(|d| !self.tasks.contains_key(*d)) {
            let error = TaskError {
                key: key.clone(),
                function: t.function_name().to_string(),
                kind: TaskErrorKind::DependencyFailed(dep.clone()),
                message: format!(
                    "dependency {dep} is not known to the scheduler (was it released?)"
                ),
            };
            self.err_task(key, error, out);
            return;
        }
        let function = t.function_name();
        if !self.workers.is_empty()
            && !self
                .workers
                .values()
                .any(|w| w.functions.contains(function))
        {
            let function = function.to_string();
            let error = self.unknown_function(key, &function);
            self.err_task(key, error, out);
            return;
        }
        if !self.tasks[key].wanted_by.is_empty() {
            self.ensure_computed(key, out);
        }
    }

    fn unknown_function(&self, key: &Key, function: &str) -> TaskError {
        TaskError {
            key: key.clone(),
            function: function.to_string(),
            kind: TaskErrorKind::UnknownFunction,
            message: format!(
                "no connected worker knows the function '{function}' ({} worker(s) connected); \
                 register it with rask::task! and run a worker binary that links it",
                self.workers.len()
            ),
        }
    }

    /// A client wants a key the scheduler already tracks.
    pub(super) fn want_existing(&mut self, client: ClientId, key: &Key, out: &mut impl Outbox) {
        let t = self.tasks.get_mut(key).expect("caller checked");
        if !t.wanted_by.contains(&client) {
            t.wanted_by.push(client);
        }
        match &t.state {
            TaskState::Memory { .. } => self.notify_memory(key, Some(client), None, out),
            TaskState::Erred(e) => {
                let e = (**e).clone();
                out.to_client(client, ToClient::Erred(e));
            }
            TaskState::Released => self.ensure_computed(key, out),
            _ => {}
        }
    }

    /// Makes sure a key will be computed: every released task in its lineage is started,
    /// dependencies first.
    pub(super) fn ensure_computed(&mut self, root: &Key, out: &mut impl Outbox) {
        if self.recovering_until.is_some() {
            return; // computed when the recovery window ends, unless a worker brings it back
        }
        let mut stack = vec![(root.clone(), false)];
        while let Some((key, expanded)) = stack.pop() {
            let Some(t) = self.tasks.get(&key) else {
                continue;
            };
            if !matches!(t.state, TaskState::Released) {
                continue;
            }
            if expanded {
                self.make_runnable(&key, out);
                continue;
            }
            stack.push((key.clone(), true));
            for dep in &t.deps {
                if matches!(
                    self.tasks.get(dep).map(|d| &d.state),
                    Some(TaskState::Released)
                ) {
                    stack.push((dep.clone(), false));
                }
            }
        }
    }

    /// A released task whose released dependencies were already started: wait or schedule.
    fn make_runnable(&mut self, key: &Key, out: &mut impl Outbox) {
        let t = &self.tasks[key];
        if t.function.is_none() {
            let error = TaskError {
                key: key.clone(),
                function: "scatter".into(),
                kind: TaskErrorKind::LostData,
                message:
                    "scattered data was lost with its worker and has no lineage to recompute it"
                        .into(),
            };
            self.err_task(key, error, out);
            return;
        }
        let mut missing = 0;
        for dep in &t.deps {
            match self.tasks.get(dep).map(|d| &d.state) {
                Some(TaskState::Memory { .. }) => {}
                Some(TaskState::Erred(e)) => {
                    let error = TaskError {
                        key: key.clone(),
                        function: t.function_name().to_string(),
                        kind: TaskErrorKind::DependencyFailed(dep.clone()),
                        message: e.message.clone(),
                    };
                    self.err_task(key, error, out);
                    return;
                }
                Some(_) => missing += 1,
                None => {
                    let error = TaskError {
                        key: key.clone(),
                        function: t.function_name().to_string(),
                        kind: TaskErrorKind::DependencyFailed(dep.clone()),
                        message: format!("dependency {dep} was forgotten"),
                    };
                    self.err_task(key, error, out);
                    return;
                }
            }
        }
        if missing == 0 {
            self.schedule(key, out);
        } else {
            self.tasks.get_mut(key).expect("present").state = TaskState::Waiting { missing };
        }
    }

    /// Assigns a ready task to a worker (or parks it until one connects).
    pub(super) fn schedule(&mut self, key: &Key, out: &mut impl Outbox) {
        let t = &self.tasks[key];
        let function = t.function.clone().unwrap_or_else(|| Arc::from("scatter"));
        // Each input's bytes are shared among the tasks that read it: a value read by many
        // tasks is fetched once per worker and then kept there as a replica, so moving it
        // costs each reader only its share, while an input read by this task alone costs its
        // full size (a block product goes where its one-use block is, not its shared one).
        let mut inputs = Vec::with_capacity(t.deps.len());
        for dep in &t.deps {
            if let Some(Task {
                state: TaskState::Memory { who_has },
                nbytes,
                dependents,
                ..
            }) = self.tasks.get(dep).map(|t| &**t)
            {
                let share = *nbytes / dependents.len().max(1) as u64;
                inputs.push((share, who_has.as_slice()));
            }
        }
        let choice = self.policy.choose(
            &Candidate {
                function: &function,
                restrict: &t.restrict,
                inputs,
            },
            &self.workers,
        );
        let Some(worker) = choice else {
            let t = &self.tasks[key];
            if self.workers.is_empty() {
                self.tasks.get_mut(key).expect("present").state = TaskState::NoWorker;
            } else if !t.restrict.is_empty() {
                // Its workers may join later (Dask keeps such tasks waiting too).
                self.tasks.get_mut(key).expect("present").state = TaskState::NoWorker;
            } else {
                let error = self.unknown_function(key, &function);
                self.err_task(key, error, out);
            }
            return;
        };
        let t = &self.tasks[key];
        if t.deps.is_empty() && !self.has_room(&self.workers[&worker], &function) {
            self.enqueue(key);
            return;
        }
        self.assign(key, worker, out);
    }

    /// Sends a ready task to `worker`.
    pub(super) fn assign(&mut self, key: &Key, worker: WorkerId, out: &mut impl Outbox) {
        let t = &self.tasks[key];
        let function = t.function.clone().unwrap_or_else(|| Arc::from("scatter"));
        let deps = t
            .deps
            .iter()
            .map(|dep| DepLocation {
                key: dep.clone(),
                holders: match self.tasks.get(dep).map(|d| &d.state) {
                    Some(TaskState::Memory { who_has }) => who_has
                        .iter()
                        .map(|w| (*w, self.workers[w].store_addr.clone()))
                        .collect(),
                    _ => Vec::new(),
                },
            })
            .collect();
        let t = self.tasks.get_mut(key).expect("present");
        t.attempt += 1;
        t.state = TaskState::Processing { worker };
        let msg = ComputeMsg {
            key: key.clone(),
            attempt: Attempt(t.attempt),
            function,
            args: t.args.clone(),
            deps,
            priority: t.priority,
        };
        self.workers
            .get_mut(&worker)
            .expect("chosen from workers")
            .processing
            .insert(key.clone());
        if self.config.zero_worker {
            self.zero_done.push((worker, key.clone(), msg.attempt.0));
        } else {
            out.to_worker(worker, ToWorker::Compute(msg));
        }
    }

    /// Schedules every task that was waiting for a worker to connect.
    pub(super) fn schedule_no_worker(&mut self, out: &mut impl Outbox) {
        let mut parked: Vec<Key> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.state, TaskState::NoWorker))
            .map(|(k, _)| k.clone())
            .collect();
        parked.sort();
        for key in parked {
            self.schedule(&key, out);
        }
    }

    /// Tells clients that want `key` (or only `only`) where its result is.
    pub(super) fn notify_memory(
        &self,
        key: &Key,
        only: Option<ClientId>,
        value: Option<Bytes>,
        out: &mut impl Outbox,
    ) {
        let t = &self.tasks[key];
        let TaskState::Memory { who_has } = &t.state else {
            return;
        };
        let worker = who_has[0];
        let msg = InMemoryMsg {
            key: key.clone(),
            worker,
            addr: self.workers[&worker].store_addr.clone(),
            nbytes: t.nbytes,
            value,
        };
        match only {
            Some(c) => out.to_client(c, ToClient::InMemory(msg)),
            None => {
                for c in &t.wanted_by {
                    out.to_client(*c, ToClient::InMemory(msg.clone()));
                }
            }
        }
    }

    /// A worker reports a finished attempt.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finished(
        &mut self,
        worker: WorkerId,
        key: Key,
        attempt: Attempt,
        nbytes: u64,
        value: Option<Bytes>,
        duration_us: u64,
        out: &mut impl Outbox,
    ) {
        let current = self.tasks.get_mut(&key).filter(|t| {
            matches!(t.state, TaskState::Processing { worker: w } if w == worker)
                && t.attempt == attempt.0
        });
        let Some(t) = current else {
            let holds = self
                .workers
                .get(&worker)
                .is_some_and(|w| w.has.contains_key(&key));
            if !holds {
                tracing::debug!(%key, %worker, "stale result dropped");
                out.to_worker(worker, ToWorker::Free(vec![key]));
            }
            return;
        };
        t.state = TaskState::Memory {
            who_has: vec![worker],
        };
        t.nbytes = nbytes;
        t.suspicious = 0;
        if let Some(f) = &t.function {
            self.durations.record(f, duration_us);
        }
        let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
        let deps = t.deps.clone();
        let w = self
            .workers
            .get_mut(&worker)
            .expect("current task's worker");
        w.processing.remove(&key);
        w.has.insert(key.clone(), nbytes);
        w.nbytes += nbytes;
        self.notify_memory(&key, None, value, out);
        self.dependency_arrived(&dependents, out);
        self.release_unneeded(deps.into_iter().chain(std::iter::once(key)), out);
        self.worker_freed(worker, out);
    }

    pub(super) fn dependency_arrived(&mut self, dependents: &[Key], out: &mut impl Outbox) {
        let mut ready = Vec::new();
        for d in dependents {
            if let Some(t) = self.tasks.get_mut(d) {
                if let TaskState::Waiting { missing } = &mut t.state {
                    *missing -= 1;
                    if *missing == 0 {
                        ready.push((std::cmp::Reverse(t.priority), d));
                    }
                }
            }
        }
        ready.sort_by_key(|(p, _)| *p);
        for (_, d) in ready {
            self.schedule(d, out);
        }
    }

    /// Client values placed straight into a worker's data-store.
    pub(super) fn scattered(&mut self, client: ClientId, msg: ScatteredMsg, out: &mut impl Outbox) {
        let ScatteredMsg { worker, keys } = msg;
        if !self.workers.contains_key(&worker) {
            return;
        }
        for (key, nbytes) in keys {
            if let Some(c) = self.clients.get_mut(&client) {
                c.wants.insert(key.clone());
            }
            let t = self.tasks.entry(key.clone()).or_insert_with(|| {
                Box::new(Task {
                    function: None,
                    args: Vec::new(),
                    deps: Vec::new(),
                    dependents: Default::default(),
                    wanted_by: Vec::new(),
                    state: TaskState::Released,
                    attempt: 0,
                    retries_left: 0,
                    priority: 0,
                    nbytes,
                    suspicious: 0,
                    restrict: Vec::new(),
                })
            });
            if !t.wanted_by.contains(&client) {
                t.wanted_by.push(client);
            }
            match &mut t.state {
                TaskState::Memory { who_has } => {
                    if !who_has.contains(&worker) {
                        who_has.push(worker);
                    }
                }
                TaskState::Released => {
                    t.state = TaskState::Memory {
                        who_has: vec![worker],
                    };
                    t.nbytes = nbytes;
                }
                _ => {
                    out.to_worker(worker, ToWorker::Free(vec![key.clone()]));
                    continue;
                }
            }
            let w = self.workers.get_mut(&worker).expect("checked");
            if w.has.insert(key.clone(), nbytes).is_none() {
                w.nbytes += nbytes;
            }
            let dependents: Vec<Key> = self.tasks[&key].dependents.iter().cloned().collect();
            self.notify_memory(&key, Some(client), None, out);
            self.dependency_arrived(&dependents, out);
        }
    }

    /// A worker now holds copies of values it fetched for a task: record it as a holder of
    /// each one still in memory, so later readers can be placed there; copies of keys that
    /// were released (or recomputed elsewhere meanwhile) are freed on it.
    pub(super) fn replicated(
        &mut self,
        worker: WorkerId,
        keys: Vec<(Key, u64)>,
        out: &mut impl Outbox,
    ) {
        let mut unwanted = Vec::new();
        for (key, nbytes) in keys {
            let held = match self.tasks.get_mut(&key).map(|t| &mut t.state) {
                Some(TaskState::Memory { who_has }) => {
                    if !who_has.contains(&worker) {
                        who_has.push(worker);
                    }
                    true
                }
                _ => false,
            };
            if !held {
                unwanted.push(key);
                continue;
            }
            let w = self.workers.get_mut(&worker).expect("caller checked");
            if w.has.insert(key, nbytes).is_none() {
                w.nbytes += nbytes;
            }
        }
        if !unwanted.is_empty() {
            out.to_worker(worker, ToWorker::Free(unwanted));
        }
    }
}
