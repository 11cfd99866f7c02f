//! Where a stream's events come from: an iterator, a [`Queue`], a ZeroMQ PULL or SUB socket,
//! a directory of arriving files or a text file followed like `tail -f`. Every source runs
//! in a task of its own and hands encoded events to the driver through a channel bounded to
//! one batch, so a driver that stops taking events (full in-flight window, slow sink) stops
//! the source from reading: an iterator is not advanced, a queue is not drained (its
//! producers wait), a socket or file is not read.

use crate::{Error, Result};
use rask_actors::client::Queue;
use rask_protocol::{decode_value, encode_value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{BufRead, Seek};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::Sender;

/// What a source hands the driver: an encoded event, or the error that ends the stream.
pub(crate) type Item = Result<Vec<u8>>;

/// Where a ZeroMQ socket attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Connect to a peer that binds (`tcp://host:port`).
    Connect(String),
    /// Bind this address and let peers connect.
    Bind(String),
}

impl Endpoint {
    fn addr(&self) -> &str {
        match self {
            Endpoint::Connect(a) | Endpoint::Bind(a) => a,
        }
    }
}

type EventIter = Box<dyn Iterator<Item = Result<Vec<u8>>> + Send>;
/// Takes up to so many encoded items (none after a short wait).
type QueueFetch =
    Box<dyn FnMut(u32) -> futures::future::BoxFuture<'static, Result<Vec<Vec<u8>>>> + Send>;
/// Puts encoded items back at the end of the queue.
type QueuePutBack =
    Box<dyn FnMut(Vec<Vec<u8>>) -> futures::future::BoxFuture<'static, Result<()>> + Send>;

pub(crate) enum Kind {
    Iter(EventIter),
    Queue(QueueFetch, QueuePutBack),
    Zmq {
        sub: bool,
        endpoint: Endpoint,
        check: fn(&[u8]) -> std::result::Result<(), String>,
    },
    Dir {
        path: PathBuf,
        poll: Duration,
    },
    Tail {
        path: PathBuf,
        from_start: bool,
        poll: Duration,
    },
}

/// A source of events of type `T`.
pub struct Source<T> {
    pub(crate) kind: Kind,
    _t: PhantomData<fn() -> T>,
}

fn typed<T>(kind: Kind) -> Source<T> {
    Source {
        kind,
        _t: PhantomData,
    }
}

