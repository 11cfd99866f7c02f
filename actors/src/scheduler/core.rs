//! The scheduler's pure core: a state struct fed events (`on_*` methods), emitting messages
//! into an [`Outbox`]. No sockets, no clock: time comes in as `now`.

use super::policy::{LocalityThenOccupancy, Placement};
use super::state::{Client, Task, TaskState, Worker};
use rask_protocol::{
    ClientId, ClusterInfo, FromClient, FromWorker, Key, Reply, TaskSpec, ToClient, ToWorker,
    WorkerHello, WorkerId, WorkerInfo,
};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Where the core's messages go. The actor flushes it to sockets; tests record it.
pub trait Outbox {
    /// Queue a message for a worker.
    fn to_worker(&mut self, worker: WorkerId, msg: ToWorker);
    /// Queue a message for a client.
    fn to_client(&mut self, client: ClientId, msg: ToClient);
}

/// Tunables of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The scheduler's name (reported in cluster info).
    pub name: String,
    /// A worker silent for this long is removed.
    pub worker_ttl: Duration,
    /// A client silent for this long is removed and its keys released.
    pub client_ttl: Duration,
    /// A task that was running on more than this many dying workers is erred.
    pub allowed_failures: u32,
    /// Complete tasks at assignment without running them (the "zero worker" mode of the
    /// rsds/HyperQueue studies: measures runtime overhead only; results have no values).
    pub zero_worker: bool,
    /// Queue ready root tasks on the scheduler, sending each worker only enough to keep its
    /// threads busy for about this long (judged from the function's past run times).
    /// `None` sends every ready task at once.
    pub queue_target: Option<Duration>,
    /// After a restart from a journal: how long to wait for workers to report the results
    /// they hold before computing what is missing.
    pub recovery_window: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            name: "rask-scheduler".into(),
            worker_ttl: Duration::from_secs(10),
            client_ttl: Duration::from_secs(30),
            allowed_failures: 3,
            zero_worker: false,
            queue_target: Some(Duration::from_millis(2)),
            recovery_window: Duration::from_secs(5),
        }
    }
}

/// The scheduler state machine.
pub struct Core {
    pub(super) config: CoreConfig,
    /// Boxed: the table stays small (a pointer per bucket) however large a task record is.
    pub(super) tasks: HashMap<Key, Box<Task>>,
    /// Function names, interned: a million tasks of one function share one string.
    pub(super) names: rustc_hash::FxHashSet<std::sync::Arc<str>>,
    pub(super) workers: BTreeMap<WorkerId, Worker>,
    pub(super) clients: HashMap<ClientId, Client>,
    pub(super) policy: Box<dyn Placement>,
    /// Zero-worker mode: assignments completed at the end of the current event.
    pub(super) zero_done: Vec<(WorkerId, Key, u32)>,
    /// Ready tasks waiting for room on a worker (and retries waiting out their back-off).
    pub(super) queue: super::queue::ReadyQueue,
    /// Past run times per function.
    pub(super) durations: super::queue::Durations,
    /// Steal requests in flight, by task.
    pub(super) stealing: HashMap<Key, super::steal::Steal>,
    /// The time of the event being handled.
    pub(super) now: Instant,
    /// When idle workers last looked for work to steal.
    pub(super) last_balance: Instant,
    /// Set during the recovery window after a restart: nothing is computed until then.
    pub(super) recovering_until: Option<Instant>,
    /// Clients removed since the actor last asked (for the journal).
    gone_clients: Vec<ClientId>,
    /// Stand-ins for the clients of a journal (see [`super::recovery`]).
    pub(super) stand_ins: rustc_hash::FxHashSet<ClientId>,
    /// After a restart: the workers that were connected before it (see [`super::recovery`]).
    pub(super) expected_workers: Vec<String>,
    /// Set when a worker joins or leaves (for the journal).
    workers_changed: bool,
    /// Queues, locks, events, topics and datasets (see [`super::coord`]).
    pub(super) coord: super::coord::Coord,
    last_tick: Option<Instant>,
    next_worker: u32,
    next_client: u32,
}

