//! The client actor: one connection to the scheduler, the status of every key the client
//! holds futures for, and direct fetches from workers' data-stores.

use super::future::Status;
use crate::transport::dealer::{self, DealerEvent, DealerSender};
use crate::transport::store_client::StorePool;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use futures::channel::oneshot;
use futures::StreamExt;
use rask_protocol::{
    decode_batch, encode_batch, FromClient, InMemoryMsg, Key, Reply, RequestId, ScatteredMsg,
    TaskSpec, ToClient, WorkerId,
};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How many times a fetch is retried after the holder turned out not to have the value.
const FETCH_ATTEMPTS: usize = 20;

/// An event of scheduler connection number `.0` (events of older connections are ignored).
struct SchedulerEvent(u64, DealerEvent);

/// A new scheduler connection after a loss.
#[derive(Message)]
#[rtype(result = "()")]
struct Reconnected(dealer::Connection);

struct Entry {
    refs: usize,
    status: Status,
    waiters: Vec<oneshot::Sender<Status>>,
}

/// The client actor.
pub struct ClientActor {
    /// `None` while reconnecting; messages wait in the outbox meanwhile.
    scheduler: Option<DealerSender>,
    scheduler_addr: String,
    hello: Bytes,
    generation: u64,
    stores: StorePool,
    keys: HashMap<Key, Entry>,
    requests: HashMap<u64, oneshot::Sender<Reply>>,
    next_req: u64,
    outbox: Vec<FromClient>,
    addrs: rustc_hash::FxHashSet<Arc<str>>,
    flush_queued: bool,
    heartbeat: Duration,
}

/// Sends what the handlers queued, once the mailbox is drained (one batch, not one message
/// per call).
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

impl Handler<Flush> for ClientActor {
    type Result = ();
    fn handle(&mut self, _msg: Flush, _ctx: &mut Context<Self>) {
        self.flush_queued = false;
        self.flush();
    }
}

impl Actor for ClientActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.heartbeat, |c, _| {
            if c.scheduler.is_some() {
                c.outbox.push(FromClient::Heartbeat);
                c.flush();
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Context<Self>) -> Running {
        self.outbox.push(FromClient::Goodbye);
        self.flush();
        Running::Stop
    }
}

impl ClientActor {
    /// Starts the actor on the current arbiter around an established connection.
    /// `addr` and `hello` are kept to reconnect when the scheduler goes away.
    pub fn start_with(
        conn: dealer::Connection,
        name: String,
        addr: String,
        hello: Bytes,
    ) -> Addr<ClientActor> {
        let heartbeat = Duration::from_millis(conn.welcome.heartbeat_ms.max(10) as u64);
        ClientActor::create(move |ctx| {
            ctx.add_stream(conn.events.map(|e| SchedulerEvent(0, e)));
            ClientActor {
                scheduler: Some(conn.sender),
                scheduler_addr: addr,
                hello,
                generation: 0,
                stores: StorePool::new(name),
                keys: HashMap::default(),
                requests: HashMap::default(),
                next_req: 1,
                outbox: Vec::new(),
                addrs: Default::default(),
                flush_queued: false,
                heartbeat,
            }
        })
    }

    fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        let Some(scheduler) = &self.scheduler else {
            return; // reconnecting: sent once the scheduler is back
        };
        if let Ok(frames) = encode_batch(&self.outbox, vec![]) {
            scheduler.send(frames);
        }
        self.outbox.clear();
    }

    /// The scheduler went away: every future it had not resolved with a value fails with a
    /// clear error (a new scheduler does not know those keys), and we reconnect with backoff.
    fn lost_scheduler(&mut self, ctx: &mut Context<Self>) {
        if self.scheduler.take().is_none() {
            return;
        }
        tracing::error!("lost the connection to the scheduler; reconnecting");
        self.generation += 1;
        let lost = Status::Lost("the connection to the scheduler was lost".into());
        let gone: Vec<Key> = self
            .keys
            .iter()
            .filter(|(_, e)| !matches!(e.status, Status::Memory { value: Some(_), .. }))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(e) = self.keys.get_mut(&k) {
                e.status = lost.clone();
                for w in e.waiters.drain(..) {
                    let _ = w.send(lost.clone());
                }
            }
        }
        self.requests.clear();
        self.outbox.retain(|m| !matches!(m, FromClient::Heartbeat));
        let (addr, hello, me) = (
            self.scheduler_addr.clone(),
            self.hello.clone(),
            ctx.address(),
        );
        actix::spawn(async move {
            let mut delay = Duration::from_millis(50);
            loop {
                match dealer::connect(&addr, hello.clone(), Some(Duration::from_secs(2))).await {
                    Ok(conn) => {
                        me.do_send(Reconnected(conn));
                        return;
                    }
                    Err(e @ Error::Protocol(_)) => {
                        tracing::error!("the scheduler at {addr} refused to take us back: {e}");
                        return;
                    }
                    Err(_) if !me.connected() => return,
                    Err(e) => tracing::debug!("scheduler at {addr} not back yet: {e}"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        });
    }

    /// One shared copy of each data-store address, however many keys live there.
    fn intern_addr(&mut self, addr: String) -> Arc<str> {
        if let Some(a) = self.addrs.get(addr.as_str()) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(addr);
        self.addrs.insert(a.clone());
        a
    }

    fn flush_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(Flush);
        }
    }

    fn set_status(&mut self, key: &Key, status: Status) {
        if let Some(e) = self.keys.get_mut(key) {
            e.status = status.clone();
            if !matches!(status, Status::Pending) {
                for w in e.waiters.drain(..) {
                    let _ = w.send(status.clone());
                }
            }
        }
    }

    fn add_ref(&mut self, key: Key, status: Status) {
        let e = self.keys.entry(key).or_insert_with(|| Entry {
            refs: 0,
            status: Status::Pending,
            waiters: Vec::new(),
        });
        e.refs += 1;
        if !matches!(status, Status::Pending) {
            e.status = status;
        }
    }

    fn on_message(&mut self, msg: ToClient) {
        match msg {
            ToClient::InMemory(InMemoryMsg {
                key,
                worker,
                addr,
                nbytes,
                value,
            }) => {
                let addr = self.intern_addr(addr);
                self.set_status(
                    &key,
                    Status::Memory {
                        worker,
                        addr,
                        nbytes,
                        value,
                    },
                )
            }
            ToClient::Erred(e) => {
                let key = e.key.clone();
                self.set_status(&key, Status::Erred(e));
            }
            ToClient::Reply { req, reply } => {
                if let Some(tx) = self.requests.remove(&req.0) {
                    let _ = tx.send(reply);
                }
            }
        }
    }
}

impl StreamHandler<SchedulerEvent> for ClientActor {
    fn handle(
        &mut self,
        SchedulerEvent(generation, event): SchedulerEvent,
        ctx: &mut Context<Self>,
    ) {
        if generation != self.generation {
            return;
        }
        match event {
            DealerEvent::Message(frames) => match decode_batch::<ToClient>(frames) {
                Ok(batch) => batch.messages.into_iter().for_each(|m| self.on_message(m)),
                Err(e) => tracing::warn!("dropping malformed message from the scheduler: {e}"),
            },
            DealerEvent::Disconnected => self.lost_scheduler(ctx),
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<Reconnected> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Reconnected, ctx: &mut Context<Self>) {
        tracing::info!("reconnected to the scheduler");
        let generation = self.generation;
        ctx.add_stream(msg.0.events.map(move |e| SchedulerEvent(generation, e)));
        self.scheduler = Some(msg.0.sender);
        self.flush();
    }
}

/// Submit tasks; every wanted spec adds one reference to its key.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit(pub Vec<TaskSpec>);

impl Handler<Submit> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Submit, ctx: &mut Context<Self>) {
        for spec in msg.0.iter().filter(|s| s.wanted) {
            self.add_ref(spec.key.clone(), Status::Pending);
        }
        // Consecutive submissions travel as one Submit.
        if let Some(FromClient::Submit(specs)) = self.outbox.last_mut() {
            specs.extend(msg.0);
        } else {
            self.outbox.push(FromClient::Submit(msg.0));
        }
        self.flush_soon(ctx);
    }
}

/// The last handle of a future for this key was dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DropRef(pub Key);

