//! The data-store actor: a worker's results, served to peers and clients over the worker's own
//! ROUTER socket ([`serve`](self)) and to its worker through actor messages.
//!
//! Under a memory limit ([`memory`]) it keeps the bytes it holds in memory under the target
//! fraction by writing least-recently-used values ([`lru`](self)) to files ([`spill`]), spills
//! further when the process's resident memory passes the spill fraction, pauses the compute
//! pool above the pause fraction and stops the worker above the terminate fraction. Memory is
//! checked on every put and every [`TICK`]. Spilled values are read back on blocking threads
//! whenever a task, a peer or a client needs them; their files go when the key is freed.

mod actor_calls;
mod lru;
pub mod memory;
mod serve;
pub mod spill;

use crate::transport::router::{bind_router, RouterEvent, RouterSender};
use crate::{Error, Result};
use actix::prelude::*;
pub use actor_calls::SetActorHost;
use bytes::Bytes;
use memory::{Decision, Reading};
pub use memory::{MemoryConfig, MemoryLimit, OnTerminate, Thresholds, MEMORY_EXIT_CODE};
use rask_protocol::Key;
use rustc_hash::FxHashSet as HashSet;
use spill::{Disk, Spilled, Written};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often memory is checked besides every put.
pub const TICK: Duration = Duration::from_millis(100);

/// A put reads the process's memory again only when the last reading is this old (or the
/// value is big), so floods of tiny results do not pay for a `/proc` read each.
const RSS_FRESH: Duration = Duration::from_millis(10);

/// How often the store logs its memory while it has values on disk.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A put of at least this many bytes always reads the process's memory afresh.
const BIG_PUT: u64 = 1 << 20;

/// What the data-store asks of the worker's compute pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolState {
    /// Start no new tasks (process memory is above the pause threshold).
    pub paused: bool,
    /// Hand freed memory back to the OS after each task (above the spill threshold).
    pub release: bool,
}

/// Called with the pool's new state whenever the store changes it.
pub type PoolHook = Arc<dyn Fn(PoolState) + Send + Sync>;

type Ctx = Context<DataStore>;

/// A worker's store of results.
pub struct DataStore {
    name: String,
    sender: RouterSender,
    peers: HashSet<Bytes>,
    memory: lru::Lru,
    disk: Disk,
    /// The memory limit in bytes (`None`: unlimited, nothing is ever spilled).
    limit: Option<u64>,
    config: MemoryConfig,
    monitor: Monitor,
    on_pool: Option<PoolHook>,
    /// The worker's actors, whose method calls come in over this store's socket.
    actors: Option<Arc<crate::worker::actors::ActorHost>>,
}

/// What the memory checks remember between two checks.
#[derive(Default)]
struct Monitor {
    rss: Option<u64>,
    rss_at: Option<Instant>,
    /// Bytes written to disk lately, with when: the allocator may not have returned them yet.
    recently: VecDeque<(Instant, u64)>,
    pool: PoolState,
    /// No new spill before this (a write failed).
    spill_after: Option<Instant>,
    logged: Option<Instant>,
}

impl Actor for DataStore {
    type Context = Context<Self>;
}

/// Stores a value (from the worker); replies with its size.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Put {
    /// The key.
    pub key: Key,
    /// The encoded value.
    pub value: Bytes,
}

/// Drops keys (and their spill files).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Free(pub Vec<Key>);

/// Reads keys held here (`None` for each one not held); spilled ones are read back from disk.
#[derive(Message)]
#[rtype(result = "Vec<Option<Bytes>>")]
pub struct GetLocal(pub Vec<Key>);

/// Every key held, in memory or on disk, with its size (re-registration after a scheduler
/// restart).
#[derive(Message)]
#[rtype(result = "Vec<(Key, u64)>")]
pub struct Held;

/// What the store holds and where.
#[derive(Message)]
#[rtype(result = "StoreStats")]
pub struct Stats;

/// The answer to [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Keys held, in memory or on disk.
    pub keys: u64,
    /// Bytes of values in memory (including those being written out).
    pub memory_bytes: u64,
    /// Bytes of values in spill files.
    pub disk_bytes: u64,
    /// Keys spilled (or being spilled).
    pub spilled_keys: u64,
    /// The compute pool is paused for memory.
    pub paused: bool,
}

impl StoreStats {
    /// Bytes held in all.
    pub fn nbytes(&self) -> u64 {
        self.memory_bytes + self.disk_bytes
    }
}

/// Hands the store the hook that pauses and resumes the worker's compute pool.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPoolHook(pub PoolHook);

/// A spill write ended.
#[derive(Message)]
#[rtype(result = "()")]
struct WriteDone {
    key: Key,
    id: u64,
    ok: bool,
}

/// Where a key's value is.
enum Found {
    Memory(Bytes),
    Disk(PathBuf),
    Nowhere,
}

/// Reads a spill file on a blocking thread; `None` (logged) when it cannot.
async fn read_spilled(path: PathBuf) -> Option<Bytes> {
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || spill::read_file(&path)).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::warn!(file = %shown, "cannot read a spilled value: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(file = %shown, "spill read thread failed: {e}");
            None
        }
    }
}

