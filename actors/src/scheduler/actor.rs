//! The scheduler actor: owns the ROUTER bridge, decodes messages, calls the pure [`Core`], and
//! flushes its outbox as one batch per peer.

use super::core::{Core, CoreConfig, Outbox};
use super::journal::{Journal, Record};
use crate::transport::router::{bind_router, RouterEvent, RouterSender};
use crate::Result;
use actix::prelude::*;
use bytes::Bytes;
use rask_protocol::{
    decode_batch, encode_batch, ClientId, FromClient, FromWorker, Hello, HelloReply, ProtocolError,
    Role, ToClient, ToWorker, Welcome, WorkerId, PROTOCOL_VERSION,
};
use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

/// How a scheduler is set up.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Where to bind, `tcp://host:port` (port 0 for any).
    pub listen: String,
    /// How often workers and clients heartbeat.
    pub heartbeat: Duration,
    /// The core's tunables (TTLs, allowed failures).
    pub core: CoreConfig,
    /// Keep a journal of the task graph in this directory and, if one is there already,
    /// recover the graph from it at start (see [`super::recovery`]).
    pub journal_dir: Option<std::path::PathBuf>,
    /// Cut off peers that claim frames larger than this many bytes, checked by a guard in
    /// front of the socket (see [`crate::transport::guard`]; costs one loopback hop).
    pub max_frame_bytes: Option<u64>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            listen: "tcp://0.0.0.0:8786".into(),
            heartbeat: Duration::from_millis(500),
            core: CoreConfig::default(),
            journal_dir: None,
            max_frame_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Peer {
    Worker(WorkerId),
    Client(ClientId),
    /// A worker removed for silence whose connection is still up: told to register again.
    Evicted,
}

/// Messages produced while handling one event, grouped by destination.
#[derive(Default)]
struct Pending {
    workers: HashMap<WorkerId, Vec<ToWorker>>,
    clients: HashMap<ClientId, Vec<ToClient>>,
}

impl Pending {
    /// Takes out the queues that hold nothing but `Free`: they may wait a little for company
    /// (see [`FREE_LINGER`]).
    fn take_free_only(&mut self) -> Vec<(WorkerId, Vec<ToWorker>)> {
        let free_only: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, msgs)| msgs.iter().all(|m| matches!(m, ToWorker::Free(_))))
            .map(|(id, _)| *id)
            .collect();
        free_only
            .into_iter()
            .filter_map(|id| self.workers.remove_entry(&id))
            .collect()
    }
}

/// How long a worker's queue of nothing but `Free` may wait before it is sent. A `Free` is
/// never urgent, and sent on its own it costs the worker a wake-up in the middle of the next
/// task's round trip; held back, it travels with the next message to that worker (order is
/// kept: a later `Compute` of the same key queues behind it) or after this delay.
const FREE_LINGER: Duration = Duration::from_millis(5);

impl Outbox for Pending {
    fn to_worker(&mut self, worker: WorkerId, msg: ToWorker) {
        let queue = self.workers.entry(worker).or_default();
        // Keys freed one after another travel as one `Free` (a released graph frees a key per
        // task; the worker hands each `Free` to its data-store as one actor message).
        match (msg, queue.last_mut()) {
            (ToWorker::Free(more), Some(ToWorker::Free(keys))) => keys.extend(more),
            (msg, _) => queue.push(msg),
        }
    }
    fn to_client(&mut self, client: ClientId, msg: ToClient) {
        self.clients.entry(client).or_default().push(msg);
    }
}

/// The scheduler actor.
pub struct SchedulerActor {
    core: Core,
    heartbeat: Duration,
    sender: RouterSender,
    peers: HashMap<Bytes, Peer>,
    worker_peers: HashMap<WorkerId, Bytes>,
    client_peers: HashMap<ClientId, Bytes>,
    out: Pending,
    flush_queued: bool,
    /// A timer will send lingering `Free` messages.
    free_timer: bool,
    journal: Option<Journal>,
    /// Tasks tracked at the last tick (to notice when a graph is gone).
    tasks_at_last_tick: usize,
}

