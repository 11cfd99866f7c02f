//! The [`Client`] handle: connect to a scheduler (or start a local cluster), submit typed
//! tasks, gather, scatter, and ask the scheduler about the cluster.

use super::actor::{Cancel, ClientActor, Close, Request, Submit};
use super::args::IntoArgs;
use super::data::{Fetch, Scatter};
use super::future::{decode_as, Future};
use crate::local::{LocalCluster, LocalConfig};
use crate::runtime::ActorThread;
use crate::transport::dealer;
use crate::worker::registry::{Registry, TaskFunction};
use crate::{Error, Result};
use actix::Addr;
use rask_protocol::{
    encode_value, Arg, ClusterInfo, FromClient, Hello, Key, Reply, Role, TaskSpec, WorkerId,
    PROTOCOL_VERSION,
};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheduler address, `tcp://host:port`.
    pub scheduler: String,
    /// The client's name.
    pub name: String,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// The protocol version announced in the handshake. Only tests change it.
    #[doc(hidden)]
    pub protocol_version: u32,
}

impl ClientConfig {
    /// Defaults for connecting to `scheduler`.
    pub fn new(scheduler: impl Into<String>) -> Self {
        ClientConfig {
            scheduler: scheduler.into(),
            name: format!("client-{}", std::process::id()),
            connect_timeout: Duration::from_secs(5),
            protocol_version: PROTOCOL_VERSION,
        }
    }
}

/// Per-submission options (Dask's `submit` keywords).
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// Higher runs first.
    pub priority: i32,
    /// Retries after a failure.
    pub retries: u32,
    /// An explicit key instead of the deterministic one.
    pub key: Option<String>,
    /// Run only on these workers (names or data-store addresses), like Dask's `workers=`.
    pub workers: Vec<String>,
    /// `true` gives every call a fresh key (for impure functions); by default identical calls
    /// share one key and one result, like Dask's `pure=True`.
    pub impure: bool,
}

struct Inner {
    addr: Addr<ClientActor>,
    scheduler: String,
    counter: AtomicU64,
    // Dropped in this order: the client's thread, then the cluster it may own.
    thread: Mutex<Option<ActorThread>>,
    cluster: Mutex<Option<LocalCluster>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.addr.do_send(Close);
        if let Some(t) = self.thread.lock().expect("lock").take() {
            // Give the goodbye a moment to leave before the thread stops.
            std::thread::sleep(Duration::from_millis(20));
            t.stop();
        }
        self.cluster.lock().expect("lock").take();
    }
}

