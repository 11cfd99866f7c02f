//! Every message, one enum per direction. Payload structs end in `Msg`.
//!
//! postcard is not self-describing: variants and fields are only ever appended at the end;
//! anything else bumps [`crate::PROTOCOL_VERSION`].

use crate::coord::{CoordOp, CoordReply};
use crate::ids::{Attempt, Key, RequestId, WorkerId};
use crate::task::{Arg, TaskError, TaskSpec};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Client → scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromClient {
    /// New tasks (a whole graph or a single call).
    Submit(Vec<TaskSpec>),
    /// The client dropped its last future for these keys.
    Release(Vec<Key>),
    /// Cancel these keys (and what only they need).
    Cancel(Vec<Key>),
    /// The client placed these values directly in a worker's data-store.
    Scattered(ScatteredMsg),
    /// The client could not fetch `key` from `worker`: the scheduler should re-check it.
    MissingData {
        /// The key that was not found.
        key: Key,
        /// Where the scheduler said it was.
        worker: WorkerId,
    },
    /// Which workers hold these keys?
    WhoHas {
        /// Request id echoed in the reply.
        req: RequestId,
        /// Keys asked about.
        keys: Vec<Key>,
    },
    /// Describe the cluster.
    Info {
        /// Request id echoed in the reply.
        req: RequestId,
    },
    /// Still here.
    Heartbeat,
    /// Closing: release everything this client wanted.
    Goodbye,
    /// After reconnecting: the client still holds futures for these keys. The scheduler
    /// answers each as it would a new want (`InMemory` / `Erred` now or later), or with a
    /// `LostData` error for a key it does not know.
    Resume(Vec<Key>),
    /// A coordination operation (queues, variables, locks, semaphores, events, topics,
    /// datasets); answered with [`Reply::Coord`].
    Coord {
        /// Request id echoed in the reply.
        req: RequestId,
        /// The operation.
        op: CoordOp,
    },
}

/// Values a client scattered to one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScatteredMsg {
    /// The worker whose data-store holds them.
    pub worker: WorkerId,
    /// Keys and their sizes in bytes.
    pub keys: Vec<(Key, u64)>,
}

/// Scheduler → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToClient {
    /// A key's result is in memory on a worker: fetch it from that worker's data-store.
    InMemory(InMemoryMsg),
    /// A key erred.
    Erred(TaskError),
    /// Reply to a request.
    Reply {
        /// The request's id.
        req: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// An event logged on a topic this client subscribed to.
    Event {
        /// The topic.
        topic: String,
        /// The encoded value.
        value: Bytes,
    },
}

/// Where a finished result lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InMemoryMsg {
    /// The key.
    pub key: Key,
    /// The worker holding it.
    pub worker: WorkerId,
    /// That worker's data-store address.
    pub addr: std::sync::Arc<str>,
    /// Size of the encoded value.
    pub nbytes: u64,
    /// The value itself when it is small and just finished (no fetch needed).
    pub value: Option<Bytes>,
}

/// Answers to client requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// For [`FromClient::WhoHas`]: each key, its holders and its size (empty holders: not in
    /// memory anywhere).
    WhoHas(Vec<(Key, Vec<WorkerId>, u64)>),
    /// For [`FromClient::Info`].
    Info(ClusterInfo),
    /// For [`FromClient::Coord`].
    Coord(CoordReply),
}

/// A snapshot of the cluster as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The scheduler's name.
    pub scheduler: String,
    /// Connected workers.
    pub workers: Vec<WorkerInfo>,
    /// Tasks the scheduler tracks (any state but forgotten).
    pub tasks: u64,
    /// The scheduler completes tasks without running them (benchmarks of pure overhead).
    pub zero_worker: bool,
}

/// One worker in a [`ClusterInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Scheduler-assigned id.
    pub id: WorkerId,
    /// The worker's name.
    pub name: String,
    /// Its data-store address.
    pub store_addr: String,
    /// Compute threads.
    pub nthreads: u32,
    /// Tasks assigned and not finished.
    pub processing: u32,
    /// Keys held in memory.
    pub keys: u64,
    /// Bytes held in memory.
    pub nbytes: u64,
}

/// Scheduler → worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Run a task.
    Compute(ComputeMsg),
    /// Drop these keys from the data-store.
    Free(Vec<Key>),
    /// Stop an attempt if it has not started (its result will be ignored otherwise).
    Cancel {
        /// The task.
        key: Key,
        /// The attempt to cancel.
        attempt: Attempt,
    },
    /// The scheduler removed this worker (missed heartbeats) while its connection stayed up:
    /// register again, reporting the keys held.
    Rejoin,
    /// Give this attempt back if it has not started: the scheduler wants to run it on an
    /// idle worker. Answered with [`FromWorker::StealReply`].
    Steal {
        /// The task.
        key: Key,
        /// The attempt to take back.
        attempt: Attempt,
    },
}

/// A task to run, with where to find each dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeMsg {
    /// The task's key.
    pub key: Key,
    /// This attempt's number.
    pub attempt: Attempt,
    /// Registered function name (shared: a million tasks of one function share one string;
    /// on the wire it is a plain string).
    pub function: std::sync::Arc<str>,
    /// Positional arguments.
    pub args: Vec<Arg>,
    /// For every dependency key among `args`: who holds it.
    pub deps: Vec<DepLocation>,
    /// Higher runs first.
    pub priority: i32,
}

