//! Handles on stateful actors: [`Client::actor`] places one object of a type registered with
//! [`actor!`](crate::actor) on a worker the scheduler chooses (worker restrictions honoured),
//! and [`ActorHandle`] sends method calls straight to that worker's data-store socket, never
//! through the scheduler. Each call returns an [`ActorFuture`] of the method's result.
//!
//! The actor is a key the client holds: dropping the last handle releases it and the worker
//! drops the object. An actor is never recomputed: when its worker dies, pending and later
//! calls fail with [`Error::ActorLost`] naming the actor.

use super::actor::ClientActor;
use super::args::IntoArgs;
use super::future::{Future, Status};
use super::handle::{Client, SubmitOptions};
use crate::worker::actors::ActorType;
use crate::worker::context::SecedeGuard;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use futures::channel::oneshot;
use rask_protocol::{decode_value, ActorOutcome, Key, TaskErrorKind, TaskSpec, WorkerId};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

/// A stateful object of type `T` living on one worker. Cheap to clone; the calls of the
/// `actor!`-generated trait are its methods. Calls made one after another through one handle
/// run in that order.
pub struct ActorHandle<T> {
    inner: Arc<HandleInner>,
    _t: PhantomData<fn() -> T>,
}

struct HandleInner {
    /// Holds the actor's key (released with the last handle).
    key: Future<String>,
    /// The hosting worker's data-store.
    addr: Arc<str>,
    worker: WorkerId,
}

impl<T> Clone for ActorHandle<T> {
    fn clone(&self) -> Self {
        ActorHandle {
            inner: self.inner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ActorHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Actor({} on {})", self.key(), self.inner.addr)
    }
}

impl<T> ActorHandle<T> {
    /// The actor's key.
    pub fn key(&self) -> &Key {
        self.inner.key.key()
    }

    /// The worker hosting it.
    pub fn worker(&self) -> WorkerId {
        self.inner.worker
    }

    /// The data-store address its calls go to.
    pub fn address(&self) -> &str {
        &self.inner.addr
    }

    /// The actor's key as a future (its value is the actor type's registered name). Put it in
    /// a [`Variable`](crate::client::Variable) or [`Queue`](crate::client::Queue) so another
    /// client can call the actor too ([`Client::actor_from_future`]); the actor lives while
    /// any client holds it.
    pub fn future(&self) -> &Future<String> {
        &self.inner.key
    }

    /// Sends a call of `method` with encoded arguments (what `actor!`'s methods call).
    #[doc(hidden)]
    pub fn call_raw<R>(&self, method: &'static str, args: Result<Vec<Bytes>>) -> ActorFuture<R> {
        let (reply, rx) = oneshot::channel();
        let actor = self.key().clone();
        match args {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(args) => self.inner.key.inner.client.do_send(CallActor {
                actor: actor.clone(),
                addr: self.inner.addr.clone(),
                worker: self.inner.worker,
                method,
                args,
                reply,
            }),
        }
        ActorFuture {
            rx,
            actor,
            method,
            _t: PhantomData,
        }
    }
}

/// The result of one actor method call: await it, or call [`ActorFuture::result`].
pub struct ActorFuture<R> {
    rx: oneshot::Receiver<Result<Bytes>>,
    actor: Key,
    method: &'static str,
    _t: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> std::future::Future for ActorFuture<R> {
    type Output = Result<R>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<R>> {
        let got = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(got) => got,
        };
        Poll::Ready(match got {
            Ok(Ok(bytes)) => decode_value::<R>(&bytes).map_err(|e| Error::Decode {
                key: format!("{}.{}", self.actor, self.method),
                type_name: std::any::type_name::<R>(),
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Closed("client".into())),
        })
    }
}

impl<R: DeserializeOwned> ActorFuture<R> {
    /// Waits for the result (blocking; from a task on a worker it secedes meanwhile).
    pub fn result(self) -> Result<R> {
        let _seceded = SecedeGuard::new();
        super::block::block_on(self)
    }

    /// [`ActorFuture::result`] with a time limit.
    pub fn result_timeout(self, timeout: Duration) -> Result<R> {
        let _seceded = SecedeGuard::new();
        let what = format!("{}.{}", self.actor, self.method);
        super::block::block_on(async move {
            let timer = futures_timer::Delay::new(timeout);
            match futures::future::select(self, timer).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right(_) => Err(Error::Timeout(timeout, what)),
            }
        })
    }
}

impl Client {
    /// Places a new `T` built by its `new(init…)` on a worker the scheduler chooses, and
    /// returns a handle once it exists there (Dask's `client.submit(T, actor=True)`).
    pub async fn actor<T: ActorType, A: IntoArgs<T::Init>>(
        &self,
        init: A,
    ) -> Result<ActorHandle<T>> {
        self.actor_with(init, SubmitOptions::default()).await
    }

    /// Blocking form of [`Client::actor`].
    pub fn actor_blocking<T: ActorType, A: IntoArgs<T::Init>>(
        &self,
        init: A,
    ) -> Result<ActorHandle<T>> {
        super::block::block_on(self.actor(init))
    }

