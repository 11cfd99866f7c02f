//! The worker actor: registers with the scheduler, receives tasks, runs them on the compute
//! pool, keeps results in its data-store, heartbeats, and reconnects with backoff when the
//! scheduler goes away.

use super::admit::{self, Admission};
use super::connect::{advertised, connect_with_backoff, worker_hello};
use super::fetch::gather_args;
use super::pool::{ComputePool, Job};
use super::registry::Registry;
use crate::datastore::{self, DataStore, Free, Held, MemoryConfig, Put, SetPoolHook, Stats};
use crate::transport::dealer::{self, DealerEvent, DealerSender};
use crate::transport::store_client::StorePool;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use futures::StreamExt;
use rask_protocol::{
    decode_batch, encode_batch, Attempt, ComputeMsg, FromWorker, Key, TaskError, TaskErrorKind,
    ToWorker, WorkerHeartbeat, WorkerId,
};
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Results up to this size travel with the completion message, so the client needs no
/// separate fetch (larger ones are fetched straight from the data-store).
pub const INLINE_LIMIT: usize = 1024;

/// How a worker is set up.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Scheduler address, `tcp://host:port`.
    pub scheduler: String,
    /// Worker name (defaults to the data-store address).
    pub name: Option<String>,
    /// Compute threads.
    pub nthreads: usize,
    /// Where the data-store binds, `tcp://host:port` (port 0 for any).
    pub listen: String,
    /// Host to advertise for the data-store when `listen` is a wildcard address.
    pub contact_host: Option<String>,
    /// How long the first connection to the scheduler may take.
    pub connect_timeout: Duration,
    /// Memory limit, spill/pause/terminate thresholds and spill directory.
    pub memory: MemoryConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            scheduler: "tcp://127.0.0.1:8786".into(),
            name: None,
            nthreads: 1,
            listen: "tcp://127.0.0.1:0".into(),
            contact_host: None,
            connect_timeout: Duration::from_secs(10),
            memory: MemoryConfig::default(),
        }
    }
}

/// The worker actor.
pub struct Worker {
    config: WorkerConfig,
    name: String,
    id: Option<WorkerId>,
    scheduler: Option<DealerSender>,
    store: Addr<DataStore>,
    store_addr: String,
    pool: Arc<ComputePool>,
    peers: StorePool,
    /// Attempts assigned and not finished: attempt and function name.
    running: HashMap<Key, (Attempt, Arc<str>, Arc<AtomicBool>)>,
    outbox: Vec<FromWorker>,
    heartbeat: Duration,
    heartbeat_handle: Option<SpawnHandle>,
    flush_queued: bool,
    /// Number of the current scheduler connection.
    generation: u64,
    /// Tasks with dependencies waiting to gather them (see [`admit`]).
    admission: Admission<Box<dyn FnOnce()>>,
}

/// Sends what handlers queued once the mailbox is drained: results finishing together travel
/// to the scheduler as one batch.
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl Handler<Flush> for Worker {
    type Result = ();
    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) {
        self.flush_queued = false;
        self.flush();
    }
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn stopping(&mut self, _ctx: &mut Context<Self>) -> Running {
        self.outbox.push(FromWorker::Goodbye);
        self.flush();
        Running::Stop
    }
}

mod hooks;

/// The outcome of one attempt, from the compute pool.
#[derive(Message)]
#[rtype(result = "()")]
struct JobDone {
    key: Key,
    attempt: Attempt,
    result: super::registry::InvokeResult,
    micros: u64,
    /// Bytes of arguments the attempt held (for admission).
    arg_bytes: u64,
}

/// Dependencies could not be fetched.
#[derive(Message)]
#[rtype(result = "()")]
struct DepsMissing {
    key: Key,
    attempt: Attempt,
    missing: Vec<(Key, WorkerId)>,
}

/// A fresh scheduler connection after a reconnect.
#[derive(Message)]
#[rtype(result = "()")]
struct Reconnected(dealer::Connection);

/// Ask the worker for its id and data-store address.
#[derive(Message)]
#[rtype(result = "(Option<WorkerId>, String)")]
pub struct Describe;