fn check_as<T: DeserializeOwned>(b: &[u8]) -> std::result::Result<(), String> {
    decode_value::<T>(b).map(|_| ()).map_err(|e| {
        format!(
            "message does not decode as {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

impl<T: Serialize + Send + 'static> Source<T> {
    /// The items of an iterator (the stream ends when it does).
    pub fn iter<I>(items: I) -> Source<T>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let it = items
            .into_iter()
            .map(|x| encode_value(&x).map(|b| b.to_vec()).map_err(Error::from));
        typed(Kind::Iter(Box::new(it)))
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Source<T> {
    /// Items taken from a coordination [`Queue`] in batches (runs until stopped or
    /// [`take`](super::Stream::take) events were read).
    pub fn queue(queue: Queue) -> Source<T> {
        let back = queue.clone();
        let put_back = move |items: Vec<Vec<u8>>| {
            let q = back.clone();
            let fut = async move {
                let values = items
                    .iter()
                    .map(|b| decode_value::<T>(b))
                    .collect::<std::result::Result<Vec<T>, _>>()?;
                q.put_many(&values, None).await?;
                Ok(())
            };
            Box::pin(fut) as futures::future::BoxFuture<'static, _>
        };
        let fetch = move |max: u32| {
            let q = queue.clone();
            let fut = async move {
                match q
                    .get_batch::<T>(max, Some(Duration::from_millis(200)))
                    .await
                {
                    Ok(items) => items
                        .iter()
                        .map(|x| encode_value(x).map(|b| b.to_vec()).map_err(Error::from))
                        .collect(),
                    Err(rask_actors::Error::Timeout(..)) => Ok(Vec::new()),
                    Err(e) => Err(e.into()),
                }
            };
            Box::pin(fut) as futures::future::BoxFuture<'static, _>
        };
        typed(Kind::Queue(Box::new(fetch), Box::new(put_back)))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Source<T> {
    /// Messages of a ZeroMQ PULL socket, one event per message (its first frame, the
    /// postcard encoding of a `T`; a message that does not decode ends the stream with
    /// [`Error::Malformed`]).
    pub fn zmq_pull(endpoint: Endpoint) -> Source<T> {
        typed(Kind::Zmq {
            sub: false,
            endpoint,
            check: check_as::<T>,
        })
    }

    /// Messages of a ZeroMQ SUB socket subscribed to everything (as [`Source::zmq_pull`]).
    /// A publisher drops what is sent before the subscription is in place, as ZeroMQ does.
    pub fn zmq_sub(endpoint: Endpoint) -> Source<T> {
        typed(Kind::Zmq {
            sub: true,
            endpoint,
            check: check_as::<T>,
        })
    }
}

impl Source<String> {
    /// The lines of each file that appears in `dir` (checked every `poll`), files taken in
    /// name order, each read once, whole. Files present at the start count as arriving.
    /// Writers must move finished files in (hidden names, `.tmp` and `.part` are skipped).
    pub fn directory(dir: impl Into<PathBuf>, poll: Duration) -> Source<String> {
        typed(Kind::Dir {
            path: dir.into(),
            poll,
        })
    }

    /// The lines appended to a text file, like `tail -f` (from its start if `from_start`,
    /// else from its current end); a partial last line waits for its newline; a truncated
    /// file is read again from its start.
    pub fn tail(path: impl Into<PathBuf>, from_start: bool, poll: Duration) -> Source<String> {
        typed(Kind::Tail {
            path: path.into(),
            from_start,
            poll,
        })
    }
}

/// Starts the source on the current runtime.
pub(crate) fn spawn(kind: Kind, tx: Sender<Item>, batch: u32, limit: Option<u64>) {
    match kind {
        Kind::Iter(it) => {
            tokio::task::spawn_blocking(move || {
                for item in it {
                    let stop = item.is_err();
                    if tx.blocking_send(item).is_err() || stop {
                        break;
                    }
                }
            });
        }
        Kind::Queue(mut fetch, mut put_back) => {
            tokio::spawn(async move {
                let mut left = limit.unwrap_or(u64::MAX);
                while !tx.is_closed() && left > 0 {
                    // Take no more than there is room for (and than the stream still wants):
                    // what is taken is off the queue.
                    let room = tx.capacity().clamp(1, batch.max(1) as usize) as u64;
                    match fetch(room.min(left) as u32).await {
                        Ok(items) => {
                            left -= items.len() as u64;
                            let mut items = items.into_iter();
                            while let Some(b) = items.next() {
                                if let Err(unsent) = tx.send(Ok(b)).await {
                                    // The stream stopped meanwhile: these go back.
                                    let mut rest = vec![unsent.0.unwrap_or_default()];
                                    rest.extend(items);
                                    if let Err(e) = put_back(rest).await {
                                        tracing::error!("stream queue source: items taken but not put back: {e}");
                                    }
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                }
            });
        }
        Kind::Zmq {
            sub,
            endpoint,
            check,
        } => {
            tokio::spawn(async move {
                if let Err(e) = zmq_source(sub, &endpoint, check, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
        }
        Kind::Dir { path, poll } => {
            tokio::task::spawn_blocking(move || {
                if let Err(e) = dir_source(&path, poll, &tx) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
        }
        Kind::Tail {
            path,
            from_start,
            poll,
        } => {
            tokio::task::spawn_blocking(move || {
                if let Err(e) = tail_source(&path, from_start, poll, &tx) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
        }
    }
}

fn zmq_err(endpoint: &Endpoint, e: impl std::fmt::Display) -> Error {
    Error::Stream(format!("ZeroMQ source {}: {e}", endpoint.addr()))
}

async fn zmq_source(
    sub: bool,
    endpoint: &Endpoint,
    check: fn(&[u8]) -> std::result::Result<(), String>,
    tx: &Sender<Item>,
) -> Result<()> {
    use zeromq::{Socket, SocketRecv};
    let mut socket: Box<dyn SocketRecv + Send> = if sub {
        let mut s = zeromq::SubSocket::new();
        attach(&mut s, endpoint).await?;
        s.subscribe("").await.map_err(|e| zmq_err(endpoint, e))?;
        Box::new(s)
    } else {
        let mut s = zeromq::PullSocket::new();
        attach(&mut s, endpoint).await?;
        Box::new(s)
    };
    let mut n = 0u64;
    loop {
        let msg = tokio::select! {
            m = socket.recv() => m.map_err(|e| zmq_err(endpoint, e))?,
            _ = tx.closed() => return Ok(()),
        };
        let body = msg.get(0).cloned().unwrap_or_default();
        check(&body).map_err(|m| {
            Error::Malformed(format!(
                "ZeroMQ source {}: message {n}: {m}",
                endpoint.addr()
            ))
        })?;
        n += 1;
        if tx.send(Ok(body.to_vec())).await.is_err() {
            return Ok(());
        }
    }
}

pub(crate) async fn attach<S: zeromq::Socket>(s: &mut S, endpoint: &Endpoint) -> Result<()> {
    match endpoint {
        Endpoint::Connect(a) => s.connect(a).await.map_err(|e| zmq_err(endpoint, e)),
        Endpoint::Bind(a) => s
            .bind(a)
            .await
            .map(|_| ())
            .map_err(|e| zmq_err(endpoint, e)),
    }
}

fn send_line(tx: &Sender<Item>, line: &str) -> bool {
    let rec = encode_value(&line).map(|b| b.to_vec()).map_err(Error::from);
    tx.blocking_send(rec).is_ok()
}

fn dir_source(dir: &std::path::Path, poll: Duration, tx: &Sender<Item>) -> Result<()> {
    let mut seen: HashSet<std::ffi::OsString> = HashSet::new();
    while !tx.is_closed() {
        let mut fresh = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name();
            let s = name.to_string_lossy();
            let skip = s.starts_with('.') || s.ends_with(".tmp") || s.ends_with(".part");
            if !skip && entry.path().is_file() && !seen.contains(&name) {
                fresh.push(name);
            }
        }
        fresh.sort();
        for name in fresh {
            let path = dir.join(&name);
            let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::io(&path, e))?;
                if !send_line(tx, &line) {
                    return Ok(());
                }
            }
            seen.insert(name);
        }
        std::thread::sleep(poll);
    }
    Ok(())
}

fn tail_source(
    path: &std::path::Path,
    from_start: bool,
    poll: Duration,
    tx: &Sender<Item>,
) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut pos = if from_start {
        0
    } else {
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?
    };
    let mut line = Vec::new();
    while !tx.is_closed() {
        let got = file.read_until(b'\n', &mut line).map_err(io)?;
        pos += got as u64;
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
            let text = String::from_utf8(std::mem::take(&mut line)).map_err(|_| {
                Error::Malformed(format!("{}: a line is not UTF-8", path.display()))
            })?;
            if !send_line(tx, &text) {
                return Ok(());
            }
            continue;
        }
        // At the end: wait, and start over if the file was truncated.
        std::thread::sleep(poll);
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len < pos {
            file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
            pos = 0;
            line.clear();
        }
    }
    Ok(())
}
