//! Where a stream's results go: a callback (per event or per delivery), a [`Queue`], files
//! of JSON lines in a directory, or a ZeroMQ PUSH or PUB socket. The driver hands each
//! delivery (a batch's events, or the windows a batch closed) to the sink and waits until
//! the sink has taken it before it reads more from the source: a slow sink slows the source.

use super::source::{attach, Endpoint};
use crate::{Error, Result};
use futures::future::BoxFuture;
use rask_actors::client::Queue;
use rask_protocol::decode_value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::marker::PhantomData;
use std::path::PathBuf;

/// Takes deliveries of encoded results.
pub(crate) trait Deliver: Send {
    /// Takes one delivery, in order; the stream waits for it.
    fn deliver(&mut self, records: Vec<Vec<u8>>) -> BoxFuture<'_, Result<()>>;

    /// The stream has ended: finish what was handed over.
    fn finish(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// How long a ZeroMQ sink keeps its socket after the stream's last result, so that messages
/// the socket still queues reach their peers (ZeroMQ's linger; the `zeromq` crate has no
/// flush).
pub const ZMQ_LINGER: std::time::Duration = std::time::Duration::from_millis(300);

/// A sink for results of type `T`.
pub struct Sink<T> {
    pub(crate) inner: Box<dyn Deliver>,
    _t: PhantomData<fn(T)>,
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    decode_value::<T>(b).map_err(|e| {
        Error::Malformed(format!(
            "stream result does not decode as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

struct Batches<F>(F);

impl<T, F> Deliver for Batches<(F, PhantomData<fn(T)>)>
where
    T: DeserializeOwned,
    F: FnMut(Vec<T>) + Send,
{
    fn deliver(&mut self, records: Vec<Vec<u8>>) -> BoxFuture<'_, Result<()>> {
        let values = records
            .iter()
            .map(|r| decode::<T>(r))
            .collect::<Result<Vec<T>>>();
        let out = values.map(|v| (self.0 .0)(v));
        Box::pin(async move { out })
    }
}

struct QueueSink<T>(Queue, PhantomData<fn(T)>);

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Deliver for QueueSink<T> {
    fn deliver(&mut self, records: Vec<Vec<u8>>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let values = records
                .iter()
                .map(|r| decode::<T>(r))
                .collect::<Result<Vec<T>>>()?;
            Ok(self.0.put_many(&values, None).await?)
        })
    }
}

struct Files<T> {
    dir: PathBuf,
    seq: u64,
    _t: PhantomData<fn(T)>,
}

impl<T: Serialize + DeserializeOwned> Files<T> {
    fn write(&mut self, records: &[Vec<u8>]) -> Result<()> {
        let name = format!("part-{:09}.jsonl", self.seq);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);
        let mut w =
            std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
        for r in records {
            let v: T = decode(r)?;
            serde_json::to_writer(&mut w, &v)
                .map_err(|e| Error::Malformed(format!("{}: {e}", path.display())))?;
            w.write_all(b"\n").map_err(|e| Error::io(&tmp, e))?;
        }
        w.flush().map_err(|e| Error::io(&tmp, e))?;
        drop(w);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        self.seq += 1;
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned + Send> Deliver for Files<T> {
    fn deliver(&mut self, records: Vec<Vec<u8>>) -> BoxFuture<'_, Result<()>> {
        let out = if records.is_empty() {
            Ok(())
        } else {
            self.write(&records)
        };
        Box::pin(async move { out })
    }
}

enum ZmqOut {
    Push(zeromq::PushSocket),
    Pub(zeromq::PubSocket),
}

struct ZmqSink {
    publish: bool,
    endpoint: Endpoint,
    socket: Option<ZmqOut>,
}

impl ZmqSink {
    async fn send_all(&mut self, records: Vec<Vec<u8>>) -> Result<()> {
        use zeromq::{Socket, SocketSend};
        let addr = match &self.endpoint {
            Endpoint::Connect(a) | Endpoint::Bind(a) => a.clone(),
        };
        let err = |e: zeromq::ZmqError| Error::Stream(format!("ZeroMQ sink {addr}: {e}"));
        if self.socket.is_none() {
            self.socket = Some(if self.publish {
                let mut s = zeromq::PubSocket::new();
                attach(&mut s, &self.endpoint).await?;
                ZmqOut::Pub(s)
            } else {
                let mut s = zeromq::PushSocket::new();
                attach(&mut s, &self.endpoint).await?;
                ZmqOut::Push(s)
            });
        }
        let socket = self.socket.as_mut().expect("just made");
        for r in records {
            let msg = zeromq::ZmqMessage::from(r);
            match socket {
                ZmqOut::Push(s) => s.send(msg).await.map_err(err)?,
                ZmqOut::Pub(s) => s.send(msg).await.map_err(err)?,
            }
        }
        Ok(())
    }
}

impl Deliver for ZmqSink {
    fn deliver(&mut self, records: Vec<Vec<u8>>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.send_all(records))
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<()>> {
        let sent = self.socket.is_some();
        Box::pin(async move {
            if sent {
                tokio::time::sleep(ZMQ_LINGER).await;
            }
            Ok(())
        })
    }
}

fn boxed<T>(d: impl Deliver + 'static) -> Sink<T> {
    Sink {
        inner: Box::new(d),
        _t: PhantomData,
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Sink<T> {
    /// Puts every result into a coordination [`Queue`], in order (waiting while it is
    /// full).
    pub fn queue(queue: Queue) -> Sink<T> {
        boxed(QueueSink::<T>(queue, PhantomData))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Sink<T> {
    /// Calls `f` on every result, in order, on the stream's driver thread (a slow `f`
    /// slows the stream down to its pace).
    pub fn for_each(mut f: impl FnMut(T) + Send + 'static) -> Sink<T> {
        Sink::for_each_batch(move |v: Vec<T>| v.into_iter().for_each(&mut f))
    }

    /// Calls `f` once per delivery (the results of one micro-batch, or the windows it
    /// closed), in order.
    pub fn for_each_batch(f: impl FnMut(Vec<T>) + Send + 'static) -> Sink<T> {
        boxed(Batches((f, PhantomData::<fn(T)>)))
    }

    /// Writes each delivery as a file of JSON lines, `dir/part-000000000.jsonl` onwards
    /// (written under a hidden name, then renamed into place; the folder must exist).
    pub fn files(dir: impl Into<PathBuf>) -> Sink<T> {
        boxed(Files::<T> {
            dir: dir.into(),
            seq: 0,
            _t: PhantomData,
        })
    }

    /// Sends every result as a one-frame message (its postcard encoding) on a ZeroMQ PUSH
    /// socket, kept [`ZMQ_LINGER`] after the last result. Sending with no peer connected fails the stream (the `zeromq` crate does not
    /// queue for absent peers): start the pullers first.
    pub fn zmq_push(endpoint: Endpoint) -> Sink<T> {
        boxed(ZmqSink {
            publish: false,
            endpoint,
            socket: None,
        })
    }

    /// Publishes every result on a ZeroMQ PUB socket (subscribers that are not connected
    /// miss it, as ZeroMQ's PUB/SUB does).
    pub fn zmq_pub(endpoint: Endpoint) -> Sink<T> {
        boxed(ZmqSink {
            publish: true,
            endpoint,
            socket: None,
        })
    }
}