fn mib(n: u64) -> u64 {
    n >> 20
}

impl DataStore {
    /// Binds the store's ROUTER on `bind_addr` (port 0 for any) and starts the actor on the
    /// current arbiter, with the memory limit and thresholds of `memory`. Returns the actor
    /// and the address to advertise.
    pub async fn start(
        name: String,
        bind_addr: &str,
        memory: MemoryConfig,
    ) -> Result<(Addr<DataStore>, String)> {
        let bound = bind_router(bind_addr).await?;
        let endpoint = bound.endpoint.clone();
        let limit = memory::resolved_limit(&memory);
        if let Some(limit) = limit {
            tracing::info!(store = %name, "memory limit {} MiB", mib(limit));
        }
        let addr = DataStore::create(move |ctx| {
            ctx.add_stream(bound.events);
            if limit.is_some() {
                ctx.run_interval(TICK, |s, ctx| s.check(ctx, true));
            }
            DataStore {
                name,
                sender: bound.sender,
                peers: HashSet::default(),
                memory: lru::Lru::default(),
                disk: Disk::new(memory.local_directory.clone()),
                limit,
                config: memory,
                monitor: Monitor::default(),
                on_pool: None,
                actors: None,
            }
        });
        Ok((addr, endpoint))
    }

    fn insert(&mut self, key: Key, value: Bytes, ctx: &mut Ctx) -> u64 {
        let n = value.len() as u64;
        self.disk.remove(&key);
        self.memory.insert(key, value);
        self.check(ctx, n >= BIG_PUT);
        n
    }

    fn find(&mut self, key: &Key) -> Found {
        if let Some(v) = self.memory.get(key) {
            return Found::Memory(v);
        }
        match self.disk.get(key) {
            Some(Spilled::Writing(v)) => Found::Memory(v),
            Some(Spilled::File(path, _)) => Found::Disk(path),
            None => Found::Nowhere,
        }
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            keys: (self.memory.len() + self.disk.len()) as u64,
            memory_bytes: self.memory.bytes() + self.disk.writing_bytes(),
            disk_bytes: self.disk.file_bytes(),
            spilled_keys: self.disk.len() as u64,
            paused: self.monitor.pool.paused,
        }
    }

    /// Checks memory against the limit and acts on it; `read_rss` forces a fresh reading of
    /// the process's memory.
    fn check(&mut self, ctx: &mut Ctx, read_rss: bool) {
        let Some(limit) = self.limit else { return };
        let now = Instant::now();
        let m = &mut self.monitor;
        if read_rss || m.rss_at.is_none_or(|t| now - t >= RSS_FRESH) {
            m.rss = memory::process_rss();
            m.rss_at = Some(now);
        }
        while m
            .recently
            .front()
            .is_some_and(|(t, _)| now - *t > memory::SPILL_SETTLE)
        {
            m.recently.pop_front();
        }
        let reading = Reading {
            managed: self.memory.bytes(),
            writing: self.disk.writing_bytes(),
            recently_spilled: m.recently.iter().map(|(_, n)| n).sum(),
            rss: m.rss,
        };
        let decision = memory::decide(limit, &self.config.thresholds, &reading);
        self.act(limit, &reading, decision, ctx);
    }

    fn act(&mut self, limit: u64, reading: &Reading, decision: Decision, ctx: &mut Ctx) {
        let rss = reading.rss.unwrap_or(0);
        if decision.terminate {
            self.terminate(limit, rss);
            return;
        }
        if decision.spill > 0 {
            self.spill(decision.spill, ctx);
        }
        let pool = PoolState {
            paused: decision.pause,
            release: decision.release,
        };
        if pool.paused != self.monitor.pool.paused {
            if pool.paused {
                tracing::warn!(store = %self.name, "paused: process memory {} MiB ({} MiB of held values, {} MiB being written) is above {:.0}% of the {} MiB limit; no new tasks start until it drops",
                    mib(rss), mib(reading.managed), mib(reading.writing), 100.0 * self.config.thresholds.pause.unwrap_or(1.0), mib(limit));
            } else {
                tracing::info!(store = %self.name, "resumed: process memory {} MiB", mib(rss));
            }
        }
        if pool != self.monitor.pool {
            self.monitor.pool = pool;
            if let Some(hook) = &self.on_pool {
                hook(pool);
            }
        }
        let now = Instant::now();
        if !self.disk.is_empty() && self.monitor.logged.is_none_or(|t| now - t >= LOG_EVERY) {
            self.monitor.logged = Some(now);
            let s = self.stats();
            tracing::info!(store = %self.name, "memory: {} MiB in memory, {} MiB on disk ({} values), process {} MiB of the {} MiB limit",
                mib(s.memory_bytes), mib(s.disk_bytes), s.spilled_keys, mib(rss), mib(limit));
        }
    }

    /// Starts writing least-recently-used values worth at least `bytes` to disk.
    fn spill(&mut self, bytes: u64, ctx: &mut Ctx) {
        if self.monitor.spill_after.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let mut started = 0;
        while started < bytes {
            let Some((key, value)) = self.memory.pop_lru() else {
                break;
            };
            let n = value.len() as u64;
            let (path, id) = match self.disk.begin(key.clone(), value.clone()) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(store = %self.name, "cannot spill to disk: {e}");
                    self.memory.insert(key, value);
                    self.monitor.spill_after = Some(Instant::now() + Duration::from_secs(5));
                    return;
                }
            };
            started += n;
            let me = ctx.address();
            actix::spawn(async move {
                let ok = match tokio::task::spawn_blocking(move || {
                    spill::write_file(&path, &value).map_err(|e| (path, e))
                })
                .await
                {
                    Ok(Ok(())) => true,
                    Ok(Err((path, e))) => {
                        tracing::error!(file = %path.display(), "cannot write a spill file: {e}");
                        false
                    }
                    Err(e) => {
                        tracing::error!("spill write thread failed: {e}");
                        false
                    }
                };
                me.do_send(WriteDone { key, id, ok });
            });
        }
        tracing::debug!(store = %self.name, "spilling {} MiB", mib(started));
    }

    fn terminate(&mut self, limit: u64, rss: u64) {
        tracing::error!(store = %self.name, "process memory {} MiB passed {:.0}% of the {} MiB limit: stopping the worker",
            mib(rss), 100.0 * self.config.thresholds.terminate.unwrap_or(1.0), mib(limit));
        match self.config.on_terminate {
            OnTerminate::ExitProcess => {
                self.disk.remove_dir();
                std::process::exit(MEMORY_EXIT_CODE);
            }
            OnTerminate::StopWorker => {
                self.limit = None;
                System::current().stop_with_code(MEMORY_EXIT_CODE);
            }
        }
    }
}