/// Where a dependency can be fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepLocation {
    /// The dependency's key.
    pub key: Key,
    /// Holders: worker id and data-store address.
    pub holders: Vec<(WorkerId, std::sync::Arc<str>)>,
}

/// Worker → scheduler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromWorker {
    /// An attempt finished; the result is in this worker's data-store.
    Finished {
        /// The task.
        key: Key,
        /// Which attempt.
        attempt: Attempt,
        /// Size of the encoded result.
        nbytes: u64,
        /// How long the function ran, in microseconds.
        duration_us: u64,
    },
    /// An attempt failed.
    Failed {
        /// Which attempt.
        attempt: Attempt,
        /// Why (carries the key).
        error: TaskError,
    },
    /// Dependencies could not be fetched from the named holders.
    MissingDeps {
        /// The task that needed them.
        key: Key,
        /// Which attempt.
        attempt: Attempt,
        /// Each missing key and the holder that did not have it.
        missing: Vec<(Key, WorkerId)>,
    },
    /// Still alive.
    Heartbeat(WorkerHeartbeat),
    /// Shutting down cleanly.
    Goodbye,
    /// An attempt finished with a small result, carried along so clients need not fetch it
    /// (it is also in this worker's data-store).
    FinishedInline {
        /// The task.
        key: Key,
        /// Which attempt.
        attempt: Attempt,
        /// The encoded result.
        value: Bytes,
        /// How long the function ran, in microseconds.
        duration_us: u64,
    },
    /// The answer to [`ToWorker::Steal`].
    StealReply {
        /// The task.
        key: Key,
        /// The attempt asked for.
        attempt: Attempt,
        /// True: the attempt will not run here; false: it already started (or is unknown).
        stolen: bool,
    },
    /// A running attempt left the compute pool's count while it waits on other tasks (it
    /// called `secede`, or waits on futures through a worker client): the scheduler stops
    /// counting it against the worker's threads, so tasks it waits for can run there.
    Seceded {
        /// The task.
        key: Key,
        /// Which attempt.
        attempt: Attempt,
    },
    /// Copies of these values, fetched from peers for a task, are now held in this worker's
    /// data-store too (key and size): the scheduler may place later readers here, and must
    /// free these copies with the key.
    Replicated(Vec<(Key, u64)>),
}

/// Figures a worker reports with each heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkerHeartbeat {
    /// Keys in its data-store.
    pub keys: u64,
    /// Bytes in its data-store.
    pub nbytes: u64,
    /// Tasks running now.
    pub executing: u32,
}

/// Anyone → a worker's data-store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToStore {
    /// Send these values.
    Get {
        /// Request id echoed in the replies.
        req: RequestId,
        /// Keys wanted.
        keys: Vec<Key>,
    },
    /// Store the value in bulk frame `frame` under `key`.
    Put {
        /// Request id echoed in the reply.
        req: RequestId,
        /// The key.
        key: Key,
        /// Index of the bulk frame with the encoded value.
        frame: u32,
    },
    /// Call `method` of the stateful actor held under `actor` on this worker, with one
    /// encoded value per argument. Calls run one at a time, in the order they arrive.
    /// Answered with [`FromStore::ActorResult`].
    ActorCall {
        /// Request id echoed in the reply.
        req: RequestId,
        /// The actor's key.
        actor: Key,
        /// The method's name.
        method: String,
        /// Encoded arguments.
        args: Vec<Bytes>,
    },
}

/// How an actor method call ended (see [`ToStore::ActorCall`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorOutcome {
    /// The method returned; its encoded result is in bulk frame `frame`.
    Value {
        /// Index of the bulk frame with the result.
        frame: u32,
    },
    /// The method failed, panicked, or did not take these arguments.
    Failed {
        /// What kind of failure.
        kind: crate::task::TaskErrorKind,
        /// The error or panic message.
        message: String,
    },
    /// This worker holds no actor under that key (released, never placed here, or the
    /// worker restarted).
    NoSuchActor,
    /// The actor type has no method of that name.
    NoSuchMethod,
}

/// A worker's data-store → whoever asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromStore {
    /// A value, in bulk frame `frame`.
    Value {
        /// The request this answers.
        req: RequestId,
        /// The key.
        key: Key,
        /// Index of its bulk frame.
        frame: u32,
    },
    /// This store does not hold the key.
    Missing {
        /// The request this answers.
        req: RequestId,
        /// The key.
        key: Key,
    },
    /// A `Put` was stored.
    Stored {
        /// The request this answers.
        req: RequestId,
        /// The key.
        key: Key,
        /// Size stored.
        nbytes: u64,
    },
    /// One chunk of a large value (chunks of one value arrive in order, each in a message of
    /// its own, so no buffer the size of the value is built for the socket).
    Chunk {
        /// The request this answers.
        req: RequestId,
        /// The key.
        key: Key,
        /// Where this chunk starts in the value.
        offset: u64,
        /// The value's whole size.
        total: u64,
        /// Index of the bulk frame with the chunk.
        frame: u32,
    },
    /// The answer to [`ToStore::ActorCall`].
    ActorResult {
        /// The request this answers.
        req: RequestId,
        /// How the call ended.
        outcome: ActorOutcome,
    },
}