/// Sends the outbox once the current burst of events is handled (one batch per peer).
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl Handler<Flush> for SchedulerActor {
    type Result = ();
    fn handle(&mut self, _msg: Flush, ctx: &mut Context<Self>) {
        self.flush_queued = false;
        let lingering = self.out.take_free_only();
        self.flush();
        if lingering.is_empty() {
            return;
        }
        self.out.workers.extend(lingering);
        if !self.free_timer {
            self.free_timer = true;
            ctx.run_later(FREE_LINGER, |s, _| {
                s.free_timer = false;
                s.flush();
            });
        }
    }
}

/// A running scheduler: its actor and the endpoint it listens on.
#[derive(Clone)]
pub struct SchedulerHandle {
    /// The actor.
    pub addr: Addr<SchedulerActor>,
    /// The bound endpoint, e.g. `tcp://127.0.0.1:8786`.
    pub endpoint: String,
}

/// Binds the scheduler's ROUTER and starts the actor on the current actix arbiter.
pub async fn start_scheduler(config: SchedulerConfig) -> Result<SchedulerHandle> {
    let listen = crate::transport::normalize_addr(&config.listen);
    let bound = match config.max_frame_bytes {
        Some(limit) => crate::transport::router::bind_router_guarded(&listen, limit).await?,
        None => bind_router(&listen).await?,
    };
    let endpoint = bound.endpoint.clone();
    let mut core = Core::new(config.core);
    let journal = match &config.journal_dir {
        Some(dir) => {
            let (mut journal, records) = Journal::open(dir)?;
            if !records.is_empty() {
                core.recover(records, Instant::now());
                journal.rewrite(&core.snapshot());
            }
            tracing::info!(path = %journal.path().display(), "journaling the task graph");
            Some(journal)
        }
        None => None,
    };
    tracing::info!(%endpoint, "scheduler listening");
    let addr = SchedulerActor::create(move |ctx| {
        ctx.add_stream(bound.events);
        let tick = config.heartbeat.min(Duration::from_millis(250));
        ctx.run_interval(tick, |s, _| s.tick());
        SchedulerActor {
            core,
            heartbeat: config.heartbeat,
            sender: bound.sender,
            peers: HashMap::default(),
            worker_peers: HashMap::default(),
            client_peers: HashMap::default(),
            out: Pending::default(),
            flush_queued: false,
            free_timer: false,
            journal,
            tasks_at_last_tick: 0,
        }
    });
    Ok(SchedulerHandle { addr, endpoint })
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
}

impl SchedulerActor {
    fn tick(&mut self) {
        for id in self.core.on_tick(Instant::now(), &mut self.out) {
            if let Some(peer) = self.worker_peers.remove(&id) {
                self.peers.insert(peer, Peer::Evicted);
            }
        }
        self.journal_gone_clients();
        // A graph just went away: hand this thread's freed memory back to the OS (the
        // allocator would otherwise keep it while the scheduler idles).
        let tasks = self.core.task_count();
        if tasks == 0 && self.tasks_at_last_tick > 0 {
            crate::datastore::memory::release_memory();
        }
        self.tasks_at_last_tick = tasks;
        if let Some(j) = &mut self.journal {
            // Compact once the appended history dwarfs the live graph.
            let live = self.core.task_count() as u64 * 256;
            if j.appended() > (64 << 20).max(4 * live) {
                j.rewrite(&self.core.snapshot());
            }
        }
        self.flush();
    }

    fn journal_gone_clients(&mut self) {
        let gone = self.core.take_gone_clients();
        let workers = self.core.take_worker_change();
        if let Some(j) = &mut self.journal {
            for id in gone {
                j.append(&Record::ClientGone { client: id.0 });
            }
            if let Some(names) = workers {
                j.append(&Record::Workers { names });
            }
        }
    }

