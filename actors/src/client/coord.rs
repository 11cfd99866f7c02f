//! Client side of the coordination primitives: sending a [`CoordOp`] and waiting for its
//! answer, taking over the keys an answer hands to this client, and cleaning up after callers
//! that stop waiting.
//!
//! A request that waits (queue `get`, lock `acquire`, event `wait`, …) is answered by the
//! scheduler when its condition is met or when its timeout passes; the client does not poll.
//! If the scheduler does not answer within the timeout plus [`GRACE`], the caller gets
//! [`Error::Timeout`]; if the connection to the scheduler is lost meanwhile, [`Error::Closed`].
//!
//! A caller that stops waiting (its Rust future dropped, or the grace ran out) withdraws its
//! request on the scheduler. If the answer was already on its way, nothing is lost: an item
//! taken from a queue is put back (at the end of the queue), a lease granted is released.

use super::actor::ClientActor;
use super::future::{decode_as, Status};
use super::handle::Client;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use rask_protocol::{CoordOp, CoordReply, FromClient, Item, Key, Reply, RequestId};
use rustc_hash::FxHashMap as HashMap;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long past its own timeout a request waits for the scheduler's answer before failing.
pub const GRACE: Duration = Duration::from_secs(5);

/// What to do with an answer nobody waits for any more.
enum Undo {
    /// Put a taken item back into this queue.
    Requeue(String),
    /// Release a granted lease of this semaphore.
    Release(String),
}

/// The client actor's coordination state.
#[derive(Default)]
pub struct CoordState {
    /// Streams of topic events, by topic.
    pub(super) streams: HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>,
    /// Requests whose answer must be undone if nobody takes it.
    undo: HashMap<u64, Undo>,
}

/// Send a coordination operation; answered with its request id and the receiver of the
/// scheduler's reply.
#[derive(Message)]
#[rtype(result = "(RequestId, oneshot::Receiver<Reply>)")]
pub(super) struct CoordRequest(pub CoordOp);

impl Handler<CoordRequest> for ClientActor {
    type Result = MessageResult<CoordRequest>;
    fn handle(&mut self, msg: CoordRequest, _ctx: &mut Context<Self>) -> Self::Result {
        let undo = match &msg.0 {
            CoordOp::QueueGet { name, .. } | CoordOp::QueueGetBatch { name, .. } => {
                Some(Undo::Requeue(name.clone()))
            }
            CoordOp::Acquire { name, .. } => Some(Undo::Release(name.clone())),
            _ => None,
        };
        let (tx, rx) = oneshot::channel();
        let req = self.send_coord(msg.0);
        self.requests.insert(req.0, tx);
        if let Some(undo) = undo {
            self.coord.undo.insert(req.0, undo);
        }
        MessageResult((req, rx))
    }
}

/// The caller of request `.0` stopped waiting.
#[derive(Message)]
#[rtype(result = "()")]
struct Withdraw(RequestId);

impl Handler<Withdraw> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: Withdraw, _ctx: &mut Context<Self>) {
        if self.requests.remove(&msg.0 .0).is_some() {
            self.send_coord(CoordOp::Withdraw { req: msg.0 });
        }
    }
}

impl ClientActor {
    /// Sends an operation under a fresh request id (nothing waits for the answer unless the
    /// caller registers it).
    pub(super) fn send_coord(&mut self, op: CoordOp) -> RequestId {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.outbox.push(FromClient::Coord { req, op });
        self.flush();
        req
    }

    /// Answers a request; keys the answer hands over become this client's (one reference
    /// each, taken by the futures the caller builds). An answer nobody waits for is undone.
    pub(super) fn deliver_reply(&mut self, req: RequestId, reply: Reply) {
        let undo = self.coord.undo.remove(&req.0);
        let keys = match &reply {
            Reply::Coord(r) => r.keys(),
            _ => Vec::new(),
        };
        for k in &keys {
            self.add_ref(k.clone(), Status::Pending);
        }
        let reply = match self.requests.remove(&req.0) {
            Some(tx) => match tx.send(reply) {
                Ok(()) => return,
                Err(reply) => reply,
            },
            None => reply,
        };
        match (undo, reply) {
            (Some(Undo::Requeue(name)), Reply::Coord(CoordReply::Item(item))) => {
                self.requeue(name, vec![item]);
            }
            (Some(Undo::Requeue(name)), Reply::Coord(CoordReply::Items(items))) => {
                self.requeue(name, items);
            }
            (Some(Undo::Release(name)), Reply::Coord(CoordReply::Lease(lease))) => {
                tracing::debug!(semaphore = %name, "releasing a lease nobody waits for");
                self.send_coord(CoordOp::Release { name, lease });
            }
            _ => {}
        }
        for k in keys {
            self.unref(k);
        }
        self.flush();
    }

