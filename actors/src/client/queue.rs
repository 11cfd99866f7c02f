//! Cluster-wide [`Queue`]s and [`Variable`]s, named and hosted by the scheduler.
//!
//! Both hold small values (encoded with postcard, like task results) or futures. A future
//! stored in a queue or variable keeps its result alive on the cluster until it is taken out
//! (or overwritten, or its put timed out), even if every client drops its own handle; the
//! client that takes it gets a [`Future`] of its own. Do not mix values and futures in one
//! queue: [`Queue::get_future`] on a plain value fails (and the item is gone).
//!
//! A caller that stops waiting (drops the Rust future of a `get`, e.g. under a timeout of its
//! own) withdraws its request; an item already on its way to it is put back at the end of the
//! queue, so no item is lost (its place in the order is).
//!
//! Known gap: if a client drops its last handle on a future while a `get` it sent *earlier*
//! is answered with that same future, the scheduler may see the release after the hand-over
//! and drop the client's interest; the new handle then fails as lost data. Keep a handle
//! until a future you put is no longer needed by your own consumers.

use super::coord::{ms, unexpected};
use super::future::Future;
use super::handle::Client;
use crate::Result;
use rask_protocol::{encode_value, CoordOp, CoordReply, Item};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;

/// A named multi-producer/multi-consumer FIFO queue on the scheduler.
///
/// Consumers that wait are served in arrival order and each item reaches exactly one of them.
/// `maxsize` (0: unbounded) is fixed by whichever client makes the queue exist first.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    name: String,
    maxsize: u32,
}

