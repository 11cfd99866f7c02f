//! Topic pub/sub and published datasets, as methods of [`Client`].
//!
//! `log_event(topic, value)` sends a value to every client subscribed to the topic at that
//! moment (events are not stored: a subscriber sees those logged after `subscribe` returned).
//! `publish_dataset(name, futures)` lets any client pick the futures up by name; their
//! results stay on the cluster while the dataset is published.

use super::actor::ClientActor;
use super::coord::unexpected;
use super::future::{decode_as, Future};
use super::handle::Client;
use crate::Result;
use actix::prelude::*;
use bytes::Bytes;
use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use rask_protocol::{encode_value, CoordOp, CoordReply, Key};
use serde::{de::DeserializeOwned, Serialize};

/// Register a stream for a topic's events (before the subscription is sent, so no event
/// logged after the subscription is confirmed is missed).
#[derive(Message)]
#[rtype(result = "()")]
struct AddStream(String, mpsc::UnboundedSender<Bytes>);

impl Handler<AddStream> for ClientActor {
    type Result = ();
    fn handle(&mut self, msg: AddStream, _ctx: &mut Context<Self>) {
        let senders = self.coord.streams.entry(msg.0).or_default();
        senders.retain(|s| !s.is_closed());
        senders.push(msg.1);
    }
}

impl ClientActor {
    /// Hands an event to every live stream of its topic; once none is left, the scheduler
    /// is told to stop sending the topic.
    pub(super) fn on_topic_event(&mut self, topic: String, value: Bytes) {
        let senders = self.coord.streams.entry(topic.clone()).or_default();
        senders.retain(|s| s.unbounded_send(value.clone()).is_ok());
        if senders.is_empty() {
            self.coord.streams.remove(&topic);
            self.send_coord(CoordOp::Unsubscribe { topic });
        }
    }
}

impl Client {
    /// Sends `value` to every current subscriber of `topic`.
    pub async fn log_event<T: Serialize>(&self, topic: &str, value: &T) -> Result<()> {
        let op = CoordOp::LogEvent {
            topic: topic.to_string(),
            value: encode_value(value)?,
        };
        match self.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Client::log_event`].
    pub fn log_event_blocking<T: Serialize>(&self, topic: &str, value: &T) -> Result<()> {
        super::block::block_on(self.log_event(topic, value))
    }

    /// The events of `topic` from now on, decoded as `T`. The subscription ends when the
    /// stream is dropped (and the next event of the topic arrives).
    pub async fn subscribe<T: DeserializeOwned>(
        &self,
        topic: &str,
    ) -> Result<impl Stream<Item = Result<T>> + Unpin> {
        let (tx, rx) = mpsc::unbounded();
        self.actor_addr().do_send(AddStream(topic.to_string(), tx));
        let op = CoordOp::Subscribe {
            topic: topic.to_string(),
        };
        match self.coord(op, None, String::new).await? {
            CoordReply::Done => {}
            other => return Err(unexpected(other)),
        }
        let key = Key::new(format!("topic-{topic}"));
        Ok(rx.map(move |bytes| decode_as::<T>(&key, &bytes)))
    }

    /// Publishes futures under `name`; fails if that name is taken (see
    /// [`Client::publish_dataset_replace`]).
    pub async fn publish_dataset<T>(&self, name: &str, futures: &[Future<T>]) -> Result<()> {
        self.publish(name, futures, false).await
    }

    /// Publishes futures under `name`, replacing a dataset of that name.
    pub async fn publish_dataset_replace<T>(
        &self,
        name: &str,
        futures: &[Future<T>],
    ) -> Result<()> {
        self.publish(name, futures, true).await
    }

    async fn publish<T>(&self, name: &str, futures: &[Future<T>], replace: bool) -> Result<()> {
        let op = CoordOp::PublishDataset {
            name: name.to_string(),
            keys: futures.iter().map(|f| f.key().clone()).collect(),
            replace,
        };
        match self.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The futures published under `name`, in order; `T` is the caller's claim about their
    /// type (checked when a value is decoded).
    pub async fn get_dataset<T>(&self, name: &str) -> Result<Vec<Future<T>>> {
        let op = CoordOp::GetDataset {
            name: name.to_string(),
        };
        match self.coord(op, None, String::new).await? {
            CoordReply::Keys(keys) => Ok(keys.into_iter().map(|k| self.adopt(k)).collect()),
            other => Err(unexpected(other)),
        }
    }

    /// Names of the published datasets, sorted.
    pub async fn list_datasets(&self) -> Result<Vec<String>> {
        match self.coord(CoordOp::ListDatasets, None, String::new).await? {
            CoordReply::Names(names) => Ok(names),
            other => Err(unexpected(other)),
        }
    }

    /// Stops publishing `name` (results nobody else holds are released).
    pub async fn unpublish_dataset(&self, name: &str) -> Result<()> {
        let op = CoordOp::UnpublishDataset {
            name: name.to_string(),
        };
        match self.coord(op, None, String::new).await? {
            CoordReply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Blocking form of [`Client::publish_dataset`].
    pub fn publish_dataset_blocking<T>(&self, name: &str, futures: &[Future<T>]) -> Result<()> {
        super::block::block_on(self.publish_dataset(name, futures))
    }

    /// Blocking form of [`Client::get_dataset`].
    pub fn get_dataset_blocking<T>(&self, name: &str) -> Result<Vec<Future<T>>> {
        super::block::block_on(self.get_dataset(name))
    }

    /// Blocking form of [`Client::list_datasets`].
    pub fn list_datasets_blocking(&self) -> Result<Vec<String>> {
        super::block::block_on(self.list_datasets())
    }

    /// Blocking form of [`Client::publish_dataset_replace`].
    pub fn publish_dataset_replace_blocking<T>(
        &self,
        name: &str,
        futures: &[Future<T>],
    ) -> Result<()> {
        super::block::block_on(self.publish_dataset_replace(name, futures))
    }

    /// Blocking form of [`Client::unpublish_dataset`].
    pub fn unpublish_dataset_blocking(&self, name: &str) -> Result<()> {
        super::block::block_on(self.unpublish_dataset(name))
    }

    /// Blocking form of [`Client::subscribe`]: the events as an iterator (each `next` waits
    /// for the next event).
    pub fn subscribe_blocking<T: DeserializeOwned>(
        &self,
        topic: &str,
    ) -> Result<impl Iterator<Item = Result<T>>> {
        let stream = super::block::block_on(self.subscribe::<T>(topic))?;
        Ok(futures::executor::block_on_stream(stream))
    }
}