impl Worker {
    /// Starts a data-store and a worker on the current actix arbiter and registers with the
    /// scheduler. Fails when the scheduler cannot be reached within the connect timeout.
    pub async fn start(config: WorkerConfig) -> Result<Addr<Worker>> {
        let scheduler_addr = crate::transport::normalize_addr(&config.scheduler);
        let listen = crate::transport::normalize_addr(&config.listen);
        let provisional = config.name.clone().unwrap_or_else(|| "worker".into());
        let (store, endpoint) =
            DataStore::start(provisional, &listen, config.memory.clone()).await?;
        let store_addr = advertised(&endpoint, config.contact_host.as_deref(), &scheduler_addr);
        let name = config.name.clone().unwrap_or_else(|| store_addr.clone());
        let context = super::context::WorkerContext::new(
            scheduler_addr.clone(),
            super::actors::ActorHost::new(&name),
        );
        store.do_send(datastore::SetActorHost(context.actors().clone()));
        let pool = Arc::new(
            ComputePool::new(&name, config.nthreads, Arc::new(context))
                .map_err(|e| Error::Config(format!("cannot start compute threads: {e}")))?,
        );
        let p = pool.clone();
        store.do_send(SetPoolHook(Arc::new(move |s| {
            p.set_paused(s.paused);
            p.set_release(s.release);
        })));
        let limit = datastore::memory::resolved_limit(&config.memory);
        let admission = Admission::new(admit::limits(config.nthreads, limit));
        let (n, sa, threads) = (name.clone(), store_addr.clone(), config.nthreads);
        let conn = connect_with_backoff(
            &scheduler_addr,
            move || {
                let hello = worker_hello(&n, &sa, threads, vec![]);
                Box::pin(async move { hello })
            },
            Some(config.connect_timeout),
        )
        .await?;
        let id = WorkerId(conn.welcome.id);
        let heartbeat = Duration::from_millis(conn.welcome.heartbeat_ms.max(10) as u64);
        tracing::info!(worker = %id, %name, store = %store_addr, scheduler = %scheduler_addr, "worker registered");
        let peers = StorePool::new(name.clone());
        Ok(Worker::create(move |ctx| {
            ctx.add_stream(conn.events.map(|e| SchedulerEvent(0, e)));
            pool.set_secede_hook(hooks::secede_hook(ctx.address()));
            let mut w = Worker {
                config: WorkerConfig {
                    scheduler: scheduler_addr,
                    ..config
                },
                name,
                id: Some(id),
                scheduler: Some(conn.sender),
                store,
                store_addr,
                pool,
                peers,
                running: HashMap::default(),
                outbox: Vec::new(),
                heartbeat,
                heartbeat_handle: None,
                flush_queued: false,
                generation: 0,
                admission,
            };
            w.start_heartbeat(ctx);
            w
        }))
    }

    fn start_heartbeat(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.heartbeat_handle.take() {
            ctx.cancel_future(h);
        }
        self.heartbeat_handle = Some(ctx.run_interval(self.heartbeat, |w, ctx| {
            let executing = w.pool.executing() as u32;
            w.store
                .send(Stats)
                .into_actor(w)
                .map(move |stats, w, _| {
                    let stats = stats.unwrap_or_default();
                    let (keys, nbytes) = (stats.keys, stats.nbytes());
                    w.outbox.push(FromWorker::Heartbeat(WorkerHeartbeat {
                        keys,
                        nbytes,
                        executing,
                    }));
                    w.flush();
                })
                .wait(ctx);
        }));
    }

