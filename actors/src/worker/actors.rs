//! Stateful actors on a worker: types registered with [`actor!`](crate::actor), created by a
//! task (the scheduler places it like any other, so the worker that holds the key is the
//! actor's home) and kept here under that key until the key is freed; method calls arrive at
//! the worker's data-store ROUTER and run here one at a time, in arrival order, on one thread
//! of their own (never on the compute pool, never on an actor thread).

use super::registry::{DecodeArgs, InvokeResult, TaskEntry};
use bytes::Bytes;
use rask_protocol::{Key, TaskErrorKind};
use rustc_hash::FxHashMap as HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

/// A type registered with [`actor!`](crate::actor): how to build one from encoded arguments
/// and how to run a named method on encoded arguments.
pub trait ActorType: Send + 'static {
    /// The registered name of its creation task (starts with [`rask_protocol::ACTOR_PREFIX`]).
    const NAME: &'static str;
    /// The constructor's parameter types, as a tuple.
    type Init;
    /// Decodes the constructor's arguments and builds the object.
    fn create(args: &[Bytes]) -> Result<Self, (TaskErrorKind, String)>
    where
        Self: Sized;
    /// Runs `method` on encoded arguments; `None` if the type has no such method.
    fn call(&mut self, method: &str, args: &[Bytes]) -> Option<InvokeResult>;
}

/// An actor object of any registered type.
pub trait ActorObject: Send {
    /// Runs `method` on encoded arguments; `None` if there is no such method.
    fn dispatch(&mut self, method: &str, args: &[Bytes]) -> Option<InvokeResult>;
}

impl<T: ActorType> ActorObject for T {
    fn dispatch(&mut self, method: &str, args: &[Bytes]) -> Option<InvokeResult> {
        self.call(method, args)
    }
}

/// The task-registry entry that creates a `T` (what `actor!` registers).
pub const fn actor_entry<T: ActorType>() -> TaskEntry {
    TaskEntry {
        name: T::NAME,
        signature: signature::<T>,
        invoke: create::<T>,
    }
}

fn signature<T: ActorType>() -> String {
    format!("{}{}", T::NAME, std::any::type_name::<T::Init>())
}

/// The value an actor's key holds in the data-store: the actor type's name.
fn create<T: ActorType>(args: &[Bytes]) -> InvokeResult {
    let actor = T::create(args)?;
    super::context::install_actor(Box::new(actor)).map_err(|e| (TaskErrorKind::Failed, e))?;
    super::registry::encode_output(&T::NAME.to_string())
}

/// Decodes a method's arguments (used by `actor!`).
pub fn decode_method_args<A: DecodeArgs>(
    method: &str,
    args: &[Bytes],
) -> Result<A, (TaskErrorKind, String)> {
    A::decode_args(args).map_err(|(kind, message)| (kind, format!("{method}: {message}")))
}

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The method's encoded result.
    Value(Bytes),
    /// The method failed or panicked, or its arguments did not decode.
    Failed(TaskErrorKind, String),
    /// No actor is held under that key here.
    NoSuchActor,
    /// The actor has no method of that name.
    NoSuchMethod,
}

/// Where a call's outcome goes (called on the actors' thread).
pub type Reply = Box<dyn FnOnce(CallResult) + Send>;

struct Call {
    actor: Key,
    method: String,
    args: Vec<Bytes>,
    reply: Reply,
}

type Objects = Arc<Mutex<HashMap<Key, Arc<Mutex<Box<dyn ActorObject>>>>>>;

/// A worker's actors and the thread their methods run on (started on the first call; it
/// ends, and the actors with it, when the host is dropped with its worker).
pub struct ActorHost {
    name: String,
    objects: Objects,
    calls: Mutex<Option<mpsc::Sender<Call>>>,
}

impl ActorHost {
    /// An empty host; `name` names its thread.
    pub fn new(name: &str) -> Arc<ActorHost> {
        Arc::new(ActorHost {
            name: name.to_string(),
            objects: Default::default(),
            calls: Mutex::new(None),
        })
    }

    /// Keeps `actor` under `key` (a creation task ran).
    pub fn install(&self, key: Key, actor: Box<dyn ActorObject>) {
        let mut map = self.objects.lock().expect("actors lock");
        map.insert(key, Arc::new(Mutex::new(actor)));
    }

    /// Drops the actors held under any of `keys` (their keys were released).
    pub fn free(&self, keys: &[Key]) {
        let mut map = self.objects.lock().expect("actors lock");
        if map.is_empty() {
            return;
        }
        for k in keys {
            if map.remove(k).is_some() {
                tracing::debug!(actor = %k, "actor released");
            }
        }
    }

    /// Actors held.
    pub fn len(&self) -> usize {
        self.objects.lock().expect("actors lock").len()
    }

