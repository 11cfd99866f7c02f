//! Coordination requests and their answers: the cluster-wide queues, variables, locks,
//! semaphores, events, topics and published datasets the scheduler hosts.
//!
//! A client sends [`crate::FromClient::Coord`] with a [`CoordOp`]; the scheduler answers with
//! [`crate::Reply::Coord`] carrying a [`CoordReply`] — at once, or later for an operation that
//! waits (a `get` on an empty queue, an `acquire` of a held lock, …), at the latest when the
//! operation's timeout passes. Events logged on a topic reach subscribers as
//! [`crate::ToClient::Event`].

use crate::ids::Key;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// What a queue or a variable holds: a small encoded value, or the key of a future (held on
/// the cluster while the item is stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    /// An encoded value.
    Value(Bytes),
    /// The key of a result on the cluster.
    Key(Key),
}

/// One coordination operation. `timeout_ms: None` waits for as long as it takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordOp {
    /// Append an item to a queue, waiting while the queue is full.
    QueuePut {
        /// The queue's name.
        name: String,
        /// Bound on the queue's length if this creates it (0: unbounded).
        maxsize: u32,
        /// What to append.
        item: Item,
        /// How long to wait for room.
        timeout_ms: Option<u64>,
    },
    /// Take the oldest item of a queue, waiting while it is empty (waiters served first come,
    /// first served).
    QueueGet {
        /// The queue's name.
        name: String,
        /// Bound on the queue's length if this creates it (0: unbounded).
        maxsize: u32,
        /// How long to wait for an item.
        timeout_ms: Option<u64>,
    },
    /// Number of items in a queue.
    QueueSize {
        /// The queue's name.
        name: String,
    },
    /// Set a variable (waking its waiting readers).
    VariableSet {
        /// The variable's name.
        name: String,
        /// The new value.
        item: Item,
    },
    /// Read a variable, waiting for a first `set` if it has none.
    VariableGet {
        /// The variable's name.
        name: String,
        /// How long to wait for a value.
        timeout_ms: Option<u64>,
    },
    /// Delete a variable (its readers keep waiting for the next `set`).
    VariableDelete {
        /// The variable's name.
        name: String,
    },
    /// Take one lease of a semaphore (a lock is a semaphore of one lease).
    Acquire {
        /// The semaphore's (or lock's) name.
        name: String,
        /// Number of leases if this creates it.
        max_leases: u32,
        /// The lease ends by itself after this long (`None`: only when released or when the
        /// holder's client leaves).
        lease_ms: Option<u64>,
        /// How long to wait for a free lease.
        timeout_ms: Option<u64>,
    },
    /// Give a lease back.
    Release {
        /// The semaphore's (or lock's) name.
        name: String,
        /// The lease, as returned by `Acquire`.
        lease: u64,
    },
    /// Set an event (waking its waiters).
    EventSet {
        /// The event's name.
        name: String,
    },
    /// Clear an event.
    EventClear {
        /// The event's name.
        name: String,
    },
    /// Wait until an event is set.
    EventWait {
        /// The event's name.
        name: String,
        /// How long to wait.
        timeout_ms: Option<u64>,
    },
    /// Whether an event is set now.
    EventIsSet {
        /// The event's name.
        name: String,
    },
    /// Send a value to every subscriber of a topic.
    LogEvent {
        /// The topic.
        topic: String,
        /// The encoded value.
        value: Bytes,
    },
    /// Receive the events of a topic from now on.
    Subscribe {
        /// The topic.
        topic: String,
    },
    /// Stop receiving a topic.
    Unsubscribe {
        /// The topic.
        topic: String,
    },
    /// Publish futures under a name (their keys stay alive while published).
    PublishDataset {
        /// The dataset's name.
        name: String,
        /// The futures' keys.
        keys: Vec<Key>,
        /// Replace an existing dataset of that name instead of failing.
        replace: bool,
    },
    /// The keys of a published dataset (the asking client then holds them).
    GetDataset {
        /// The dataset's name.
        name: String,
    },
    /// Names of the published datasets.
    ListDatasets,
    /// Stop publishing a dataset.
    UnpublishDataset {
        /// The dataset's name.
        name: String,
    },
    /// The client no longer waits for the answer to request `req` (its caller gave up): if
    /// that request still waits, it ends now with [`CoordReply::Timeout`] (a waiting put's
    /// item is dropped). Not answered itself.
    Withdraw {
        /// The request given up.
        req: crate::ids::RequestId,
    },
    /// Take up to `max` of the oldest items of a queue at once, waiting while it is empty
    /// (answered with [`CoordReply::Items`] as soon as there is at least one).
    QueueGetBatch {
        /// The queue's name.
        name: String,
        /// Bound on the queue's length if this creates it (0: unbounded).
        maxsize: u32,
        /// At most this many items (at least one is taken).
        max: u32,
        /// How long to wait for a first item.
        timeout_ms: Option<u64>,
    },
}