/// A connection to a rask cluster. Cheap to clone; usable from any thread or runtime.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to the scheduler at `addr` (`tcp://host:port` or `host:port`).
    pub async fn connect(addr: &str) -> Result<Client> {
        Client::connect_with(ClientConfig::new(addr)).await
    }

    /// Blocking form of [`Client::connect`].
    pub fn connect_blocking(addr: &str) -> Result<Client> {
        super::block::block_on(Client::connect(addr))
    }

    /// Connects with explicit settings.
    pub async fn connect_with(config: ClientConfig) -> Result<Client> {
        let scheduler = crate::transport::normalize_addr(&config.scheduler);
        let hello = Hello {
            role: Role::Client,
            name: config.name.clone(),
            registry_hash: Registry::global().hash(),
            worker: None,
        }
        .encode_with_version(config.protocol_version)?;
        let (addr_s, name, timeout) = (
            scheduler.clone(),
            config.name.clone(),
            config.connect_timeout,
        );
        let (thread, addr) = ActorThread::spawn("rask-client", move || async move {
            let conn = dealer::connect(&addr_s, hello.clone(), Some(timeout)).await?;
            Ok(ClientActor::start_with(conn, name, addr_s, hello))
        })
        .await?;
        Ok(Client {
            inner: Arc::new(Inner {
                addr,
                scheduler,
                counter: AtomicU64::new(0),
                thread: Mutex::new(Some(thread)),
                cluster: Mutex::new(None),
            }),
        })
    }

    /// Starts a scheduler and `workers` workers (one thread each) in this process on loopback,
    /// and connects to it. The cluster lives as long as the client.
    pub async fn local(workers: usize) -> Result<Client> {
        Client::local_with(LocalConfig {
            workers,
            ..LocalConfig::default()
        })
        .await
    }

    /// Blocking form of [`Client::local`].
    pub fn local_blocking(workers: usize) -> Result<Client> {
        super::block::block_on(Client::local(workers))
    }

    /// [`Client::local`] with explicit settings.
    pub async fn local_with(config: LocalConfig) -> Result<Client> {
        let cluster = LocalCluster::start(config).await?;
        let client = Client::connect(cluster.address()).await?;
        *client.inner.cluster.lock().expect("lock") = Some(cluster);
        Ok(client)
    }

    /// The client actor (for the coordination primitives).
    pub(super) fn actor_addr(&self) -> &Addr<ClientActor> {
        &self.inner.addr
    }

    /// The scheduler address.
    pub fn scheduler(&self) -> &str {
        &self.inner.scheduler
    }

    /// Runs the local cluster's closure (for tests and tools: add or kill workers).
    pub fn with_local_cluster<R>(&self, f: impl FnOnce(&mut LocalCluster) -> R) -> Option<R> {
        self.inner.cluster.lock().expect("lock").as_mut().map(f)
    }

    pub(super) fn make_key(&self, name: &str, args: &[Arg], opts: &SubmitOptions) -> Result<Key> {
        if let Some(k) = &opts.key {
            return Ok(Key::new(k));
        }
        let short = name.rsplit("::").next().unwrap_or(name);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(name.as_bytes());
        h.update(&encode_value(args)?);
        if opts.impure {
            h.update(&std::process::id().to_le_bytes());
            h.update(
                &self
                    .inner
                    .counter
                    .fetch_add(1, Ordering::Relaxed)
                    .to_le_bytes(),
            );
            h.update(&(Arc::as_ptr(&self.inner) as usize).to_le_bytes());
            h.update(&rand::random::<u64>().to_le_bytes());
        }
        Ok(Key::new(format!("{short}-{:016x}", h.digest())))
    }

    fn spec<F: TaskFunction, A: IntoArgs<F::Params>>(
        &self,
        args: A,
        opts: &SubmitOptions,
    ) -> Result<TaskSpec> {
        let args = args.into_args()?;
        let key = self.make_key(F::NAME, &args, opts)?;
        Ok(TaskSpec {
            key,
            function: F::NAME.to_string(),
            args,
            priority: opts.priority,
            retries: opts.retries,
            wanted: true,
            workers: opts.workers.clone(),
        })
    }

    /// Runs `f(args…)` on the cluster. `args` is a tuple of values or `&Future`s of the
    /// parameter types; futures make the task depend on them.
    pub fn submit<F: TaskFunction, A: IntoArgs<F::Params>>(
        &self,
        f: F,
        args: A,
    ) -> Result<Future<F::Output>> {
        self.submit_with(f, args, SubmitOptions::default())
    }

    /// [`Client::submit`] with options (priority, retries, key, impure).
    pub fn submit_with<F: TaskFunction, A: IntoArgs<F::Params>>(
        &self,
        _f: F,
        args: A,
        opts: SubmitOptions,
    ) -> Result<Future<F::Output>> {
        let spec = self.spec::<F, A>(args, &opts)?;
        let fut = Future::new(spec.key.clone(), self.inner.addr.clone());
        self.inner.addr.do_send(Submit(vec![spec]));
        Ok(fut)
    }

    /// Submits `f` once per argument tuple, in one message.
    pub fn map<F: TaskFunction, A: IntoArgs<F::Params>>(
        &self,
        f: F,
        args: impl IntoIterator<Item = A>,
    ) -> Result<Vec<Future<F::Output>>> {
        self.map_with(f, args, SubmitOptions::default())
    }

    /// [`Client::map`] with options (an explicit `key` is used as a prefix).
    pub fn map_with<F: TaskFunction, A: IntoArgs<F::Params>>(
        &self,
        _f: F,
        args: impl IntoIterator<Item = A>,
        opts: SubmitOptions,
    ) -> Result<Vec<Future<F::Output>>> {
        let mut specs = Vec::new();
        for (i, a) in args.into_iter().enumerate() {
            let mut o = opts.clone();
            o.key = opts.key.as_ref().map(|p| format!("{p}-{i}"));
            specs.push(self.spec::<F, A>(a, &o)?);
        }
        let futs = specs
            .iter()
            .map(|s| Future::new(s.key.clone(), self.inner.addr.clone()))
            .collect();
        self.inner.addr.do_send(Submit(specs));
        Ok(futs)
    }

    /// Submits a prepared task graph in one message (collections build these). Returns a
    /// future for every spec marked `wanted`, in order; `T` is the caller's claim about the
    /// result type (checked when the value is decoded).
    pub fn submit_graph<T>(&self, specs: Vec<TaskSpec>) -> Vec<Future<T>> {
        let futs = specs
            .iter()
            .filter(|s| s.wanted)
            .map(|s| Future::new(s.key.clone(), self.inner.addr.clone()))
            .collect();
        self.inner.addr.do_send(Submit(specs));
        futs
    }

    /// Fetches every future's value, in order.
    pub async fn gather<T: serde::de::DeserializeOwned>(
        &self,
        futures: &[Future<T>],
    ) -> Result<Vec<T>> {
        let _seceded = crate::worker::context::SecedeGuard::new();
        let keys: Vec<Key> = futures.iter().map(|f| f.key().clone()).collect();
        let values = self
            .inner
            .addr
            .send(Fetch(keys.clone()))
            .await
            .map_err(|_| Error::Closed("client".into()))??;
        keys.iter()
            .zip(values)
            .map(|(k, v)| decode_as::<T>(k, &v))
            .collect()
    }

    /// Blocking form of [`Client::gather`].
    pub fn gather_blocking<T: serde::de::DeserializeOwned>(
        &self,
        futures: &[Future<T>],
    ) -> Result<Vec<T>> {
        super::block::block_on(self.gather(futures))
    }

    /// Places values directly in workers' data-stores (spread round-robin) and returns
    /// futures for them.
    pub async fn scatter<T: Serialize>(&self, values: Vec<T>) -> Result<Vec<Future<T>>> {
        let info = self.info().await?;
        let n = info.workers.len();
        self.scatter_among(values, info.workers, |i| i % n.max(1))
            .await
    }

    /// Places every value in the data-store of one worker, named by its name or address.
    pub async fn scatter_to<T: Serialize>(
        &self,
        values: Vec<T>,
        worker: &str,
    ) -> Result<Vec<Future<T>>> {
        let info = self.info().await?;
        let Some(w) = info
            .workers
            .into_iter()
            .find(|w| w.name == worker || w.store_addr == worker)
        else {
            return Err(Error::Config(format!(
                "cannot scatter: no worker named {worker}"
            )));
        };
        self.scatter_among(values, vec![w], |_| 0).await
    }

    async fn scatter_among<T: Serialize>(
        &self,
        values: Vec<T>,
        workers: Vec<rask_protocol::WorkerInfo>,
        choose: impl Fn(usize) -> usize,
    ) -> Result<Vec<Future<T>>> {
        if workers.is_empty() {
            return Err(Error::Config(
                "cannot scatter: no workers are connected".into(),
            ));
        }
        let mut per_worker: Vec<Vec<(Key, bytes::Bytes)>> = vec![Vec::new(); workers.len()];
        let mut keys = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let bytes = encode_value(v)?;
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(&bytes);
            let key = Key::new(format!("scatter-{:016x}", h.digest()));
            per_worker[choose(i)].push((key.clone(), bytes));
            keys.push(key);
        }
        for (w, values) in workers.iter().zip(per_worker) {
            if values.is_empty() {
                continue;
            }
            self.inner
                .addr
                .send(Scatter {
                    worker: w.id,
                    addr: w.store_addr.clone(),
                    values,
                })
                .await
                .map_err(|_| Error::Closed("client".into()))??;
        }
        Ok(keys
            .into_iter()
            .map(|k| Future::new(k, self.inner.addr.clone()))
            .collect())
    }

    /// Cancels futures: they resolve as cancelled and the cluster drops the work.
    pub fn cancel<T>(&self, futures: &[Future<T>]) {
        let keys = futures.iter().map(|f| f.key().clone()).collect();
        self.inner.addr.do_send(Cancel(keys));
    }

    async fn request(
        &self,
        make: impl FnOnce(rask_protocol::RequestId) -> FromClient + Send + 'static,
    ) -> Result<Reply> {
        self.inner
            .addr
            .send(Request(Box::new(make)))
            .await
            .map_err(|_| Error::Closed("client".into()))?
    }

    /// Which workers hold each key, and its size (empty holders: not in memory).
    pub async fn who_has(&self, keys: &[Key]) -> Result<Vec<(Key, Vec<WorkerId>, u64)>> {
        let keys = keys.to_vec();
        match self
            .request(move |req| FromClient::WhoHas { req, keys })
            .await?
        {
            Reply::WhoHas(v) => Ok(v),
            other => Err(Error::Closed(format!("unexpected reply {other:?}"))),
        }
    }

    /// A snapshot of the cluster: workers, their load and memory, tracked tasks.
    pub async fn info(&self) -> Result<ClusterInfo> {
        match self.request(|req| FromClient::Info { req }).await? {
            Reply::Info(i) => Ok(i),
            other => Err(Error::Closed(format!("unexpected reply {other:?}"))),
        }
    }

    /// Blocking form of [`Client::info`].
    pub fn info_blocking(&self) -> Result<ClusterInfo> {
        super::block::block_on(self.info())
    }
}