    /// True if no actor is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a call of `method` on the actor under `actor`; `reply` gets the outcome.
    pub fn call(&self, actor: Key, method: String, args: Vec<Bytes>, reply: Reply) {
        let call = Call {
            actor,
            method,
            args,
            reply,
        };
        let mut calls = self.calls.lock().expect("calls lock");
        let call = match calls.as_ref() {
            Some(tx) => match tx.send(call) {
                Ok(()) => return,
                Err(mpsc::SendError(call)) => call, // the thread is gone: start another
            },
            None => call,
        };
        let (tx, rx) = mpsc::channel::<Call>();
        let objects = self.objects.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-actors", self.name))
            .spawn(move || serve(objects, rx));
        match spawned {
            Ok(_) => {
                let _ = tx.send(call);
                *calls = Some(tx);
            }
            Err(e) => (call.reply)(CallResult::Failed(
                TaskErrorKind::Failed,
                format!("cannot start the actors' thread: {e}"),
            )),
        }
    }
}

/// The actors' thread: runs calls in the order they came.
fn serve(objects: Objects, rx: mpsc::Receiver<Call>) {
    while let Ok(call) = rx.recv() {
        let object = objects
            .lock()
            .expect("actors lock")
            .get(&call.actor)
            .cloned();
        let outcome = match object {
            None => CallResult::NoSuchActor,
            Some(object) => {
                let mut object = object.lock().unwrap_or_else(|p| p.into_inner());
                let ran = catch_unwind(AssertUnwindSafe(|| {
                    object.dispatch(&call.method, &call.args)
                }));
                match ran {
                    Ok(None) => CallResult::NoSuchMethod,
                    Ok(Some(Ok(v))) => CallResult::Value(v),
                    Ok(Some(Err((kind, message)))) => CallResult::Failed(kind, message),
                    Err(panic) => CallResult::Failed(
                        TaskErrorKind::Panicked,
                        super::pool::panic_message(&panic),
                    ),
                }
            }
        };
        (call.reply)(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_protocol::{decode_value, encode_value};

    crate::actor! {
        /// Test: a counter.
        pub struct Tally { n: i64 }
        /// Starts at `n`.
        fn new(n: i64) -> Self { Tally { n } }
        /// Calls of a tally.
        pub trait TallyCalls {
            /// Adds `by`, returns the new count.
            fn add(&mut self, by: i64) -> i64 { self.n += by; self.n }
            /// Panics.
            fn boom(&mut self) -> i64 { panic!("tally exploded at {}", self.n) }
        }
    }

    fn call(host: &ActorHost, key: &str, method: &str, args: Vec<Bytes>) -> CallResult {
        let (tx, rx) = mpsc::channel();
        host.call(
            Key::new(key),
            method.into(),
            args,
            Box::new(move |r| tx.send(r).expect("receiver")),
        );
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("a reply")
    }

    #[test]
    fn calls_run_in_order_and_failures_are_typed() {
        let host = ActorHost::new("t");
        let tally = Tally::create(&[encode_value(&10i64).unwrap()]).unwrap();
        host.install(Key::new("a"), Box::new(tally));
        for expect in [11i64, 12, 13] {
            match call(&host, "a", "add", vec![encode_value(&1i64).unwrap()]) {
                CallResult::Value(v) => assert_eq!(decode_value::<i64>(&v).unwrap(), expect),
                other => panic!("unexpected {other:?}"),
            }
        }
        match call(&host, "a", "boom", vec![]) {
            CallResult::Failed(TaskErrorKind::Panicked, m) => assert!(m.contains("13"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
        // The actor survives its panic.
        assert!(matches!(
            call(&host, "a", "add", vec![encode_value(&1i64).unwrap()]),
            CallResult::Value(_)
        ));
        assert_eq!(call(&host, "a", "nope", vec![]), CallResult::NoSuchMethod);
        assert!(matches!(
            call(&host, "a", "add", vec![]),
            CallResult::Failed(TaskErrorKind::BadArguments, _)
        ));
        host.free(&[Key::new("a")]);
        assert_eq!(
            call(&host, "a", "add", vec![encode_value(&1i64).unwrap()]),
            CallResult::NoSuchActor
        );
        assert!(host.is_empty());
    }

    #[test]
    fn the_creation_task_is_registered_under_the_actor_prefix() {
        let name = <Tally as ActorType>::NAME;
        assert!(rask_protocol::is_actor_function(name), "{name}");
        assert!(crate::worker::Registry::global().get(name).is_some());
        // Outside a worker's task there is nowhere to keep the actor: a clear failure.
        let entry = crate::worker::Registry::global().get(name).unwrap();
        let err = (entry.invoke)(&[encode_value(&1i64).unwrap()]).unwrap_err();
        assert!(err.1.contains("task on a worker"), "{}", err.1);
    }
}