/// The scheduler's answer to a [`CoordOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordReply {
    /// Done.
    Done,
    /// The operation's timeout passed first.
    Timeout,
    /// An item taken from a queue or read from a variable. A key is now held by the asking
    /// client (it gets the key's status messages like any of its futures).
    Item(Item),
    /// A count (queue size).
    Count(u64),
    /// A lease was granted.
    Lease(u64),
    /// A flag (event is set).
    Flag(bool),
    /// Keys of a dataset, now held by the asking client.
    Keys(Vec<Key>),
    /// Names (datasets).
    Names(Vec<String>),
    /// The operation cannot be done; the message says why (unknown key, lease not held,
    /// dataset missing or already there).
    Refused(String),
    /// Items taken from a queue at once, oldest first (keys among them are now held by the
    /// asking client).
    Items(Vec<Item>),
}

impl CoordReply {
    /// Keys this reply hands over to the asking client.
    pub fn keys(&self) -> Vec<Key> {
        match self {
            CoordReply::Item(Item::Key(k)) => vec![k.clone()],
            CoordReply::Keys(ks) => ks.clone(),
            CoordReply::Items(items) => items
                .iter()
                .filter_map(|i| match i {
                    Item::Key(k) => Some(k.clone()),
                    Item::Value(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_batch, encode_batch, FromClient, Reply, RequestId, ToClient};

    fn ops() -> Vec<CoordOp> {
        let name = || "n".to_string();
        let item = Item::Key(Key::new("k"));
        vec![
            CoordOp::QueuePut {
                name: name(),
                maxsize: 3,
                item: Item::Value(Bytes::from_static(b"v")),
                timeout_ms: Some(5),
            },
            CoordOp::QueueGet {
                name: name(),
                maxsize: 0,
                timeout_ms: None,
            },
            CoordOp::QueueSize { name: name() },
            CoordOp::VariableSet { name: name(), item },
            CoordOp::VariableGet {
                name: name(),
                timeout_ms: Some(0),
            },
            CoordOp::VariableDelete { name: name() },
            CoordOp::Acquire {
                name: name(),
                max_leases: 2,
                lease_ms: Some(1),
                timeout_ms: None,
            },
            CoordOp::Release {
                name: name(),
                lease: u64::MAX,
            },
            CoordOp::EventSet { name: name() },
            CoordOp::EventClear { name: name() },
            CoordOp::EventWait {
                name: name(),
                timeout_ms: Some(9),
            },
            CoordOp::EventIsSet { name: name() },
            CoordOp::LogEvent {
                topic: name(),
                value: Bytes::from_static(b"e"),
            },
            CoordOp::Subscribe { topic: name() },
            CoordOp::Unsubscribe { topic: name() },
            CoordOp::PublishDataset {
                name: name(),
                keys: vec![Key::new("a"), Key::new("b")],
                replace: true,
            },
            CoordOp::GetDataset { name: name() },
            CoordOp::ListDatasets,
            CoordOp::UnpublishDataset { name: name() },
            CoordOp::Withdraw { req: RequestId(4) },
            CoordOp::QueueGetBatch {
                name: name(),
                maxsize: 0,
                max: 100,
                timeout_ms: Some(1),
            },
        ]
    }

    #[test]
    fn every_operation_and_answer_round_trips_and_cut_frames_are_errors() {
        let msgs: Vec<FromClient> = ops()
            .into_iter()
            .enumerate()
            .map(|(i, op)| FromClient::Coord {
                req: RequestId(i as u64),
                op,
            })
            .collect();
        let frames = encode_batch(&msgs, vec![]).unwrap();
        assert_eq!(
            decode_batch::<FromClient>(frames.clone()).unwrap().messages,
            msgs
        );
        let header = frames[0].clone();
        for cut in 0..header.len() {
            let _ = decode_batch::<FromClient>(vec![header.slice(..cut)]);
        }
        let replies = [
            CoordReply::Done,
            CoordReply::Timeout,
            CoordReply::Item(Item::Key(Key::new("k"))),
            CoordReply::Count(7),
            CoordReply::Lease(3),
            CoordReply::Flag(true),
            CoordReply::Keys(vec![Key::new("k")]),
            CoordReply::Names(vec!["d".into()]),
            CoordReply::Refused("no".into()),
            CoordReply::Items(vec![Item::Value(Bytes::from_static(b"i"))]),
        ];
        let mut msgs: Vec<ToClient> = replies
            .into_iter()
            .map(|r| ToClient::Reply {
                req: RequestId(1),
                reply: Reply::Coord(r),
            })
            .collect();
        msgs.push(ToClient::Event {
            topic: "t".into(),
            value: Bytes::from_static(b"x"),
        });
        let frames = encode_batch(&msgs, vec![]).unwrap();
        assert_eq!(decode_batch::<ToClient>(frames).unwrap().messages, msgs);
    }

    #[test]
    fn coordination_variants_come_after_every_older_one_on_the_wire() {
        // postcard writes the variant index first: older peers' messages keep their indices.
        let coord = FromClient::Coord {
            req: RequestId(0),
            op: CoordOp::ListDatasets,
        };
        let bytes = postcard::to_allocvec(&coord).unwrap();
        assert_eq!(bytes[0], 10, "FromClient::Coord must stay the 11th variant");
        let event = ToClient::Event {
            topic: String::new(),
            value: Bytes::new(),
        };
        assert_eq!(postcard::to_allocvec(&event).unwrap()[0], 3);
        let reply = Reply::Coord(CoordReply::Done);
        assert_eq!(postcard::to_allocvec(&reply).unwrap()[0], 2);
    }
}
