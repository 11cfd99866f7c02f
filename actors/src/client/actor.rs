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
    decode_batch, encode_batch, FromClient, InMemoryMsg, Key, Reply, RequestId, TaskSpec, ToClient,
};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::time::Duration;

/// An event of scheduler connection number `.0` (events of older connections are ignored).
struct SchedulerEvent(u64, DealerEvent);

/// A new scheduler connection after a loss.
#[derive(Message)]
#[rtype(result = "()")]
struct Reconnected(dealer::Connection);

pub(super) struct Entry {
    pub(super) refs: usize,
    pub(super) status: Status,
    pub(super) waiters: Vec<oneshot::Sender<Status>>,
}

/// How long released keys may wait in the outbox before they are sent. A release is never
/// urgent, and sent on its own it costs the scheduler (and the worker it frees) a wake-up in
/// the middle of the next round trip; held back, it travels with the next message (the outbox
/// keeps order) or after this delay.
pub const RELEASE_LINGER: Duration = Duration::from_millis(5);

/// How long futures wait for a lost scheduler to come back before failing.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(30);

/// The client actor.
pub struct ClientActor {
    /// `None` while reconnecting; messages wait in the outbox meanwhile.
    scheduler: Option<DealerSender>,
    scheduler_addr: String,
    hello: Bytes,
    generation: u64,
    pub(super) stores: StorePool,
    pub(super) keys: HashMap<Key, Entry>,
    pub(super) requests: HashMap<u64, oneshot::Sender<Reply>>,
    pub(super) next_req: u64,
    /// Topic streams and requests to undo (see [`super::coord`]).
    pub(super) coord: super::coord::CoordState,
    pub(super) outbox: Vec<FromClient>,
    addrs: rustc_hash::FxHashSet<Arc<str>>,
    flush_queued: bool,
    /// A timer will send released keys (see [`RELEASE_LINGER`]).
    release_timer: bool,
    heartbeat: Duration,
    /// Whether futures were alive at the last heartbeat.
    held_keys: bool,
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
            // Every future is gone: give the memory of the last graph back to the OS.
            if c.keys.is_empty() && c.held_keys {
                c.keys.shrink_to_fit();
                crate::datastore::memory::release_memory();
            }
            c.held_keys = !c.keys.is_empty();
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
                coord: Default::default(),
                outbox: Vec::new(),
                addrs: Default::default(),
                flush_queued: false,
                release_timer: false,
                heartbeat,
                held_keys: false,
            }
        })
    }

    pub(super) fn flush(&mut self) {
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

    /// The scheduler went away: reconnect with backoff. Futures stay pending meanwhile; once
    /// back, the client tells the scheduler which keys it still holds (a scheduler restarted
    /// from its journal resolves them; one that does not know them errs them). If the
    /// scheduler is not back within `RECONNECT_GRACE`, futures not resolved with a value fail
    /// with a clear error instead of hanging.
    fn lost_scheduler(&mut self, ctx: &mut Context<Self>) {
        if self.scheduler.take().is_none() {
            return;
        }
        tracing::error!("lost the connection to the scheduler; reconnecting");
        self.generation += 1;
        let generation = self.generation;
        ctx.run_later(RECONNECT_GRACE, move |c, _| {
            if c.scheduler.is_none() && c.generation == generation {
                c.give_up_pending();
            }
        });
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

    /// Fails every future not resolved with a value: the scheduler has been gone too long.
    fn give_up_pending(&mut self) {
        tracing::error!(
            "the scheduler has not come back within {RECONNECT_GRACE:?}; failing pending futures"
        );
        let lost = Status::Lost("the connection to the scheduler was lost".into());
        let gone: Vec<Key> = self
            .keys
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e.status,
                    Status::Pending | Status::Memory { value: None, .. }
                )
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.set_status(&k, lost.clone());
        }
    }

    /// One shared copy of each data-store address, however many keys live there.
    fn intern_addr(&mut self, addr: Arc<str>) -> Arc<str> {
        if let Some(a) = self.addrs.get(&*addr) {
            return a.clone();
        }
        self.addrs.insert(addr.clone());
        addr
    }

    /// Sends released keys with the next flush, or after [`RELEASE_LINGER`].
    pub(super) fn release_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.release_timer {
            self.release_timer = true;
            ctx.run_later(RELEASE_LINGER, |c, _| {
                c.release_timer = false;
                c.flush();
            });
        }
    }

    pub(super) fn flush_soon(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(Flush);
        }
    }

    pub(super) fn set_status(&mut self, key: &Key, status: Status) {
        if let Some(e) = self.keys.get_mut(key) {
            e.status = status.clone();
            if !matches!(status, Status::Pending) {
                for w in e.waiters.drain(..) {
                    let _ = w.send(status.clone());
                }
            }
        }
    }

    pub(super) fn add_ref(&mut self, key: Key, status: Status) {
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
                // After a restart without a journal the scheduler has forgotten keys whose
                // values we already hold: keep those values (not an actor's: its value only
                // names it, the object is gone).
                let have_value = !rask_protocol::is_actor_function(&e.function)
                    && self
                        .keys
                        .get(&key)
                        .is_some_and(|x| matches!(x.status, Status::Memory { value: Some(_), .. }));
                if !(have_value && e.kind == rask_protocol::TaskErrorKind::LostData) {
                    self.set_status(&key, Status::Erred(e));
                }
            }
            ToClient::Reply { req, reply } => self.deliver_reply(req, reply),
            ToClient::Event { topic, value } => self.on_topic_event(topic, value),
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
        // Tell the (maybe new) scheduler which keys we still hold futures for, before
        // anything queued while we were away.
        let live: Vec<Key> = self
            .keys
            .iter()
            .filter(|(_, e)| {
                !matches!(
                    e.status,
                    Status::Erred(_) | Status::Cancelled | Status::Lost(_)
                )
            })
            .map(|(k, _)| k.clone())
            .collect();
        if !live.is_empty() {
            self.outbox.insert(0, FromClient::Resume(live));
        }
        self.coord_reconnected();
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
            self.release_soon(ctx);
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