impl Handler<DropRef> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: DropRef, ctx: &mut Context<Self>) {
        let Some(e) = self.keys.get_mut(&msg.0) else {
            return;
        };
        e.refs -= 1;
        if e.refs == 0 {
            self.keys.remove(&msg.0);
            if let Some(FromClient::Release(keys)) = self.outbox.last_mut() {
                keys.push(msg.0);
            } else {
                self.outbox.push(FromClient::Release(vec![msg.0]));
            }
            self.flush_soon(ctx);
        }
    }
}

/// Cancel keys: their futures resolve as cancelled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Cancel(pub Vec<Key>);

impl Handler<Cancel> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Cancel, _ctx: &mut Context<Self>) {
        for k in &msg.0 {
            if let Some(e) = self.keys.get(k) {
                if matches!(e.status, Status::Pending) {
                    self.set_status(k, Status::Cancelled);
                }
            }
        }
        self.outbox.push(FromClient::Cancel(msg.0));
        self.flush();
    }
}

/// Wait until a key is done (memory, erred, cancelled or lost).
#[derive(Message)]
#[rtype(result = "Status")]
pub struct WaitStatus(pub Key);

impl Handler<WaitStatus> for ClientActor {
    type Result = ResponseFuture<Status>;
    fn handle(&mut self, msg: WaitStatus, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(e) = self.keys.get_mut(&msg.0) else {
            let s = Status::Lost(format!("{} is not held by this client", msg.0));
            return Box::pin(async move { s });
        };
        if !matches!(e.status, Status::Pending) {
            let s = e.status.clone();
            return Box::pin(async move { s });
        }
        let (tx, rx) = oneshot::channel();
        e.waiters.push(tx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Status::Lost("the client closed".into()))
        })
    }
}

/// The holder did not have the value: tell the scheduler and wait again.
#[derive(Message)]
#[rtype(result = "()")]
struct Missing {
    key: Key,
    worker: WorkerId,
}

impl Handler<Missing> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Missing, _ctx: &mut Context<Self>) {
        if let Some(e) = self.keys.get(&msg.key) {
            if matches!(&e.status, Status::Memory { worker, .. } if *worker == msg.worker) {
                self.set_status(&msg.key, Status::Pending);
                self.outbox.push(FromClient::MissingData {
                    key: msg.key,
                    worker: msg.worker,
                });
                self.flush();
            }
        }
    }
}

/// Wait until every key is done; statuses in order.
#[derive(Message)]
#[rtype(result = "Vec<Status>")]
pub struct WaitAll(pub Vec<Key>);

impl Handler<WaitAll> for ClientActor {
    type Result = ResponseFuture<Vec<Status>>;
    fn handle(&mut self, msg: WaitAll, _ctx: &mut Context<Self>) -> Self::Result {
        let mut ready: Vec<Option<Status>> = Vec::with_capacity(msg.0.len());
        let mut waits = Vec::new();
        for (i, key) in msg.0.iter().enumerate() {
            match self.keys.get_mut(key) {
                None => ready.push(Some(Status::Lost(format!(
                    "{key} is not held by this client"
                )))),
                Some(e) if !matches!(e.status, Status::Pending) => {
                    ready.push(Some(e.status.clone()))
                }
                Some(e) => {
                    let (tx, rx) = oneshot::channel();
                    e.waiters.push(tx);
                    waits.push((i, rx));
                    ready.push(None);
                }
            }
        }
        Box::pin(async move {
            for (i, rx) in waits {
                ready[i] = Some(
                    rx.await
                        .unwrap_or_else(|_| Status::Lost("the client closed".into())),
                );
            }
            ready.into_iter().map(|s| s.expect("filled")).collect()
        })
    }
}

/// Fetch the encoded values of keys (waiting for them to be computed first).
#[derive(Message)]
#[rtype(result = "Result<Vec<Bytes>>")]
pub struct Fetch(pub Vec<Key>);

impl Handler<Fetch> for ClientActor {
    type Result = ResponseFuture<Result<Vec<Bytes>>>;
    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        let me = ctx.address();
        let stores = self.stores.clone();
        Box::pin(fetch(me, stores, msg.0))
    }
}

