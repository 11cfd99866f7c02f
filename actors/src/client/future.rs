//! Typed futures: a handle on a key held by the client actor. It resolves when the scheduler
//! reports where the result was placed; the value is then fetched straight from that worker's
//! data-store. Dropping the last clone releases the result cluster-wide. Waiting from inside
//! a task on a worker secedes the task while it waits (see [`crate::worker::context`]).

use super::actor::{ClientActor, DropRef};
use super::data::{Fetch, WaitAll, WaitStatus};
use crate::{Error, Result};
use actix::Addr;
use futures::stream::{FuturesUnordered, Stream};
use rask_protocol::{Key, TaskError, WorkerId};
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Where a key stands, as the client knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Not finished yet.
    Pending,
    /// In memory on a worker.
    Memory {
        /// The worker.
        worker: WorkerId,
        /// Its data-store address.
        addr: std::sync::Arc<str>,
        /// Encoded size.
        nbytes: u64,
        /// The encoded value, when it was small enough to come with the notification.
        value: Option<bytes::Bytes>,
    },
    /// Failed.
    Erred(TaskError),
    /// Cancelled by this client.
    Cancelled,
    /// The client lost track of it (connection lost, client closed).
    Lost(String),
}

impl Status {
    /// The error a caller sees for a non-memory final status.
    pub fn into_error(self, key: &Key) -> Error {
        match self {
            Status::Erred(e) => Error::Task(e),
            Status::Cancelled => Error::Cancelled(key.to_string()),
            Status::Lost(why) => Error::Closed(format!("{key}: {why}")),
            Status::Pending | Status::Memory { .. } => {
                Error::Closed(format!("{key}: not finished"))
            }
        }
    }
}

/// One reference to a key; the last one dropped releases the key.
pub(super) struct KeyRef {
    pub(super) key: Key,
    pub(super) client: Addr<ClientActor>,
}

impl Drop for KeyRef {
    fn drop(&mut self) {
        self.client.do_send(DropRef(self.key.clone()));
    }
}

/// A result that will exist on the cluster. Cheap to clone; awaiting it (or calling
/// [`Future::result`]) fetches the value.
pub struct Future<T> {
    pub(super) inner: Arc<KeyRef>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Future({})", self.inner.key)
    }
}

impl<T> Future<T> {
    pub(super) fn new(key: Key, client: Addr<ClientActor>) -> Self {
        Future {
            inner: Arc::new(KeyRef { key, client }),
            _t: PhantomData,
        }
    }

    /// The same key viewed as another result type (the value is checked when decoded).
    pub fn cast<U>(self) -> Future<U> {
        Future {
            inner: self.inner,
            _t: PhantomData,
        }
    }

    /// The key of the result.
    pub fn key(&self) -> &Key {
        &self.inner.key
    }

    /// Waits until the task is done (in memory, erred, cancelled or lost) without fetching.
    pub async fn status(&self) -> Result<Status> {
        let _seceded = crate::worker::context::SecedeGuard::new();
        self.inner
            .client
            .send(WaitStatus(self.inner.key.clone()))
            .await
            .map_err(|_| Error::Closed("client".into()))
    }

    /// Waits until the result is in memory; a failure is returned as its typed error.
    pub async fn wait(&self) -> Result<()> {
        match self.status().await? {
            Status::Memory { .. } => Ok(()),
            other => Err(other.into_error(self.key())),
        }
    }
}

impl<T: DeserializeOwned> Future<T> {
    /// Fetches and decodes the value.
    pub async fn get(&self) -> Result<T> {
        let _seceded = crate::worker::context::SecedeGuard::new();
        let mut values = self
            .inner
            .client
            .send(Fetch(vec![self.inner.key.clone()]))
            .await
            .map_err(|_| Error::Closed("client".into()))??;
        decode_as::<T>(self.key(), &values.pop().expect("one value"))
    }

    /// Blocking form of [`Future::get`], for synchronous code (do not call it on an async
    /// runtime's thread).
    pub fn result(&self) -> Result<T> {
        super::block::block_on(self.get())
    }

    /// [`Future::result`] with a time limit.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T> {
        let key = self.key().to_string();
        super::block::block_on(async {
            let get = std::pin::pin!(self.get());
            let timer = futures_timer::Delay::new(timeout);
            match futures::future::select(get, timer).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right(_) => Err(Error::Timeout(timeout, key)),
            }
        })
    }
}

pub(super) fn decode_as<T: DeserializeOwned>(key: &Key, bytes: &bytes::Bytes) -> Result<T> {
    rask_protocol::decode_value_shared::<T>(bytes).map_err(|e| Error::Decode {
        key: key.to_string(),
        type_name: std::any::type_name::<T>(),
        message: e.to_string(),
    })
}

impl<T: DeserializeOwned + Send + 'static> std::future::IntoFuture for Future<T> {
    type Output = Result<T>;
    type IntoFuture = futures::future::BoxFuture<'static, Result<T>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.get().await })
    }
}

/// Yields futures as they finish (in memory, erred, or cancelled), in completion order.
pub fn as_completed<T: 'static>(
    futures: impl IntoIterator<Item = Future<T>>,
) -> impl Stream<Item = Future<T>> {
    futures
        .into_iter()
        .map(|f| async move {
            let _ = f.status().await;
            f
        })
        .collect::<FuturesUnordered<_>>()
}

/// Waits for all futures to finish, up to `timeout`. Returns the first failure, if any.
pub async fn wait<T: 'static>(futures: &[Future<T>], timeout: Duration) -> Result<()> {
    let all = async {
        let _seceded = crate::worker::context::SecedeGuard::new();
        let Some(first) = futures.first() else {
            return Ok(());
        };
        let keys: Vec<Key> = futures.iter().map(|f| f.key().clone()).collect();
        let statuses = first
            .inner
            .client
            .send(WaitAll(keys.clone()))
            .await
            .map_err(|_| Error::Closed("client".into()))?;
        for (key, status) in keys.iter().zip(statuses) {
            if !matches!(status, Status::Memory { .. }) {
                return Err(status.into_error(key));
            }
        }
        Ok(())
    };
    let all = std::pin::pin!(all);
    let timer = futures_timer::Delay::new(timeout);
    match futures::future::select(all, timer).await {
        futures::future::Either::Left((r, _)) => r,
        futures::future::Either::Right(_) => Err(Error::Timeout(
            timeout,
            format!("{} futures", futures.len()),
        )),
    }
}
