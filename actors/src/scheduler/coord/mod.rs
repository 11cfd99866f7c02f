//! Cluster-wide coordination primitives hosted by the scheduler: named queues, variables,
//! locks and semaphores (leases), events, topics, and published datasets.
//!
//! Each primitive is a small state machine of its own ([`queue`], [`lease`], [`cells`],
//! [`topics`]) that turns an operation into [`Effects`]: replies to waiting requests and keys
//! that left the primitive. The glue (methods on [`Core`], here and in `holds`) dispatches
//! operations and applies the effects: sends the replies, hands keys to the clients that
//! received them, and keeps every key stored in a primitive alive by holding it for
//! [`HOLDER`], a client id no connection ever gets.
//!
//! Nothing waits by polling: a blocked `get`, `acquire` or `wait` is answered when the
//! condition is met, or on the scheduler tick once its deadline passed. A client that leaves
//! (goodbye, lost connection, or silence past the client TTL) gives back its leases and its
//! blocked requests are dropped.
//!
//! None of this is journaled: a scheduler restarted from its journal starts with no queues,
//! variables, leases, events, subscriptions or datasets.

pub mod cells;
mod holds;
pub mod lease;
pub mod queue;
pub mod topics;

use super::core::{Core, Outbox};
use rask_protocol::{ClientId, CoordOp, CoordReply, Item, Key, RequestId, ToClient};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The client id that holds the keys stored in queues, variables and datasets (client ids
/// handed to connections start at 1).
pub const HOLDER: ClientId = ClientId(0);

/// A request waiting for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// Who asked.
    pub client: ClientId,
    /// The request to answer.
    pub req: RequestId,
    /// When to give up and answer [`CoordReply::Timeout`] (`None`: never).
    pub deadline: Option<Instant>,
}

impl Waiter {
    /// True once the deadline passed.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }
}

/// What one step of a primitive produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// Answers to send, in order.
    pub replies: Vec<(Waiter, CoordReply)>,
    /// Keys that left a primitive (taken, overwritten, timed out, unpublished): the hold on
    /// each is dropped after the replies went out.
    pub dropped: Vec<Key>,
}

impl Effects {
    /// Answers a request.
    pub fn reply(&mut self, w: Waiter, reply: CoordReply) {
        self.replies.push((w, reply));
    }

    /// Hands an item over to a request: the item leaves its primitive.
    pub fn give(&mut self, w: Waiter, item: Item) {
        if let Item::Key(k) = &item {
            self.dropped.push(k.clone());
        }
        self.reply(w, CoordReply::Item(item));
    }

    /// Hands several items over to a request at once.
    pub fn give_many(&mut self, w: Waiter, items: Vec<Item>) {
        for item in &items {
            if let Item::Key(k) = item {
                self.dropped.push(k.clone());
            }
        }
        self.reply(w, CoordReply::Items(items));
    }

    /// An item is thrown away (its put timed out, its client left).
    pub fn drop_item(&mut self, item: Item) {
        if let Item::Key(k) = item {
            self.dropped.push(k);
        }
    }
}

/// Every coordination primitive, by name.
#[derive(Default)]
pub struct Coord {
    queues: HashMap<String, queue::Queue>,
    semaphores: HashMap<String, lease::Semaphore>,
    variables: HashMap<String, cells::Variable>,
    events: HashMap<String, cells::Event>,
    topics: topics::Topics,
    datasets: BTreeMap<String, Vec<Key>>,
    /// How many places store each key (queues, variables, datasets).
    held: HashMap<Key, u32>,
    next_lease: u64,
}

impl Coord {
    /// Drops primitives that hold nothing and nobody waits on (they are made again by name).
    fn collect_idle(&mut self) {
        self.queues.retain(|_, q| !q.is_idle());
        self.semaphores.retain(|_, s| !s.is_idle());
        self.variables.retain(|_, v| !v.is_idle());
        self.events.retain(|_, e| !e.is_idle());
    }