async fn fetch(me: Addr<ClientActor>, stores: StorePool, keys: Vec<Key>) -> Result<Vec<Bytes>> {
    let closed = |_| Error::Closed("client".into());
    let mut values: Vec<Option<Bytes>> = vec![None; keys.len()];
    for _ in 0..FETCH_ATTEMPTS {
        // Where is each missing value?
        let mut by_store: HashMap<Arc<str>, (WorkerId, Vec<usize>)> = HashMap::default();
        let todo: Vec<usize> = (0..keys.len()).filter(|i| values[*i].is_none()).collect();
        let statuses = me
            .send(WaitAll(todo.iter().map(|i| keys[*i].clone()).collect()))
            .await
            .map_err(closed)?;
        for (i, status) in todo.into_iter().zip(statuses) {
            match status {
                Status::Memory { value: Some(v), .. } => values[i] = Some(v),
                Status::Memory { worker, addr, .. } => {
                    by_store.entry(addr).or_insert((worker, vec![])).1.push(i)
                }
                other => return Err(other.into_error(&keys[i])),
            }
        }
        if by_store.is_empty() {
            return Ok(values
                .into_iter()
                .map(|v| v.expect("all fetched"))
                .collect());
        }
        for (addr, (worker, idx)) in by_store {
            let wanted: Vec<Key> = idx.iter().map(|i| keys[*i].clone()).collect();
            match stores.get(&addr, wanted).await {
                Ok(got) => {
                    for (i, (key, value)) in idx.iter().zip(got) {
                        match value {
                            Some(v) => values[*i] = Some(v),
                            None => me.do_send(Missing { key, worker }),
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%addr, "fetch failed: {e}");
                    for i in idx {
                        me.do_send(Missing {
                            key: keys[i].clone(),
                            worker,
                        });
                    }
                }
            }
        }
    }
    Err(Error::Transport {
        addr: "data-stores".into(),
        message: format!("values still missing after {FETCH_ATTEMPTS} attempts"),
    })
}

/// Values the client placed in a worker's data-store; adds one reference per key.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub struct Scatter {
    /// The worker that will hold them.
    pub worker: WorkerId,
    /// Its data-store address.
    pub addr: String,
    /// Keys and encoded values.
    pub values: Vec<(Key, Bytes)>,
}

impl Handler<Scatter> for ClientActor {
    type Result = ResponseActFuture<Self, Result<()>>;
    fn handle(&mut self, msg: Scatter, _ctx: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        let Scatter {
            worker,
            addr,
            values,
        } = msg;
        let fut = async move {
            let mut stored = Vec::with_capacity(values.len());
            for (key, value) in values {
                let n = stores.put(&addr, key.clone(), value).await?;
                stored.push((key, n));
            }
            Ok::<_, Error>((worker, addr, stored))
        };
        Box::pin(fut.into_actor(self).map(|res, act, _| {
            let (worker, addr, stored) = res?;
            for (key, nbytes) in &stored {
                act.add_ref(
                    key.clone(),
                    Status::Memory {
                        worker,
                        addr: addr.as_str().into(),
                        nbytes: *nbytes,
                        value: None,
                    },
                );
            }
            act.outbox.push(FromClient::Scattered(ScatteredMsg {
                worker,
                keys: stored,
            }));
            act.flush();
            Ok(())
        }))
    }
}

/// A request to the scheduler (`WhoHas`, `Info`); the request id is filled in here.
#[derive(Message)]
#[rtype(result = "Result<Reply>")]
pub struct Request(pub Box<dyn FnOnce(RequestId) -> FromClient + Send>);

impl Handler<Request> for ClientActor {
    type Result = ResponseFuture<Result<Reply>>;
    fn handle(&mut self, msg: Request, _ctx: &mut Context<Self>) -> Self::Result {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        let (tx, rx) = oneshot::channel();
        self.requests.insert(req.0, tx);
        self.outbox.push((msg.0)(req));
        self.flush();
        Box::pin(async move {
            rx.await
                .map_err(|_| Error::Closed("the connection to the scheduler".into()))
        })
    }
}

/// Say goodbye and stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Close;

impl Handler<Close> for ClientActor {
    type Result = ();
    fn handle(&mut self, _msg: Close, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