impl Queue {
    /// A handle on the queue `name`; it exists on the scheduler from its first use.
    pub fn new(client: &Client, name: impl Into<String>, maxsize: u32) -> Queue {
        Queue {
            client: client.clone(),
            name: name.into(),
            maxsize,
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn put_item(&self, item: Item, timeout: Option<Duration>) -> Result<()> {
        let op = CoordOp::QueuePut {
            name: self.name.clone(),
            maxsize: self.maxsize,
            item,
            timeout_ms: ms(timeout),
        };
        let what = || format!("room in queue {}", self.name);
        match self.client.coord(op, timeout, what).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Appends a value, waiting up to `timeout` (`None`: forever) while the queue is full.
    pub async fn put<T: Serialize>(&self, value: &T, timeout: Option<Duration>) -> Result<()> {
        self.put_item(Item::Value(encode_value(value)?), timeout)
            .await
    }

    /// Appends a future: its result stays on the cluster until a consumer takes it.
    pub async fn put_future<T>(&self, future: &Future<T>, timeout: Option<Duration>) -> Result<()> {
        self.put_item(Item::Key(future.key().clone()), timeout)
            .await
    }

    async fn get_item(&self, timeout: Option<Duration>) -> Result<Item> {
        let op = CoordOp::QueueGet {
            name: self.name.clone(),
            maxsize: self.maxsize,
            timeout_ms: ms(timeout),
        };
        let what = || format!("an item of queue {}", self.name);
        match self.client.coord(op, timeout, what).await? {
            CoordReply::Item(item) => Ok(item),
            other => Err(unexpected(other)),
        }
    }

    /// Takes the oldest item, waiting up to `timeout` (`None`: forever) while the queue is
    /// empty. A future's result is fetched.
    pub async fn get<T: DeserializeOwned>(&self, timeout: Option<Duration>) -> Result<T> {
        let item = self.get_item(timeout).await?;
        self.client.item_value(item).await
    }

    /// Takes the oldest item, which must be a future.
    pub async fn get_future<T>(&self, timeout: Option<Duration>) -> Result<Future<T>> {
        let item = self.get_item(timeout).await?;
        self.client
            .item_future(item, || format!("queue {}", self.name))
    }

    /// Takes up to `max` of the oldest items at once, waiting up to `timeout` (`None`:
    /// forever) for a first one; futures' results are fetched. Consumers that take many small
    /// items should use this: one round trip per batch, not per item.
    pub async fn get_batch<T: DeserializeOwned>(
        &self,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<Vec<T>> {
        let op = CoordOp::QueueGetBatch {
            name: self.name.clone(),
            maxsize: self.maxsize,
            max,
            timeout_ms: ms(timeout),
        };
        let what = || format!("an item of queue {}", self.name);
        let items = match self.client.coord(op, timeout, what).await? {
            CoordReply::Items(items) => items,
            other => return Err(unexpected(other)),
        };
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(self.client.item_value(item).await?);
        }
        Ok(values)
    }

    /// Appends values in order, all requests in flight at once (one round trip, not one per
    /// value); waits up to `timeout` per value while the queue is full. On an error, the
    /// values before the failed one are in the queue.
    pub async fn put_many<T: Serialize>(
        &self,
        values: &[T],
        timeout: Option<Duration>,
    ) -> Result<()> {
        let items = values
            .iter()
            .map(|v| encode_value(v).map(Item::Value))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let puts = items.into_iter().map(|item| self.put_item(item, timeout));
        futures::future::join_all(puts)
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
        Ok(())
    }

    /// Items in the queue now.
    pub async fn qsize(&self) -> Result<u64> {
        let op = CoordOp::QueueSize {
            name: self.name.clone(),
        };
        match self.client.coord(op, None, String::new).await? {
            CoordReply::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Queue::put`].
    pub fn put_blocking<T: Serialize>(&self, value: &T, timeout: Option<Duration>) -> Result<()> {
        super::block::block_on(self.put(value, timeout))
    }

    /// Blocking form of [`Queue::get`].
    pub fn get_blocking<T: DeserializeOwned>(&self, timeout: Option<Duration>) -> Result<T> {
        super::block::block_on(self.get(timeout))
    }

    /// Blocking form of [`Queue::qsize`].
    pub fn qsize_blocking(&self) -> Result<u64> {
        super::block::block_on(self.qsize())
    }

    /// Blocking form of [`Queue::get_batch`].
    pub fn get_batch_blocking<T: DeserializeOwned>(
        &self,
        max: u32,
        timeout: Option<Duration>,
    ) -> Result<Vec<T>> {
        super::block::block_on(self.get_batch(max, timeout))
    }

    /// Blocking form of [`Queue::put_many`].
    pub fn put_many_blocking<T: Serialize>(
        &self,
        values: &[T],
        timeout: Option<Duration>,
    ) -> Result<()> {
        super::block::block_on(self.put_many(values, timeout))
    }

    /// Blocking form of [`Queue::put_future`].
    pub fn put_future_blocking<T>(
        &self,
        future: &Future<T>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        super::block::block_on(self.put_future(future, timeout))
    }

    /// Blocking form of [`Queue::get_future`].
    pub fn get_future_blocking<T>(&self, timeout: Option<Duration>) -> Result<Future<T>> {
        super::block::block_on(self.get_future(timeout))
    }
}

/// A named variable on the scheduler: `get` waits for a first `set`.
#[derive(Clone)]
pub struct Variable {
    client: Client,
    name: String,
}

impl Variable {
    /// A handle on the variable `name`.
    pub fn new(client: &Client, name: impl Into<String>) -> Variable {
        Variable {
            client: client.clone(),
            name: name.into(),
        }
    }

    async fn set_item(&self, item: Item) -> Result<()> {
        let op = CoordOp::VariableSet {
            name: self.name.clone(),
            item,
        };
        match self.client.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Sets a value (waiting readers get it).
    pub async fn set<T: Serialize>(&self, value: &T) -> Result<()> {
        self.set_item(Item::Value(encode_value(value)?)).await
    }

    /// Sets a future: its result stays on the cluster while it is the variable's value.
    pub async fn set_future<T>(&self, future: &Future<T>) -> Result<()> {
        self.set_item(Item::Key(future.key().clone())).await
    }

    async fn get_item(&self, timeout: Option<Duration>) -> Result<Item> {
        let op = CoordOp::VariableGet {
            name: self.name.clone(),
            timeout_ms: ms(timeout),
        };
        let what = || format!("a value of variable {}", self.name);
        match self.client.coord(op, timeout, what).await? {
            CoordReply::Item(item) => Ok(item),
            other => Err(unexpected(other)),
        }
    }

    /// The value, waiting up to `timeout` (`None`: forever) for a first `set`. A future's
    /// result is fetched.
    pub async fn get<T: DeserializeOwned>(&self, timeout: Option<Duration>) -> Result<T> {
        let item = self.get_item(timeout).await?;
        self.client.item_value(item).await
    }

    /// The value, which must be a future.
    pub async fn get_future<T>(&self, timeout: Option<Duration>) -> Result<Future<T>> {
        let item = self.get_item(timeout).await?;
        self.client
            .item_future(item, || format!("variable {}", self.name))
    }

    /// Removes the value (a stored future's result is released).
    pub async fn delete(&self) -> Result<()> {
        let op = CoordOp::VariableDelete {
            name: self.name.clone(),
        };
        match self.client.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Variable::set`].
    pub fn set_blocking<T: Serialize>(&self, value: &T) -> Result<()> {
        super::block::block_on(self.set(value))
    }

    /// Blocking form of [`Variable::get`].
    pub fn get_blocking<T: DeserializeOwned>(&self, timeout: Option<Duration>) -> Result<T> {
        super::block::block_on(self.get(timeout))
    }

    /// Blocking form of [`Variable::set_future`].
    pub fn set_future_blocking<T>(&self, future: &Future<T>) -> Result<()> {
        super::block::block_on(self.set_future(future))
    }

    /// Blocking form of [`Variable::get_future`].
    pub fn get_future_blocking<T>(&self, timeout: Option<Duration>) -> Result<Future<T>> {
        super::block::block_on(self.get_future(timeout))
    }

    /// Blocking form of [`Variable::delete`].
    pub fn delete_blocking(&self) -> Result<()> {
        super::block::block_on(self.delete())
    }
}