    fn flush_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(Flush);
        }
    }

    fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let Some(sched) = &self.scheduler else { return };
        match encode_batch(&self.outbox, vec![]) {
            Ok(frames) => {
                if sched.send(frames) {
                    self.outbox.clear();
                }
            }
            Err(e) => {
                tracing::error!("cannot encode worker messages: {e}");
                self.outbox.clear();
            }
        }
    }

    fn on_message(&mut self, msg: ToWorker, ctx: &mut Context<Self>) {
        match msg {
            ToWorker::Compute(task) => self.compute(task, ctx),
            ToWorker::Free(keys) => {
                self.pool.context().actors().free(&keys);
                self.store.do_send(Free(keys))
            }
            ToWorker::Cancel { key, attempt } => {
                if self
                    .running
                    .get(&key)
                    .is_some_and(|(a, _, _)| *a == attempt)
                {
                    if let Some((_, _, taken)) = self.running.remove(&key) {
                        taken.store(true, Ordering::Release);
                    }
                }
            }
            ToWorker::Rejoin => self.lost_scheduler(ctx, "the scheduler asked to register again"),
            ToWorker::Steal { key, attempt } => {
                let stolen = match self.running.get(&key) {
                    Some((a, _, taken)) if *a == attempt => super::pool::try_take(taken),
                    _ => false,
                };
                if stolen {
                    self.running.remove(&key);
                }
                self.outbox.push(FromWorker::StealReply {
                    key,
                    attempt,
                    stolen,
                });
                self.flush_soon(ctx);
            }
        }
    }

    fn compute(&mut self, task: ComputeMsg, ctx: &mut Context<Self>) {
        let Some(entry) = Registry::global().get(&task.function) else {
            self.outbox.push(FromWorker::Failed {
                attempt: task.attempt,
                error: TaskError {
                    key: task.key.clone(),
                    function: task.function.to_string(),
                    kind: TaskErrorKind::UnknownFunction,
                    message: format!(
                        "worker {} does not know the function '{}'",
                        self.name, task.function
                    ),
                },
            });
            return;
        };
        let taken = Arc::new(AtomicBool::new(false));
        self.running.insert(
            task.key.clone(),
            (task.attempt, task.function.clone(), taken.clone()),
        );
        let me = ctx.address();
        let pool = self.pool.clone();
        let (store, peers, id) = (self.store.clone(), self.peers.clone(), self.id);
        let key = task.key.clone();
        let attempt = task.attempt;
        let priority = task.priority;
        let job = move |args: Vec<Bytes>| {
            let me = me.clone();
            let arg_bytes = args.iter().map(|a| a.len() as u64).sum();
            Job {
                key: key.clone(),
                attempt,
                priority,
                entry,
                args,
                done: Box::new(move |result, micros| {
                    me.do_send(JobDone {
                        key,
                        attempt,
                        result,
                        micros,
                        arg_bytes,
                    })
                }),
                taken,
            }
        };
        if task.deps.is_empty() {
            let args = task
                .args
                .into_iter()
                .filter_map(|a| match a {
                    rask_protocol::Arg::Value(b) => Some(b),
                    rask_protocol::Arg::Key(_) => None,
                })
                .collect();
            pool.submit(job(args));
            return;
        }
        let me = ctx.address();
        let (waiting, attempt) = (task.key.clone(), task.attempt);
        let start = Box::new(move || {
            actix::spawn(async move {
                match gather_args(&task, &store, &peers, id).await {
                    Ok(got) => {
                        if !got.replicated.is_empty() {
                            me.do_send(Replicas(got.replicated));
                        }
                        pool.submit(job(got.args))
                    }
                    Err(missing) => me.do_send(DepsMissing {
                        key: task.key,
                        attempt: task.attempt,
                        missing,
                    }),
                }
            });
        });
        self.admission.push(waiting, attempt, priority, start);
        self.admit();
    }

    /// Starts gathering arguments for admitted tasks still wanted (not cancelled or stolen).
    fn admit(&mut self) {
        while let Some((key, attempt, start)) = self.admission.pop() {
            let wanted = self
                .running
                .get(&key)
                .is_some_and(|(a, _, taken)| *a == attempt && !taken.load(Ordering::Acquire));
            if wanted {
                start();
            } else {
                self.admission.finish(&key, attempt, None);
            }
        }
    }

    fn lost_scheduler(&mut self, ctx: &mut Context<Self>, why: &str) {
        if self.scheduler.take().is_some() {
            tracing::warn!(worker = %self.name, "{why}; reconnecting");
            self.generation += 1;
            // Work for the lost scheduler: a new one reassigns what it still needs.
            for (_, (_, _, taken)) in self.running.drain() {
                taken.store(true, Ordering::Release);
            }
            self.reconnect(ctx);
        }
    }

    fn attach(&mut self, ctx: &mut Context<Self>, conn: dealer::Connection) {
        let generation = self.generation;
        ctx.add_stream(conn.events.map(move |e| SchedulerEvent(generation, e)));
        self.scheduler = Some(conn.sender);
    }

    fn reconnect(&mut self, ctx: &mut Context<Self>) {
        let addr = self.config.scheduler.clone();
        let (store, name, store_addr, threads) = (
            self.store.clone(),
            self.name.clone(),
            self.store_addr.clone(),
            self.config.nthreads,
        );
        let me = ctx.address();
        actix::spawn(async move {
            let hello = move || {
                let (store, name, store_addr) = (store.clone(), name.clone(), store_addr.clone());
                Box::pin(async move {
                    let held = store.send(Held).await.map_err(datastore::mailbox_error)?;
                    worker_hello(&name, &store_addr, threads, held)
                }) as futures::future::BoxFuture<'static, Result<Bytes>>
            };
            match connect_with_backoff(&addr, hello, None).await {
                Ok(conn) => me.do_send(Reconnected(conn)),
                Err(e) => tracing::error!("cannot re-register with the scheduler: {e}"),
            }
        });
    }
}