    /// Ends a request its client gave up on, wherever it waits.
    fn withdraw(&mut self, client: ClientId, req: RequestId, fx: &mut Effects) {
        self.queues
            .values_mut()
            .for_each(|q| q.withdraw(client, req, fx));
        self.semaphores
            .values_mut()
            .for_each(|s| s.withdraw(client, req, fx));
        self.variables
            .values_mut()
            .for_each(|v| v.withdraw(client, req, fx));
        self.events
            .values_mut()
            .for_each(|e| e.withdraw(client, req, fx));
    }

    /// Number of primitives alive and keys held (for tests and leak checks).
    pub fn sizes(&self) -> (usize, usize) {
        let n = self.queues.len()
            + self.semaphores.len()
            + self.variables.len()
            + self.events.len()
            + self.datasets.len();
        (n, self.held.len())
    }
}

fn deadline(now: Instant, timeout_ms: Option<u64>) -> Option<Instant> {
    timeout_ms.map(|ms| now + Duration::from_millis(ms))
}

impl Core {
    /// A coordination request from a client.
    pub(super) fn on_coord(
        &mut self,
        client: ClientId,
        req: RequestId,
        op: CoordOp,
        out: &mut impl Outbox,
    ) {
        if self.stand_ins.contains(&client) {
            return; // replayed from a journal: coordination state is not recovered
        }
        let now = self.now;
        let w = move |timeout_ms| Waiter {
            client,
            req,
            deadline: deadline(now, timeout_ms),
        };
        let mut fx = Effects::default();
        let c = &mut self.coord;
        match op {
            CoordOp::QueuePut {
                name,
                maxsize,
                item,
                timeout_ms,
            } => {
                if self.hold_item(&item, w(None), &mut fx, out) {
                    let q = self
                        .coord
                        .queues
                        .entry(name)
                        .or_insert_with(|| queue::Queue::new(maxsize as usize));
                    q.put(w(timeout_ms), item, now, &mut fx);
                }
            }
            CoordOp::QueueGet {
                name,
                maxsize,
                timeout_ms,
            } => c
                .queues
                .entry(name)
                .or_insert_with(|| queue::Queue::new(maxsize as usize))
                .get(w(timeout_ms), None, now, &mut fx),
            CoordOp::QueueGetBatch {
                name,
                maxsize,
                max,
                timeout_ms,
            } => c
                .queues
                .entry(name)
                .or_insert_with(|| queue::Queue::new(maxsize as usize))
                .get(w(timeout_ms), Some(max.max(1) as usize), now, &mut fx),
            CoordOp::QueueSize { name } => {
                let n = c.queues.get(&name).map_or(0, |q| q.len());
                fx.reply(w(None), CoordReply::Count(n as u64));
            }
            CoordOp::VariableSet { name, item } => {
                if self.hold_item(&item, w(None), &mut fx, out) {
                    let v = self.coord.variables.entry(name).or_default();
                    v.set(item, &mut fx);
                    fx.reply(w(None), CoordReply::Done);
                }
            }
            CoordOp::VariableGet { name, timeout_ms } => {
                c.variables
                    .entry(name)
                    .or_default()
                    .get(w(timeout_ms), now, &mut fx)
            }
            CoordOp::VariableDelete { name } => {
                if let Some(v) = c.variables.get_mut(&name) {
                    v.delete(&mut fx);
                }
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::Acquire {
                name,
                max_leases,
                lease_ms,
                timeout_ms,
            } => {
                let lease_for = lease_ms.map(Duration::from_millis);
                c.semaphores
                    .entry(name)
                    .or_insert_with(|| lease::Semaphore::new(max_leases))
                    .acquire(w(timeout_ms), lease_for, now, &mut c.next_lease, &mut fx)
            }
            CoordOp::Release { name, lease } => match c.semaphores.get_mut(&name) {
                Some(s) => s.release(w(None), lease, now, &mut c.next_lease, &mut fx),
                None => fx.reply(
                    w(None),
                    CoordReply::Refused(format!("{name} has no lease {lease}")),
                ),
            },
            CoordOp::EventSet { name } => {
                c.events.entry(name).or_default().set(&mut fx);
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::EventClear { name } => {
                if let Some(e) = c.events.get_mut(&name) {
                    e.clear();
                }
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::EventWait { name, timeout_ms } => {
                c.events
                    .entry(name)
                    .or_default()
                    .wait(w(timeout_ms), now, &mut fx)
            }
            CoordOp::EventIsSet { name } => {
                let set = c.events.get(&name).is_some_and(|e| e.is_set());
                fx.reply(w(None), CoordReply::Flag(set));
            }
            CoordOp::LogEvent { topic, value } => {
                for sub in c.topics.subscribers(&topic) {
                    let (topic, value) = (topic.clone(), value.clone());
                    out.to_client(sub, ToClient::Event { topic, value });
                }
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::Subscribe { topic } => {
                c.topics.subscribe(topic, client);
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::Unsubscribe { topic } => {
                c.topics.unsubscribe(&topic, client);
                fx.reply(w(None), CoordReply::Done);
            }
            CoordOp::PublishDataset {
                name,
                keys,
                replace,
            } => self.publish(w(None), (name, keys), replace, &mut fx, out),
            CoordOp::GetDataset { name } => {
                let reply = match c.datasets.get(&name) {
                    Some(keys) => CoordReply::Keys(keys.clone()),
                    None => CoordReply::Refused(format!("no dataset named {name}")),
                };
                fx.reply(w(None), reply);
            }
            CoordOp::ListDatasets => {
                let names = c.datasets.keys().cloned().collect();
                fx.reply(w(None), CoordReply::Names(names));
            }
            CoordOp::UnpublishDataset { name } => match c.datasets.remove(&name) {
                Some(keys) => {
                    fx.dropped.extend(keys);
                    fx.reply(w(None), CoordReply::Done);
                }
                None => fx.reply(
                    w(None),
                    CoordReply::Refused(format!("no dataset named {name}")),
                ),
            },
            CoordOp::Withdraw { req } => c.withdraw(client, req, &mut fx),
        }
        self.apply_coord(fx, out);
    }

    /// A client left: its leases go back, its waiting requests and subscriptions end.
    pub(super) fn coord_client_gone(&mut self, client: ClientId, out: &mut impl Outbox) {
        let now = self.now;
        let mut fx = Effects::default();
        let c = &mut self.coord;
        for q in c.queues.values_mut() {
            q.client_gone(client, &mut fx);
        }
        for s in c.semaphores.values_mut() {
            s.client_gone(client, now, &mut c.next_lease, &mut fx);
        }
        c.variables.values_mut().for_each(|v| v.client_gone(client));
        c.events.values_mut().for_each(|e| e.client_gone(client));
        c.topics.client_gone(client);
        self.apply_coord(fx, out);
    }

    /// Answers waits whose deadline passed and ends leases whose time is up.
    pub(super) fn coord_tick(&mut self, now: Instant, out: &mut impl Outbox) {
        let mut fx = Effects::default();
        let c = &mut self.coord;
        for q in c.queues.values_mut() {
            q.expire(now, &mut fx);
        }
        for s in c.semaphores.values_mut() {
            s.expire(now, &mut c.next_lease, &mut fx);
        }
        c.variables
            .values_mut()
            .for_each(|v| v.expire(now, &mut fx));
        c.events.values_mut().for_each(|e| e.expire(now, &mut fx));
        c.collect_idle();
        self.apply_coord(fx, out);
    }

    /// The coordination state (for tests and leak checks).
    pub fn coord(&self) -> &Coord {
        &self.coord
    }
}
