//! Request/reply connections to workers' data-stores, pooled by address: used by workers to
//! fetch dependencies from peers and by clients to gather and scatter values directly.
//!
//! Values larger than [`CHUNK`] arrive as a run of separate messages of one chunk each, so
//! neither side ever builds a socket buffer the size of the value; they are assembled here
//! into one contiguous buffer.

use super::dealer::{self, DealerEvent, DealerSender};
use crate::error::{Error, Result};
use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use rask_protocol::{
    decode_batch, encode_batch, ActorOutcome, FromStore, Hello, Key, RequestId, Role, ToStore,
};
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a data-store may take to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Values above this size travel as separate messages of this size.
pub const CHUNK: usize = 1 << 20;

/// One answer of a data-store.
#[derive(Debug)]
enum Got {
    Value(Key, Bytes),
    Missing(Key),
    Stored(u64),
    /// An actor call's result, or how it did not return one.
    Actor(std::result::Result<Bytes, ActorOutcome>),
}

/// A request waiting for its answers.
struct Inflight {
    tx: oneshot::Sender<Vec<Got>>,
    expected: usize,
    got: Vec<Got>,
    partial: Option<(Key, BytesMut, usize)>,
}

type Pending = Arc<Mutex<HashMap<u64, Inflight>>>;

struct StoreConn {
    sender: DealerSender,
    pending: Pending,
}

/// Words of the error for a request to a store that failed us moments ago.
pub const NOT_RETRYING: &str = "not retrying it yet";

/// How long a data-store that failed us is not tried again.
pub const DEAD_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Fails at once if nothing listens at a `tcp://` address (the socket library would retry a
/// refused connection until its timeout: a dead worker would cost every fetch seconds).
async fn refuses_connections(addr: &str) -> Result<()> {
    let Some(hostport) = addr.strip_prefix("tcp://") else {
        return Ok(());
    };
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(hostport),
    )
    .await
    {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(Error::Transport {
            addr: addr.to_string(),
            message: "connection refused (the data-store is gone)".into(),
        }),
        _ => Ok(()),
    }
}

fn mark_dead(dead: &Mutex<HashMap<String, std::time::Instant>>, addr: &str) {
    let mut map = dead.lock().expect("pool lock");
    map.retain(|_, at| at.elapsed() < DEAD_FOR);
    map.insert(addr.to_string(), std::time::Instant::now());
}

type Connecting = Shared<BoxFuture<'static, Result<Arc<StoreConn>>>>;

/// Connections to data-stores, one per address, opened on first use (concurrent first uses
/// share one connection attempt) and dropped when lost.
#[derive(Clone)]
pub struct StorePool {
    name: String,
    conns: Arc<Mutex<HashMap<String, Connecting>>>,
    /// Data-stores that could not be reached or dropped us, and when: requests to them fail
    /// at once for [`DEAD_FOR`] instead of each waiting out a connect timeout (a killed
    /// worker's port refuses connections, which the socket library retries until timeout).
    dead: Arc<Mutex<HashMap<String, std::time::Instant>>>,
    next_req: Arc<AtomicU64>,
}

fn request_of(m: &FromStore) -> RequestId {
    match m {
        FromStore::Value { req, .. }
        | FromStore::Missing { req, .. }
        | FromStore::Stored { req, .. }
        | FromStore::Chunk { req, .. }
        | FromStore::ActorResult { req, .. } => *req,
    }
}

fn lost(addr: &str) -> Error {
    Error::Transport {
        addr: addr.to_string(),
        message: "connection to data-store lost".into(),
    }
}

/// Waits for the answers of request `req` on `conn`.
async fn wait_reply(
    conn: Arc<StoreConn>,
    addr: &str,
    (req, rx): (RequestId, oneshot::Receiver<Vec<Got>>),
) -> Result<Vec<Got>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
        Ok(Ok(got)) => Ok(got),
        Ok(Err(_)) => Err(lost(addr)),
        Err(_) => {
            conn.pending.lock().expect("pending lock").remove(&req.0);
            Err(Error::Timeout(
                REQUEST_TIMEOUT,
                format!("data-store {addr}"),
            ))
        }
    }
}

/// A buffer for a value of `total` bytes whose first chunk is `first`, and the padding put
/// in front of it so that what follows the value's leading length prefix (a varint: an
/// array block's header and elements, a partition's IPC stream) starts 8-byte aligned and
/// can be read in place.
fn aligned_buffer(total: usize, first: &[u8]) -> (BytesMut, usize) {
    let prefix = first
        .iter()
        .take(10)
        .take_while(|b| **b & 0x80 != 0)
        .count()
        + 1;
    let mut buf = BytesMut::with_capacity(total + 8);
    let pad = (8 - (buf.as_ptr() as usize + prefix) % 8) % 8;
    buf.extend_from_slice(&[0u8; 8][..pad]);
    (buf, pad)
}