    /// [`Client::actor`] with options: `workers` restricts where it may live, `priority`
    /// orders its creation; `key` names it (every actor is a fresh object otherwise).
    pub async fn actor_with<T: ActorType, A: IntoArgs<T::Init>>(
        &self,
        init: A,
        opts: SubmitOptions,
    ) -> Result<ActorHandle<T>> {
        let args = init.into_args()?;
        let opts = SubmitOptions {
            impure: true,
            ..opts
        };
        let key = self.make_key(T::NAME, &args, &opts)?;
        let spec = TaskSpec {
            key,
            function: T::NAME.to_string(),
            args,
            priority: opts.priority,
            retries: 0,
            wanted: true,
            workers: opts.workers,
        };
        let key: Future<String> = self.submit_graph(vec![spec]).pop().expect("one wanted");
        self.actor_from_future(key).await
    }

    /// A handle on the actor whose key `key` is, e.g. one another client shared through a
    /// variable or a queue ([`ActorHandle::future`]). Fails with [`Error::Config`] if the key
    /// holds an actor of another type, and with the key's own error if it is not in memory.
    pub async fn actor_from_future<T: ActorType>(
        &self,
        key: Future<String>,
    ) -> Result<ActorHandle<T>> {
        let (worker, addr) = match key.status().await? {
            Status::Memory { worker, addr, .. } => (worker, addr),
            other => return Err(other.into_error(key.key())),
        };
        let type_name = key.get().await?;
        if type_name != T::NAME {
            return Err(Error::Config(format!(
                "{} is an actor of type {type_name}, not {}",
                key.key(),
                T::NAME
            )));
        }
        // Open the connection now, so the first calls go out in the order they are made.
        self.actor_addr()
            .send(OpenStore(addr.clone()))
            .await
            .map_err(|_| Error::Closed("client".into()))?
            .map_err(|e| Error::ActorLost {
                actor: key.key().to_string(),
                reason: e.to_string(),
            })?;
        Ok(ActorHandle {
            inner: Arc::new(HandleInner { key, addr, worker }),
            _t: PhantomData,
        })
    }
}

/// Opens the client's connection to a data-store.
#[derive(Message)]
#[rtype(result = "Result<()>")]
struct OpenStore(Arc<str>);

impl Handler<OpenStore> for ClientActor {
    type Result = ResponseFuture<Result<()>>;
    fn handle(&mut self, msg: OpenStore, _ctx: &mut Context<Self>) -> Self::Result {
        let stores = self.stores.clone();
        Box::pin(async move { stores.connect(&msg.0).await })
    }
}

/// One method call, sent from the client's thread in the order calls arrive here.
#[derive(Message)]
#[rtype(result = "()")]
struct CallActor {
    actor: Key,
    addr: Arc<str>,
    worker: WorkerId,
    method: &'static str,
    args: Vec<Bytes>,
    reply: oneshot::Sender<Result<Bytes>>,
}

impl Handler<CallActor> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: CallActor, _ctx: &mut Context<Self>) {
        let CallActor {
            actor,
            addr,
            worker,
            method,
            args,
            reply,
        } = msg;
        let lost = |actor: &Key, reason: String| Error::ActorLost {
            actor: actor.to_string(),
            reason,
        };
        // The scheduler already said the actor is gone (its worker died).
        match self.keys.get(&actor).map(|e| &e.status) {
            Some(Status::Erred(e)) => {
                let _ = reply.send(Err(lost(&actor, e.message.clone())));
                return;
            }
            Some(Status::Lost(why)) => {
                let _ = reply.send(Err(lost(&actor, why.clone())));
                return;
            }
            _ => {}
        }
        let call = self
            .stores
            .call_actor(&addr, actor.clone(), method.to_string(), args);
        actix::spawn(async move {
            let result = match call.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(outcome)) => Err(call_error(&actor, method, worker, outcome)),
                Err(e) => Err(lost(
                    &actor,
                    format!("its worker {worker} at {addr} cannot be reached ({e})"),
                )),
            };
            let _ = reply.send(result);
        });
    }
}

fn call_error(actor: &Key, method: &str, worker: WorkerId, outcome: ActorOutcome) -> Error {
    let failed = |kind, message| Error::ActorCall {
        actor: actor.to_string(),
        method: method.to_string(),
        kind,
        message,
    };
    match outcome {
        ActorOutcome::Failed { kind, message } => failed(kind, message),
        ActorOutcome::NoSuchMethod => failed(
            TaskErrorKind::UnknownFunction,
            format!("the actor has no method {method} on worker {worker}"),
        ),
        ActorOutcome::NoSuchActor => Error::ActorLost {
            actor: actor.to_string(),
            reason: format!("worker {worker} no longer hosts it (released or restarted)"),
        },
        ActorOutcome::Value { .. } => failed(TaskErrorKind::Failed, "malformed reply".into()),
    }
}
