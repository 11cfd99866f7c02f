//! Client side of the coordination primitives: sending a [`CoordOp`] and waiting for its
//! answer, taking over the keys an answer hands to this client, and routing topic events to
//! subscription streams.
//!
//! A request that waits (queue `get`, lock `acquire`, event `wait`, …) is answered by the
//! scheduler when its condition is met or when its timeout passes; the client does not poll.
//! If the scheduler does not answer within the timeout plus [`GRACE`], the caller gets
//! [`Error::Timeout`]; if the connection to the scheduler is lost meanwhile, [`Error::Closed`].

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

/// Streams of topic events, by topic.
#[derive(Default)]
pub struct Subscriptions {
    topics: HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>,
}

impl ClientActor {
    /// Hands an event to every live stream of its topic; once none is left, the scheduler
    /// is told to stop sending the topic.
    pub(super) fn on_topic_event(&mut self, topic: String, value: Bytes) {
        let senders = self.topics.topics.entry(topic.clone()).or_default();
        senders.retain(|s| s.unbounded_send(value.clone()).is_ok());
        if senders.is_empty() {
            self.topics.topics.remove(&topic);
            let req = RequestId(self.next_req);
            self.next_req += 1;
            let op = CoordOp::Unsubscribe { topic };
            self.outbox.push(FromClient::Coord { req, op });
            self.flush();
        }
    }
}

/// Send a coordination operation; answered with the scheduler's reply.
#[derive(Message)]
#[rtype(result = "Result<CoordReply>")]
pub(super) struct CoordRequest(pub CoordOp);

impl Handler<CoordRequest> for ClientActor {
    type Result = ResponseFuture<Result<CoordReply>>;
    fn handle(&mut self, msg: CoordRequest, _ctx: &mut Context<Self>) -> Self::Result {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        let (tx, rx) = oneshot::channel();
        self.requests.insert(req.0, tx);
        self.outbox.push(FromClient::Coord { req, op: msg.0 });
        self.flush();
        Box::pin(async move {
            match rx.await {
                Ok(Reply::Coord(r)) => Ok(r),
                Ok(other) => Err(Error::Closed(format!("unexpected reply {other:?}"))),
                Err(_) => Err(Error::Closed("the connection to the scheduler".into())),
            }
        })
    }
}

/// Register a stream for a topic's events (before the subscription is sent, so no event
/// confirmed after it is missed).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct AddStream(pub String, pub mpsc::UnboundedSender<Bytes>);

impl Handler<AddStream> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: AddStream, _ctx: &mut Context<Self>) {
        let senders = self.topics.topics.entry(msg.0).or_default();
        senders.retain(|s| !s.is_closed());
        senders.push(msg.1);
    }
}

impl ClientActor {
    /// Answers a request; keys the answer hands over become this client's (one reference
    /// each, taken by the futures the caller builds, released if nobody waits any more).
    pub(super) fn deliver_reply(&mut self, req: RequestId, reply: Reply) {
        let keys = match &reply {
            Reply::Coord(r) => r.keys(),
            _ => Vec::new(),
        };
        for k in &keys {
            self.add_ref(k.clone(), Status::Pending);
        }
        let delivered = match self.requests.remove(&req.0) {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        };
        if !delivered && !keys.is_empty() {
            for k in keys {
                self.unref(k);
            }
            self.flush();
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
        let send = self.actor().send(CoordRequest(op));
        let reply = match timeout {
            None => send.await,
            Some(t) => {
                let timer = futures_timer::Delay::new(t + GRACE);
                match futures::future::select(std::pin::pin!(send), timer).await {
                    futures::future::Either::Left((r, _)) => r,
                    futures::future::Either::Right(_) => return Err(Error::Timeout(t, what())),
                }
            }
        };
        match reply.map_err(|_| Error::Closed("client".into()))?? {
            CoordReply::Timeout => Err(Error::Timeout(timeout.unwrap_or_default(), what())),
            CoordReply::Refused(why) => Err(Error::Coordination(why)),
            other => Ok(other),
        }
    }

    /// Turns a handed-over key into a future (the reference was taken on arrival).
    pub(super) fn adopt<T>(&self, key: Key) -> crate::client::Future<T> {
        crate::client::Future::new(key, self.actor().clone())
    }

    /// Reads an item: a value is decoded, a key's result fetched.
    pub(super) async fn item_value<T: DeserializeOwned>(&self, item: Item) -> Result<T> {
        match item {
            Item::Value(bytes) => decode_as::<T>(&Key::new("item"), &bytes),
            Item::Key(key) => self.adopt::<T>(key).get().await,
        }
    }

    /// Registers a stream for `topic` (used by [`Client::subscribe`]).
    pub(super) fn add_stream(&self, topic: String, tx: mpsc::UnboundedSender<Bytes>) {
        self.actor().do_send(AddStream(topic, tx));
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