/// Files the answers of one incoming message; resolves requests that are complete.
fn dispatch(pending: &Pending, frames: Vec<Bytes>) -> rask_protocol::Result<()> {
    let batch = decode_batch::<FromStore>(frames)?;
    let mut map = pending.lock().expect("pending lock");
    for msg in &batch.messages {
        let req = request_of(msg).0;
        let Some(inflight) = map.get_mut(&req) else {
            continue;
        };
        match msg {
            FromStore::Value { key, frame, .. } => inflight
                .got
                .push(Got::Value(key.clone(), batch.frame(*frame)?)),
            FromStore::Missing { key, .. } => inflight.got.push(Got::Missing(key.clone())),
            FromStore::Stored { nbytes, .. } => inflight.got.push(Got::Stored(*nbytes)),
            FromStore::ActorResult { outcome, .. } => {
                inflight.got.push(Got::Actor(match outcome {
                    ActorOutcome::Value { frame } => Ok(batch.frame(*frame)?),
                    other => Err(other.clone()),
                }))
            }
            FromStore::Chunk {
                key, total, frame, ..
            } => {
                let part = batch.frame(*frame)?;
                let (buf, pad) = match &mut inflight.partial {
                    Some((k, buf, pad)) if k == key => (buf, *pad),
                    slot => {
                        let (buf, pad) = aligned_buffer(*total as usize, &part);
                        *slot = Some((key.clone(), buf, pad));
                        let (_, buf, pad) = slot.as_mut().expect("just set");
                        (buf, *pad)
                    }
                };
                buf.extend_from_slice(&part);
                if (buf.len() - pad) as u64 >= *total {
                    let (k, buf, pad) = inflight.partial.take().expect("assembling");
                    inflight.got.push(Got::Value(k, buf.freeze().slice(pad..)));
                }
            }
        }
        if inflight.got.len() >= inflight.expected {
            let done = map.remove(&req).expect("present");
            let _ = done.tx.send(done.got);
        }
    }
    Ok(())
}

impl StorePool {
    /// An empty pool; `name` identifies us in handshakes.
    pub fn new(name: impl Into<String>) -> Self {
        StorePool {
            name: name.into(),
            conns: Default::default(),
            dead: Default::default(),
            next_req: Arc::new(AtomicU64::new(1)),
        }
    }

    async fn conn(&self, addr: &str) -> Result<Arc<StoreConn>> {
        if let Some(at) = self.dead.lock().expect("pool lock").get(addr) {
            if at.elapsed() < DEAD_FOR {
                return Err(Error::Transport {
                    addr: addr.to_string(),
                    message: format!(
                        "data-store unreachable {:.1} s ago; {NOT_RETRYING}",
                        at.elapsed().as_secs_f64()
                    ),
                });
            }
        }
        let attempt = {
            let mut map = self.conns.lock().expect("pool lock");
            let usable = match map.get(addr).and_then(|c| c.peek()) {
                Some(Ok(c)) => !c.sender.is_closed(),
                Some(Err(_)) => false,
                None => map.contains_key(addr), // still connecting: share it
            };
            if !usable {
                let pool = self.clone();
                let a = addr.to_string();
                let fut: BoxFuture<'static, Result<Arc<StoreConn>>> =
                    Box::pin(async move { pool.open(&a).await });
                map.insert(addr.to_string(), fut.shared());
            }
            map.get(addr).expect("present").clone()
        };
        let result = attempt.await;
        if result.is_err() {
            self.conns.lock().expect("pool lock").remove(addr);
            mark_dead(&self.dead, addr);
        } else {
            self.dead.lock().expect("pool lock").remove(addr);
        }
        result
    }