    /// Puts items nobody waits for back at the end of their queue.
    fn requeue(&mut self, name: String, items: Vec<Item>) {
        tracing::debug!(queue = %name, n = items.len(), "putting back items nobody waits for");
        for item in items {
            let op = CoordOp::QueuePut {
                name: name.clone(),
                maxsize: 0,
                item,
                timeout_ms: None,
            };
            self.send_coord(op);
        }
    }

    /// Drops one reference to `key`, releasing it on the cluster at zero.
    fn unref(&mut self, key: Key) {
        let Some(e) = self.keys.get_mut(&key) else {
            return;
        };
        e.refs -= 1;
        if e.refs == 0 {
            self.keys.remove(&key);
            self.outbox.push(FromClient::Release(vec![key]));
        }
    }

    /// Back on a (maybe new) scheduler: answers of the old one will not come, and topic
    /// subscriptions are made again.
    pub(super) fn coord_reconnected(&mut self) {
        self.coord.undo.clear();
        let topics: Vec<String> = self.coord.streams.keys().cloned().collect();
        for topic in topics {
            self.send_coord(CoordOp::Subscribe { topic });
        }
    }
}

/// Withdraws its request when dropped before [`Pending::done`].
struct Pending {
    actor: Addr<ClientActor>,
    req: RequestId,
    done: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.actor.do_send(Withdraw(self.req));
        }
    }
}

impl Client {
    /// Sends `op` and waits for the answer; `timeout` is the operation's own timeout (the
    /// scheduler answers by then), `what` names it in errors.
    pub(super) async fn coord(
        &self,
        op: CoordOp,
        timeout: Option<Duration>,
        what: impl FnOnce() -> String,
    ) -> Result<CoordReply> {
        let (req, rx) = self
            .actor_addr()
            .send(CoordRequest(op))
            .await
            .map_err(|_| Error::Closed("client".into()))?;
        let mut pending = Pending {
            actor: self.actor_addr().clone(),
            req,
            done: false,
        };
        let reply = match timeout {
            None => rx.await,
            Some(t) => {
                let timer = futures_timer::Delay::new(t + GRACE);
                match futures::future::select(rx, timer).await {
                    futures::future::Either::Left((r, _)) => r,
                    futures::future::Either::Right(_) => return Err(Error::Timeout(t, what())),
                }
            }
        };
        pending.done = true;
        let reply = reply.map_err(|_| Error::Closed("the connection to the scheduler".into()))?;
        match reply {
            Reply::Coord(CoordReply::Timeout) => {
                Err(Error::Timeout(timeout.unwrap_or_default(), what()))
            }
            Reply::Coord(CoordReply::Refused(why)) => Err(Error::Coordination(why)),
            Reply::Coord(other) => Ok(other),
            other => Err(Error::Closed(format!("unexpected reply {other:?}"))),
        }
    }

    /// Turns a handed-over key into a future (the reference was taken on arrival).
    pub(super) fn adopt<T>(&self, key: Key) -> crate::client::Future<T> {
        crate::client::Future::new(key, self.actor_addr().clone())
    }

    /// An item that must be a future (`what` names where it came from in the error).
    pub(super) fn item_future<T>(
        &self,
        item: Item,
        what: impl FnOnce() -> String,
    ) -> Result<crate::client::Future<T>> {
        match item {
            Item::Key(key) => Ok(self.adopt(key)),
            Item::Value(_) => Err(Error::Coordination(format!(
                "{} held a value where a future was expected",
                what()
            ))),
        }
    }

    /// Reads an item: a value is decoded, a key's result fetched.
    pub(super) async fn item_value<T: DeserializeOwned>(&self, item: Item) -> Result<T> {
        match item {
            Item::Value(bytes) => decode_as::<T>(&Key::new("item"), &bytes),
            Item::Key(key) => self.adopt::<T>(key).get().await,
        }
    }
}

/// Milliseconds for the wire.
pub(super) fn ms(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_millis().min(u64::MAX as u128) as u64)
}

/// The wrong kind of answer (a scheduler bug or a version mix-up).
pub(super) fn unexpected(reply: CoordReply) -> Error {
    Error::Closed(format!("unexpected coordination reply {reply:?}"))
}