impl StreamHandler<RouterEvent> for DataStore {
    fn handle(&mut self, event: RouterEvent, ctx: &mut Ctx) {
        match event {
            RouterEvent::Message { peer, frames } => {
                if self.peers.contains(&peer) {
                    self.serve(peer, frames, ctx);
                } else {
                    self.handshake(peer, &frames);
                }
            }
            RouterEvent::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Ctx) {
        ctx.stop();
    }
}

impl Handler<Put> for DataStore {
    type Result = u64;
    fn handle(&mut self, msg: Put, ctx: &mut Ctx) -> u64 {
        self.insert(msg.key, msg.value, ctx)
    }
}

impl Handler<Free> for DataStore {
    type Result = ();
    fn handle(&mut self, msg: Free, _ctx: &mut Ctx) {
        for key in msg.0 {
            if self.memory.remove(&key).is_none() {
                self.disk.remove(&key);
            }
        }
        self.memory.shrink();
    }
}

impl Handler<GetLocal> for DataStore {
    type Result = ResponseFuture<Vec<Option<Bytes>>>;
    fn handle(&mut self, msg: GetLocal, _ctx: &mut Ctx) -> Self::Result {
        let found: Vec<Found> = msg.0.iter().map(|k| self.find(k)).collect();
        Box::pin(async move {
            let mut out = Vec::with_capacity(found.len());
            for f in found {
                out.push(match f {
                    Found::Memory(v) => Some(v),
                    Found::Disk(path) => read_spilled(path).await,
                    Found::Nowhere => None,
                });
            }
            out
        })
    }
}

impl Handler<Held> for DataStore {
    type Result = MessageResult<Held>;
    fn handle(&mut self, _msg: Held, _ctx: &mut Ctx) -> Self::Result {
        let memory = self.memory.sizes();
        let disk = self.disk.sizes();
        MessageResult(memory.chain(disk).map(|(k, n)| (k.clone(), n)).collect())
    }
}

impl Handler<Stats> for DataStore {
    type Result = MessageResult<Stats>;
    fn handle(&mut self, _msg: Stats, _ctx: &mut Ctx) -> Self::Result {
        MessageResult(self.stats())
    }
}

impl Handler<SetPoolHook> for DataStore {
    type Result = ();
    fn handle(&mut self, msg: SetPoolHook, _ctx: &mut Ctx) {
        if self.monitor.pool != PoolState::default() {
            (msg.0)(self.monitor.pool);
        }
        self.on_pool = Some(msg.0);
    }
}

impl Handler<WriteDone> for DataStore {
    type Result = ();
    fn handle(&mut self, msg: WriteDone, _ctx: &mut Ctx) {
        match self.disk.written(&msg.key, msg.id, msg.ok) {
            Written::Stored => {
                let n = self.disk.get(&msg.key).map_or(0, |s| match s {
                    Spilled::File(_, n) => n,
                    Spilled::Writing(v) => v.len() as u64,
                });
                self.monitor.recently.push_back((Instant::now(), n));
            }
            Written::Failed(value) => {
                self.memory.insert(msg.key, value);
                self.monitor.spill_after = Some(Instant::now() + Duration::from_secs(5));
            }
            Written::Stale => {}
        }
    }
}

/// Maps a mailbox error (the store stopped) to our error type.
pub fn mailbox_error(e: MailboxError) -> Error {
    Error::Closed(format!("data-store ({e})"))
}

#[cfg(test)]
mod tests;