/// An event of the scheduler connection number `.0` (older connections' events are ignored).
struct SchedulerEvent(u64, DealerEvent);

impl StreamHandler<SchedulerEvent> for Worker {
    fn handle(
        &mut self,
        SchedulerEvent(generation, event): SchedulerEvent,
        ctx: &mut Context<Self>,
    ) {
        if generation != self.generation {
            return;
        }
        match event {
            DealerEvent::Message(frames) => match decode_batch::<ToWorker>(frames) {
                Ok(batch) => {
                    for msg in batch.messages {
                        self.on_message(msg, ctx);
                    }
                    self.flush();
                }
                Err(e) => tracing::warn!("dropping malformed message from the scheduler: {e}"),
            },
            DealerEvent::Disconnected => self.lost_scheduler(ctx, "lost the scheduler"),
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // A stream ends after its Disconnected event; reconnection adds a new one.
    }
}

impl Handler<JobDone> for Worker {
    type Result = ();
    fn handle(&mut self, msg: JobDone, ctx: &mut Context<Self>) {
        if self
            .admission
            .finish(&msg.key, msg.attempt, Some(msg.arg_bytes))
        {
            self.admit();
        }
        let Some((attempt, function, _)) = self.running.get(&msg.key).cloned() else {
            return;
        };
        if attempt != msg.attempt {
            return;
        }
        self.running.remove(&msg.key);
        match msg.result {
            Ok(value) => {
                let nbytes = value.len() as u64;
                self.store.do_send(Put {
                    key: msg.key.clone(),
                    value: value.clone(),
                });
                self.outbox.push(if value.len() <= INLINE_LIMIT {
                    FromWorker::FinishedInline {
                        key: msg.key,
                        attempt,
                        value,
                        duration_us: msg.micros,
                    }
                } else {
                    FromWorker::Finished {
                        key: msg.key,
                        attempt,
                        nbytes,
                        duration_us: msg.micros,
                    }
                });
            }
            Err((kind, message)) => self.outbox.push(FromWorker::Failed {
                attempt,
                error: TaskError {
                    key: msg.key,
                    function: function.to_string(),
                    kind,
                    message,
                },
            }),
        }
        self.flush_soon(ctx);
    }
}

/// Dependencies fetched for a task are now replicas in the data-store: tell the scheduler.
#[derive(Message)]
#[rtype(result = "()")]
struct Replicas(Vec<(Key, u64)>);

impl Handler<Replicas> for Worker {
    type Result = ();
    fn handle(&mut self, msg: Replicas, ctx: &mut Context<Self>) {
        self.outbox.push(FromWorker::Replicated(msg.0));
        self.flush_soon(ctx);
    }
}

impl Handler<DepsMissing> for Worker {
    type Result = ();
    fn handle(&mut self, msg: DepsMissing, _ctx: &mut Context<Self>) {
        if self.admission.finish(&msg.key, msg.attempt, None) {
            self.admit();
        }
        if self
            .running
            .get(&msg.key)
            .is_some_and(|(a, _, _)| *a == msg.attempt)
        {
            self.running.remove(&msg.key);
            self.outbox.push(FromWorker::MissingDeps {
                key: msg.key,
                attempt: msg.attempt,
                missing: msg.missing,
            });
            self.flush();
        }
    }
}

impl Handler<Reconnected> for Worker {
    type Result = ();
    fn handle(&mut self, msg: Reconnected, ctx: &mut Context<Self>) {
        let conn = msg.0;
        self.id = Some(WorkerId(conn.welcome.id));
        self.heartbeat = Duration::from_millis(conn.welcome.heartbeat_ms.max(10) as u64);
        tracing::info!(worker = %self.name, id = conn.welcome.id, "re-registered with the scheduler");
        self.attach(ctx, conn);
        self.start_heartbeat(ctx);
        self.flush();
    }
}

impl Handler<Describe> for Worker {
    type Result = MessageResult<Describe>;
    fn handle(&mut self, _msg: Describe, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult((self.id, self.store_addr.clone()))
    }
}
