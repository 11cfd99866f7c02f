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
}

impl CoordReply {
    /// Keys this reply hands over to the asking client.
    pub fn keys(&self) -> Vec<Key> {
        match self {
            CoordReply::Item(Item::Key(k)) => vec![k.clone()],
            CoordReply::Keys(ks) => ks.clone(),
            _ => Vec::new(),
        }
    }
}