    fn rejoin(&self, peer: Bytes) {
        match encode_batch(&[ToWorker::Rejoin], vec![]) {
            Ok(frames) => self.sender.send(peer, frames),
            Err(e) => tracing::error!("cannot encode rejoin: {e}"),
        }
    }

    fn reply(&self, peer: Bytes, reply: HelloReply) {
        if let Ok(bytes) = reply.encode() {
            self.sender.send(peer, vec![bytes]);
        }
    }

    fn handshake(&mut self, peer: Bytes, frames: &[Bytes]) {
        let Some(first) = frames.first() else { return };
        let hello = match Hello::decode(first) {
            Ok(h) => h,
            Err(ProtocolError::VersionMismatch { theirs, .. }) => {
                tracing::warn!("refused a peer speaking protocol version {theirs}");
                let text = format!(
                    "protocol version mismatch: the scheduler speaks version {PROTOCOL_VERSION}, \
                     the connecting side speaks version {theirs}"
                );
                self.reply(peer, HelloReply::Refused(text));
                return;
            }
            Err(e) => {
                tracing::warn!("refused a peer that did not open with a rask handshake: {e}");
                self.reply(peer, HelloReply::Refused(e.to_string()));
                return;
            }
        };
        let now = Instant::now();
        let welcome = |id: u32, name: String, hb: Duration| {
            HelloReply::Welcome(Welcome {
                id,
                heartbeat_ms: hb.as_millis() as u32,
                name,
            })
        };
        let name = self.core.config().name.clone();
        match (hello.role, &hello.worker) {
            (Role::Worker, Some(w)) => {
                let id = self
                    .core
                    .add_worker(hello.name.clone(), w, now, &mut self.out);
                tracing::info!(worker = %id, name = %hello.name, store = %w.store_addr, "worker joined");
                self.peers.insert(peer.clone(), Peer::Worker(id));
                self.worker_peers.insert(id, peer.clone());
                self.reply(peer, welcome(id.0, name, self.heartbeat));
            }
            (Role::Client, _) => {
                let id = self.core.add_client(hello.name.clone(), now);
                tracing::info!(client = %id, name = %hello.name, "client connected");
                self.peers.insert(peer.clone(), Peer::Client(id));
                self.client_peers.insert(id, peer.clone());
                self.reply(peer, welcome(id.0, name, self.heartbeat));
            }
            (role, _) => self.reply(
                peer,
                HelloReply::Refused(format!(
                    "the scheduler does not accept a {role:?} connection"
                )),
            ),
        }
        self.flush();
    }

    fn flush_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(Flush);
        }
    }

    fn flush(&mut self) {
        for (id, msgs) in self.out.workers.drain() {
            let Some(peer) = self.worker_peers.get(&id) else {
                continue;
            };
            match encode_batch(&msgs, vec![]) {
                Ok(frames) => self.sender.send(peer.clone(), frames),
                Err(e) => tracing::error!("cannot encode messages for worker {id}: {e}"),
            }
        }
        for (id, msgs) in self.out.clients.drain() {
            let Some(peer) = self.client_peers.get(&id) else {
                continue;
            };
            match encode_batch(&msgs, vec![]) {
                Ok(frames) => self.sender.send(peer.clone(), frames),
                Err(e) => tracing::error!("cannot encode messages for client {id}: {e}"),
            }
        }
    }

    fn disconnected(&mut self, peer: &Bytes) {
        match self.peers.remove(peer) {
            Some(Peer::Worker(id)) => {
                tracing::warn!(worker = %id, "worker connection closed");
                self.worker_peers.remove(&id);
                self.core.remove_worker(id, &mut self.out);
            }
            Some(Peer::Client(id)) => {
                tracing::info!(client = %id, "client connection closed");
                self.client_peers.remove(&id);
                self.core.remove_client(id, &mut self.out);
            }
            Some(Peer::Evicted) | None => {}
        }
    }
}