    async fn open(&self, addr: &str) -> Result<Arc<StoreConn>> {
        let hello = Hello {
            role: Role::Peer,
            name: self.name.clone(),
            registry_hash: 0,
            worker: None,
        }
        .encode()?;
        refuses_connections(addr).await?;
        let connection = dealer::connect(addr, hello, None).await?;
        let pending: Pending = Default::default();
        let conn = Arc::new(StoreConn {
            sender: connection.sender,
            pending: pending.clone(),
        });
        let conns = self.conns.clone();
        let dead = self.dead.clone();
        let addr_owned = addr.to_string();
        let mut events = connection.events;
        let weak = Arc::downgrade(&conn);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    DealerEvent::Message(frames) => {
                        if let Err(e) = dispatch(&pending, frames) {
                            tracing::warn!(addr = %addr_owned, "bad reply from data-store: {e}");
                        }
                    }
                    DealerEvent::Disconnected => break,
                }
            }
            // Lost: fail every waiter (dropping the senders) and forget the connection.
            pending.lock().expect("pending lock").clear();
            mark_dead(&dead, &addr_owned);
            let mut map = conns.lock().expect("pool lock");
            let current = map.get(&addr_owned).and_then(|c| c.peek().cloned());
            if let (Some(Ok(cur)), Some(me)) = (current, weak.upgrade()) {
                if Arc::ptr_eq(&cur, &me) {
                    map.remove(&addr_owned);
                }
            }
        });
        Ok(conn)
    }

    async fn request(
        &self,
        addr: &str,
        expected: usize,
        make: impl FnOnce(RequestId) -> (ToStore, Vec<Bytes>),
    ) -> Result<Vec<Got>> {
        let conn = self.conn(addr).await?;
        let rx = self.send_on(&conn, addr, expected, make)?;
        wait_reply(conn, addr, rx).await
    }

    /// The connection to `addr` if it is open now.
    fn ready(&self, addr: &str) -> Option<Arc<StoreConn>> {
        let map = self.conns.lock().expect("pool lock");
        match map.get(addr).and_then(|c| c.peek()) {
            Some(Ok(c)) if !c.sender.is_closed() => Some(c.clone()),
            _ => None,
        }
    }

    /// Sends one request on `conn` now; the receiver gets its answers.
    fn send_on(
        &self,
        conn: &Arc<StoreConn>,
        addr: &str,
        expected: usize,
        make: impl FnOnce(RequestId) -> (ToStore, Vec<Bytes>),
    ) -> Result<(RequestId, oneshot::Receiver<Vec<Got>>)> {
        let req = RequestId(self.next_req.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().expect("pending lock").insert(
            req.0,
            Inflight {
                tx,
                expected,
                got: Vec::with_capacity(expected),
                partial: None,
            },
        );
        let (msg, frames) = make(req);
        let frames = encode_batch(std::slice::from_ref(&msg), frames)?;
        if !conn.sender.send(frames) {
            conn.pending.lock().expect("pending lock").remove(&req.0);
            return Err(lost(addr));
        }
        Ok((req, rx))
    }

    /// Calls `method` of the actor under `actor` in the data-store at `addr`: its encoded
    /// result, or the outcome that is not one. Sent at once when the connection is open, so
    /// calls made one after the other on an open connection run in that order.
    pub fn call_actor(
        &self,
        addr: &str,
        actor: Key,
        method: String,
        args: Vec<Bytes>,
    ) -> BoxFuture<'static, Result<std::result::Result<Bytes, ActorOutcome>>> {
        let make = move |req| {
            let msg = ToStore::ActorCall {
                req,
                actor,
                method,
                args,
            };
            (msg, vec![])
        };
        let addr = addr.to_string();
        let got = match self.ready(&addr) {
            Some(conn) => match self.send_on(&conn, &addr, 1, make) {
                Ok(rx) => async move { wait_reply(conn, &addr, rx).await }.boxed(),
                Err(e) => futures::future::ready(Err(e)).boxed(),
            },
            None => {
                let pool = self.clone();
                async move { pool.request(&addr, 1, make).await }.boxed()
            }
        };
        async move {
            match got.await?.pop() {
                Some(Got::Actor(outcome)) => Ok(outcome),
                other => Err(Error::Transport {
                    addr: String::new(),
                    message: format!("unexpected reply to an actor call: {other:?}"),
                }),
            }
        }
        .boxed()
    }

    /// Opens the connection to the data-store at `addr` now (so later requests go out at
    /// once, in order).
    pub async fn connect(&self, addr: &str) -> Result<()> {
        self.conn(addr).await.map(|_| ())
    }

    /// Fetches `keys` from the data-store at `addr`: each key with its value, or `None` when
    /// the store does not hold it.
    pub async fn get(&self, addr: &str, keys: Vec<Key>) -> Result<Vec<(Key, Option<Bytes>)>> {
        let n = keys.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let got = self
            .request(addr, n, |req| (ToStore::Get { req, keys }, vec![]))
            .await?;
        Ok(got
            .into_iter()
            .filter_map(|g| match g {
                Got::Value(k, v) => Some((k, Some(v))),
                Got::Missing(k) => Some((k, None)),
                Got::Stored(_) | Got::Actor(_) => None,
            })
            .collect())
    }

    /// Stores `value` under `key` in the data-store at `addr`; returns the stored size.
    pub async fn put(&self, addr: &str, key: Key, value: Bytes) -> Result<u64> {
        let got = self
            .request(addr, 1, |req| {
                (ToStore::Put { req, key, frame: 0 }, vec![value])
            })
            .await?;
        match got.first() {
            Some(Got::Stored(n)) => Ok(*n),
            other => Err(Error::Transport {
                addr: addr.to_string(),
                message: format!("unexpected reply to put: {other:?}"),
            }),
        }
    }
}
