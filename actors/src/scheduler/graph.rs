//! Task-state transitions of the core: computing what is needed, scheduling, finishing,
//! failing, losing data, releasing and forgetting. Worklists, not recursion, so graphs of any
//! depth are safe.

use super::core::{Core, Outbox};
use super::policy::Candidate;
use super::state::{Task, TaskState};
use bytes::Bytes;
use rask_protocol::{
    Attempt, ClientId, ComputeMsg, DepLocation, InMemoryMsg, Key, ScatteredMsg, TaskError,
    TaskErrorKind, TaskSpec, ToClient, ToWorker, WorkerId,
};

impl Core {
    /// Records a new task (state `Released`); [`Core::link_dependencies`] links it once the
    /// whole batch is in, so a graph may list its tasks in any order.
    pub(super) fn insert_task(&mut self, client: ClientId, spec: TaskSpec) {
        let mut deps: Vec<Key> = Vec::new();
        for dep in spec.dependencies() {
            if !deps.contains(dep) {
                deps.push(dep.clone());
            }
        }
        let task = Task {
            function: Some(self.intern(&spec.function)),
            args: spec.args,
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
        let deps = self.tasks[key].deps.clone();
        for dep in deps {
            if let Some(d) = self.tasks.get_mut(&dep) {
                d.dependents.insert(key.clone());
            }
        }
    }

    /// Validates a just-inserted task and, when a client wants it, starts computing it.
    pub(super) fn start_new(&mut self, key: &Key, out: &mut impl Outbox) {
        let Some(t) = self.tasks.get(key) else { return };
        if !matches!(t.state, TaskState::Released) {
            return;
        }
        let function = t.function_name().to_string();
        if let Some(dep) = t.deps.iter().find(|d| !self.tasks.contains_key(*d)) {
            let error = TaskError {
                key: key.clone(),
                function,
                kind: TaskErrorKind::DependencyFailed(dep.clone()),
                message: format!(
                    "dependency {dep} is not known to the scheduler (was it released?)"
                ),
            };
            self.err_task(key, error, out);
            return;
        }
        if !self.workers.is_empty()
            && !self
                .workers
                .values()
                .any(|w| w.functions.contains(&function))
        {
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
        let function = t.function_name().to_string();
        let mut inputs = Vec::with_capacity(t.deps.len());
        for dep in &t.deps {
            if let Some(Task {
                state: TaskState::Memory { who_has },
                nbytes,
                ..
            }) = self.tasks.get(dep).map(|t| &**t)
            {
                inputs.push((*nbytes, who_has.as_slice()));
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
    pub(super) fn finished(
        &mut self,
        worker: WorkerId,
        key: Key,
        attempt: Attempt,
        nbytes: u64,
        value: Option<Bytes>,
        out: &mut impl Outbox,
    ) {
        let current = matches!(
            self.tasks.get(&key),
            Some(t) if t.state == TaskState::Processing { worker } && t.attempt == attempt.0
        );
        if !current {
            let holds = self
                .workers
                .get(&worker)
                .is_some_and(|w| w.has.contains_key(&key));
            if !holds {
                tracing::debug!(%key, %worker, "stale result dropped");
                out.to_worker(worker, ToWorker::Free(vec![key]));
            }
            return;
        }
        let w = self
            .workers
            .get_mut(&worker)
            .expect("current task's worker");
        w.processing.remove(&key);
        w.has.insert(key.clone(), nbytes);
        w.nbytes += nbytes;
        let t = self.tasks.get_mut(&key).expect("current");
        t.state = TaskState::Memory {
            who_has: vec![worker],
        };
        t.nbytes = nbytes;
        t.suspicious = 0;
        let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
        let deps = t.deps.clone();
        self.notify_memory(&key, None, value, out);
        self.dependency_arrived(&dependents, out);
        self.release_unneeded(deps.into_iter().chain(std::iter::once(key)), out);
    }

    fn dependency_arrived(&mut self, dependents: &[Key], out: &mut impl Outbox) {
        let mut ready = Vec::new();
        for d in dependents {
            if let Some(t) = self.tasks.get_mut(d) {
                if let TaskState::Waiting { missing } = &mut t.state {
                    *missing -= 1;
                    if *missing == 0 {
                        ready.push(d.clone());
                    }
                }
            }
        }
        ready.sort_by_key(|k| std::cmp::Reverse(self.tasks[k].priority));
        for d in ready {
            self.schedule(&d, out);
        }
    }

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
            t.state = TaskState::Released;
            self.ensure_computed(&key, out);
        } else {
            self.err_task(&key, error, out);
        }
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

    /// A key's last holder is gone: back to released, and dependents waiting on it wait again.
    pub(super) fn lose(&mut self, key: &Key) {
        let t = self.tasks.get_mut(key).expect("caller found it");
        t.state = TaskState::Released;
        let dependents: Vec<Key> = t.dependents.iter().cloned().collect();
        for d in dependents {
            if let Some(TaskState::Waiting { missing }) =
                self.tasks.get_mut(&d).map(|t| &mut t.state)
            {
                *missing += 1;
            }
        }
    }

    /// After keys were lost: recompute the ones still needed, forget the rest.
    pub(super) fn after_loss(&mut self, lost: &[Key], out: &mut impl Outbox) {
        for key in lost {
            if self.is_needed(key) {
                self.ensure_computed(key, out);
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

    /// A client dropped its interest in `key`.
    pub(super) fn unwant(&mut self, client: ClientId, key: &Key, out: &mut impl Outbox) {
        if let Some(t) = self.tasks.get_mut(key) {
            t.wanted_by.retain(|c| *c != client);
            self.release_unneeded(std::iter::once(key.clone()), out);
        }
    }

    /// Needed: some client wants it, or a pending task depends on it.
    pub(super) fn is_needed(&self, key: &Key) -> bool {
        let Some(t) = self.tasks.get(key) else {
            return false;
        };
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
        while let Some(key) = work.pop() {
            let Some(t) = self.tasks.get(&key) else {
                continue;
            };
            if self.is_needed(&key) {
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
                    cascade = true;
                }
                TaskState::Waiting { .. } | TaskState::NoWorker => cascade = true,
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
    }
}