impl Core {
    /// A core with the default placement policy.
    pub fn new(config: CoreConfig) -> Self {
        Core {
            config,
            tasks: HashMap::default(),
            workers: BTreeMap::new(),
            clients: HashMap::default(),
            policy: Box::new(LocalityThenOccupancy),
            zero_done: Vec::new(),
            queue: Default::default(),
            durations: Default::default(),
            stealing: HashMap::default(),
            now: Instant::now(),
            last_balance: Instant::now(),
            recovering_until: None,
            gone_clients: Vec::new(),
            stand_ins: Default::default(),
            expected_workers: Vec::new(),
            workers_changed: false,
            coord: Default::default(),
            names: Default::default(),
            last_tick: None,
            next_worker: 1,
            next_client: 1,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Number of tracked tasks.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The state of a key, if tracked.
    pub fn task_state(&self, key: &Key) -> Option<&TaskState> {
        self.tasks.get(key).map(|t| &t.state)
    }

    /// Number of connected workers.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Ids of connected workers.
    pub fn worker_ids(&self) -> Vec<WorkerId> {
        self.workers.keys().copied().collect()
    }

    /// A worker registered (handshake accepted).
    pub fn add_worker(
        &mut self,
        name: String,
        hello: &WorkerHello,
        now: Instant,
        out: &mut impl Outbox,
    ) -> WorkerId {
        self.now = now;
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        let mut worker = Worker {
            name,
            store_addr: hello.store_addr.as_str().into(),
            nthreads: hello.nthreads.max(1),
            functions: hello.functions.iter().cloned().collect(),
            processing: Default::default(),
            seceded: Default::default(),
            has: HashMap::default(),
            nbytes: 0,
            last_seen: now,
        };
        // Keys it already holds (it outlived a scheduler restart): keep those we track and
        // still need, free the rest.
        let mut stale = Vec::new();
        let mut adopt = Vec::new();
        for (key, nbytes) in &hello.held {
            match self.tasks.get_mut(key) {
                Some(t) if matches!(t.state, TaskState::Memory { .. }) => {
                    if let TaskState::Memory { who_has } = &mut t.state {
                        who_has.push(id);
                    }
                    worker.has.insert(key.clone(), *nbytes);
                    worker.nbytes += nbytes;
                }
                Some(_) => adopt.push((key.clone(), *nbytes)),
                None => stale.push(key.clone()),
            }
        }
        self.workers.insert(id, worker);
        // Results we track but had lost (or not yet recovered after a restart): take them.
        for (key, nbytes) in adopt {
            if !self.adopt_held(id, &key, nbytes, out) {
                stale.push(key);
            }
        }
        if !stale.is_empty() {
            out.to_worker(id, ToWorker::Free(stale));
        }
        self.workers_changed = true;
        self.maybe_end_recovery(out);
        self.schedule_no_worker(out);
        self.fill_worker(id, out);
        self.complete_zero(out);
        id
    }

    /// A worker left (disconnect, goodbye, or missed heartbeats): reschedule what it ran and
    /// recompute what only it held and is still needed.
    pub fn remove_worker(&mut self, id: WorkerId, out: &mut impl Outbox) {
        let Some(worker) = self.workers.remove(&id) else {
            return;
        };
        tracing::info!(worker = %id, name = %worker.name, "worker removed");
        self.workers_changed = true;
        self.forget_steals_of(id);
        let mut lost = Vec::new();
        for key in worker.has.keys() {
            if let Some(t) = self.tasks.get_mut(key) {
                if let TaskState::Memory { who_has } = &mut t.state {
                    who_has.retain(|w| *w != id);
                    if who_has.is_empty() {
                        lost.push(key.clone());
                    }
                }
            }
        }
        for key in &lost {
            self.lose(key);
        }
        let mut running = self.seceded_running(id, &worker.seceded);
        running.extend(worker.processing);
        running.sort();
        running.dedup();
        for key in running {
            self.worker_died_running(&key, out);
        }
        self.after_loss(&lost, out);
        self.fill_all(out);
    }

    /// A client connected.
    pub fn add_client(&mut self, name: String, now: Instant) -> ClientId {
        let id = ClientId(self.next_client);
        self.next_client += 1;
        self.clients.insert(
            id,
            Client {
                name,
                wants: Default::default(),
                last_seen: now,
            },
        );
        id
    }

    /// A client left: everything it wanted is released.
    pub fn remove_client(&mut self, id: ClientId, out: &mut impl Outbox) {
        let Some(client) = self.clients.remove(&id) else {
            return;
        };
        self.gone_clients.push(id);
        self.stand_ins.remove(&id);
        self.coord_client_gone(id, out);
        let keys: Vec<Key> = client.wants.into_iter().collect();
        for key in keys {
            self.unwant(id, &key, out);
        }
    }

    /// The connected workers' names if the set changed since the last call.
    pub fn take_worker_change(&mut self) -> Option<Vec<String>> {
        if !std::mem::take(&mut self.workers_changed) {
            return None;
        }
        let mut names: Vec<String> = self.workers.values().map(|w| w.name.clone()).collect();
        names.sort();
        Some(names)
    }

    /// Clients removed since the last call (goodbye, disconnect or silence).
    pub fn take_gone_clients(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.gone_clients)
    }

    /// A message from a client.
    pub fn on_client_msg(
        &mut self,
        client: ClientId,
        msg: FromClient,
        now: Instant,
        out: &mut impl Outbox,
    ) {
        self.now = now;
        match self.clients.get_mut(&client) {
            Some(c) => c.last_seen = now,
            None => return,
        }
        match msg {
            FromClient::Submit(specs) => self.submit(client, specs, out),
            FromClient::Release(keys) | FromClient::Cancel(keys) => {
                for key in keys {
                    if let Some(c) = self.clients.get_mut(&client) {
                        c.wants.remove(&key);
                    }
                    self.unwant(client, &key, out);
                }
            }
            FromClient::Scattered(msg) => self.scattered(client, msg, out),
            FromClient::MissingData { key, worker } => {
                self.missing_on(&key, worker, out);
            }
            FromClient::WhoHas { req, keys } => {
                let answer = keys
                    .into_iter()
                    .map(|k| {
                        let (holders, nbytes) = match self.tasks.get(&k).map(|t| &**t) {
                            Some(Task {
                                state: TaskState::Memory { who_has },
                                nbytes,
                                ..
                            }) => (who_has.clone(), *nbytes),
                            _ => (Vec::new(), 0),
                        };
                        (k, holders, nbytes)
                    })
                    .collect();
                out.to_client(
                    client,
                    ToClient::Reply {
                        req,
                        reply: Reply::WhoHas(answer),
                    },
                );
            }
            FromClient::Info { req } => {
                let info = self.info();
                out.to_client(
                    client,
                    ToClient::Reply {
                        req,
                        reply: Reply::Info(info),
                    },
                );
            }
            FromClient::Heartbeat => {}
            FromClient::Goodbye => self.remove_client(client, out),
            FromClient::Resume(keys) => self.resume(client, keys, out),
            FromClient::Coord { req, op } => self.on_coord(client, req, op, out),
        }
        self.complete_zero(out);
    }

    /// Zero-worker mode: completes every assignment made during this event (a worklist, so
    /// chains of any length finish without recursion).
    fn complete_zero(&mut self, out: &mut impl Outbox) {
        while let Some((worker, key, attempt)) = self.zero_done.pop() {
            self.finished(
                worker,
                key,
                rask_protocol::Attempt(attempt),
                0,
                None,
                0,
                out,
            );
        }
    }

    /// A message from a worker.
    pub fn on_worker_msg(
        &mut self,
        worker: WorkerId,
        msg: FromWorker,
        now: Instant,
        out: &mut impl Outbox,
    ) {
        self.now = now;
        match self.workers.get_mut(&worker) {
            Some(w) => w.last_seen = now,
            None => return,
        }
        match msg {
            FromWorker::Finished {
                key,
                attempt,
                nbytes,
                duration_us,
            } => self.finished(worker, key, attempt, nbytes, None, duration_us, out),
            FromWorker::FinishedInline {
                key,
                attempt,
                value,
                duration_us,
            } => {
                let n = value.len() as u64;
                self.finished(worker, key, attempt, n, Some(value), duration_us, out)
            }
            FromWorker::StealReply {
                key,
                attempt,
                stolen,
            } => self.steal_reply(worker, key, attempt, stolen, out),
            FromWorker::Failed { attempt, error } => self.failed(worker, attempt, error, out),
            FromWorker::MissingDeps {
                key,
                attempt,
                missing,
            } => {
                for (dep, holder) in &missing {
                    self.missing_on(dep, *holder, out);
                }
                self.retry_after_missing(worker, &key, attempt, out);
            }
            FromWorker::Heartbeat(_) => {}
            FromWorker::Goodbye => self.remove_worker(worker, out),
            FromWorker::Seceded { key, attempt } => self.on_seceded(worker, key, attempt, out),
            FromWorker::Replicated(keys) => self.replicated(worker, keys, out),
        }
        self.complete_zero(out);
    }

    /// Periodic check: removes workers and clients silent for longer than their TTL.
    /// Returns the removed workers so the actor can drop their connections.
    ///
    /// If the scheduler itself stalled (a tick came much later than due, e.g. while it
    /// digested a huge graph), everyone's silence is forgiven once: their heartbeats are
    /// probably waiting unread.
    pub fn on_tick(&mut self, now: Instant, out: &mut impl Outbox) -> Vec<WorkerId> {
        self.now = now;
        self.shrink_idle_tables();
        self.sweep_queue();
        self.maybe_end_recovery(out);
        self.release_due(out);
        self.fill_all(out);
        self.balance(out);
        self.coord_tick(now, out);
        self.complete_zero(out);
        let ttl = self.config.worker_ttl;
        let stalled = self
            .last_tick
            .is_some_and(|t| now.saturating_duration_since(t) > ttl / 4);
        self.last_tick = Some(now);
        if stalled {
            tracing::warn!("scheduler was busy for a while; extending every heartbeat deadline");
            self.workers.values_mut().for_each(|w| w.last_seen = now);
            self.clients.values_mut().for_each(|c| c.last_seen = now);
            return Vec::new();
        }
        let dead: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.last_seen) > ttl)
            .map(|(id, _)| *id)
            .collect();
        for id in &dead {
            tracing::warn!(worker = %id, "no heartbeat within {:?}", ttl);
            self.remove_worker(*id, out);
        }
        let cttl = self.config.client_ttl;
        let gone: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(id, c)| {
                **id != super::coord::HOLDER && now.saturating_duration_since(c.last_seen) > cttl
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            tracing::warn!(client = %id, "client silent for {:?}; releasing its keys", cttl);
            self.remove_client(id, out);
        }
        dead
    }

    /// Gives back table capacity left over from a big graph once it is mostly gone, so memory
    /// is flat again after the work.
    fn shrink_idle_tables(&mut self) {
        fn shrink(len: usize, cap: usize, f: impl FnOnce()) {
            if cap > 1024 && cap > 4 * len {
                f();
            }
        }
        shrink(self.tasks.len(), self.tasks.capacity(), || {
            self.tasks.shrink_to_fit()
        });
        for w in self.workers.values_mut() {
            shrink(w.has.len(), w.has.capacity(), || w.has.shrink_to_fit());
            shrink(w.processing.len(), w.processing.capacity(), || {
                w.processing.shrink_to_fit()
            });
        }
        for c in self.clients.values_mut() {
            shrink(c.wants.len(), c.wants.capacity(), || {
                c.wants.shrink_to_fit()
            });
        }
    }

    /// A snapshot of the cluster.
    pub fn info(&self) -> ClusterInfo {
        ClusterInfo {
            scheduler: self.config.name.clone(),
            workers: self
                .workers
                .iter()
                .map(|(id, w)| WorkerInfo {
                    id: *id,
                    name: w.name.clone(),
                    store_addr: w.store_addr.to_string(),
                    nthreads: w.nthreads,
                    processing: w.processing.len() as u32,
                    keys: w.has.len() as u64,
                    nbytes: w.nbytes,
                })
                .collect(),
            tasks: self.tasks.len() as u64,
            zero_worker: self.config.zero_worker,
        }
    }

    /// A reconnected client still holds futures for `keys`: want them again, or tell it which
    /// ones this scheduler does not know.
    fn resume(&mut self, client: ClientId, keys: Vec<Key>, out: &mut impl Outbox) {
        for key in keys {
            if self.tasks.contains_key(&key) {
                if let Some(c) = self.clients.get_mut(&client) {
                    c.wants.insert(key.clone());
                }
                self.want_existing(client, &key, out);
                self.take_over_from_stand_ins(&key, out);
            } else {
                let error = rask_protocol::TaskError {
                    key: key.clone(),
                    function: String::new(),
                    kind: rask_protocol::TaskErrorKind::LostData,
                    message: "the scheduler restarted and does not know this key (it has no \
                              journal of it); submit the work again"
                        .into(),
                };
                out.to_client(client, ToClient::Erred(error));
            }
        }
    }

    fn submit(&mut self, client: ClientId, specs: Vec<TaskSpec>, out: &mut impl Outbox) {
        let mut new_keys = Vec::with_capacity(specs.len());
        for spec in specs {
            if spec.wanted {
                if let Some(c) = self.clients.get_mut(&client) {
                    c.wants.insert(spec.key.clone());
                }
            }
            if self.tasks.contains_key(&spec.key) {
                if spec.wanted {
                    self.want_existing(client, &spec.key, out);
                }
                continue;
            }
            let key = spec.key.clone();
            self.insert_task(client, spec);
            new_keys.push(key);
        }
        for key in &new_keys {
            self.link_dependencies(key);
        }
        for key in &new_keys {
            self.start_new(key, out);
        }
        // New tasks that nobody needs (no client, no pending dependent) are culled.
        self.release_unneeded(new_keys.into_iter(), out);
    }
}