/// Whether a client message changes what the graph holds (and so goes to the journal).
fn changes_graph(msg: &FromClient) -> bool {
    matches!(
        msg,
        FromClient::Submit(_)
            | FromClient::Release(_)
            | FromClient::Cancel(_)
            | FromClient::Goodbye
            | FromClient::Resume(_)
    )
}

impl StreamHandler<RouterEvent> for SchedulerActor {
    fn handle(&mut self, event: RouterEvent, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match event {
            RouterEvent::Message { peer, frames } => match self.peers.get(&peer).copied() {
                None => self.handshake(peer, &frames),
                Some(Peer::Evicted) => self.rejoin(peer),
                Some(Peer::Worker(id)) => match decode_batch::<FromWorker>(frames) {
                    Ok(batch) => {
                        for msg in batch.messages {
                            self.core.on_worker_msg(id, msg, now, &mut self.out);
                        }
                    }
                    Err(e) => tracing::warn!(worker = %id, "dropping malformed message: {e}"),
                },
                Some(Peer::Client(id)) => match decode_batch::<FromClient>(frames.clone()) {
                    Ok(batch) => {
                        if let Some(j) = &mut self.journal {
                            if batch.messages.iter().any(changes_graph) {
                                j.client_batch(id.0, &frames);
                            }
                        }
                        for msg in batch.messages {
                            self.core.on_client_msg(id, msg, now, &mut self.out);
                        }
                    }
                    Err(e) => tracing::warn!(client = %id, "dropping malformed message: {e}"),
                },
            },
            RouterEvent::Disconnected(peer) => self.disconnected(&peer),
        }
        self.journal_gone_clients();
        // Workers removed by a Goodbye lose their routing entry too.
        if self.core.worker_count() != self.worker_peers.len() {
            let known = self.core.worker_ids();
            let gone: Vec<WorkerId> = self
                .worker_peers
                .keys()
                .filter(|id| !known.contains(id))
                .copied()
                .collect();
            for id in gone {
                if let Some(peer) = self.worker_peers.remove(&id) {
                    self.peers.remove(&peer);
                }
            }
        }
        self.flush_soon(ctx);
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::Key;

    #[test]
    fn consecutive_frees_to_one_worker_travel_as_one_message() {
        let mut out = Pending::default();
        let (a, b) = (WorkerId(1), WorkerId(2));
        let free = |k: &str| ToWorker::Free(vec![Key::new(k)]);
        out.to_worker(a, free("x"));
        out.to_worker(a, free("y"));
        out.to_worker(b, free("z"));
        out.to_worker(a, ToWorker::Rejoin);
        out.to_worker(a, free("w"));
        let names = |msgs: &[ToWorker]| -> Vec<String> {
            msgs.iter()
                .map(|m| match m {
                    ToWorker::Free(keys) => {
                        let ks: Vec<&str> = keys.iter().map(Key::as_str).collect();
                        format!("free {}", ks.join(","))
                    }
                    _ => "other".to_string(),
                })
                .collect()
        };
        // Order is kept: only neighbouring frees merge.
        assert_eq!(names(&out.workers[&a]), ["free x,y", "other", "free w"]);
        assert_eq!(names(&out.workers[&b]), ["free z"]);
    }

    #[test]
    fn only_queues_of_nothing_but_frees_linger() {
        let mut out = Pending::default();
        let (a, b) = (WorkerId(1), WorkerId(2));
        out.to_worker(a, ToWorker::Free(vec![Key::new("x")]));
        out.to_worker(b, ToWorker::Free(vec![Key::new("y")]));
        out.to_worker(b, ToWorker::Rejoin);
        let lingering = out.take_free_only();
        assert_eq!(lingering.len(), 1);
        assert_eq!(lingering[0].0, a);
        // The other queue goes out now, its free first.
        assert_eq!(out.workers.len(), 1);
        assert!(matches!(out.workers[&b][0], ToWorker::Free(_)));
    }
}
