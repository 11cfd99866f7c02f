//! Request/reply connections to workers' data-stores, pooled by address: used by workers to
//! fetch dependencies from peers and by clients to gather and scatter values directly.

use super::dealer::{self, DealerEvent, DealerSender};
use crate::error::{Error, Result};
use bytes::Bytes;
use futures::channel::oneshot;
use futures::StreamExt;
use rask_protocol::{
    decode_batch, encode_batch, Batch, FromStore, Hello, Key, RequestId, Role, ToStore,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a data-store may take to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Batch<FromStore>>>>>;

struct StoreConn {
    sender: DealerSender,
    pending: Pending,
}

/// Connections to data-stores, one per address, opened on first use and dropped when lost.
#[derive(Clone)]
pub struct StorePool {
    name: String,
    conns: Arc<Mutex<HashMap<String, Arc<StoreConn>>>>,
    next_req: Arc<AtomicU64>,
}

impl StorePool {
    /// An empty pool; `name` identifies us in handshakes.
    pub fn new(name: impl Into<String>) -> Self {
        StorePool {
            name: name.into(),
            conns: Default::default(),
            next_req: Arc::new(AtomicU64::new(1)),
        }
    }

    async fn conn(&self, addr: &str) -> Result<Arc<StoreConn>> {
        if let Some(c) = self.conns.lock().expect("pool lock").get(addr) {
            if !c.sender.is_closed() {
                return Ok(c.clone());
            }
        }
        let hello = Hello {
            role: Role::Peer,
            name: self.name.clone(),
            registry_hash: 0,
            worker: None,
        }
        .encode()?;
        let connection = dealer::connect(addr, hello, None).await?;
        let pending: Pending = Default::default();
        let conn = Arc::new(StoreConn {
            sender: connection.sender,
            pending: pending.clone(),
        });
        self.conns
            .lock()
            .expect("pool lock")
            .insert(addr.to_string(), conn.clone());
        let conns = self.conns.clone();
        let addr_owned = addr.to_string();
        let mut events = connection.events;
        let weak = Arc::downgrade(&conn);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    DealerEvent::Message(frames) => match decode_batch::<FromStore>(frames) {
                        Ok(batch) => {
                            let Some(req) = batch.messages.first().map(request_of) else {
                                continue;
                            };
                            let waiter = pending.lock().expect("pending lock").remove(&req.0);
                            if let Some(w) = waiter {
                                let _ = w.send(batch);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(addr = %addr_owned, "bad reply from data-store: {e}")
                        }
                    },
                    DealerEvent::Disconnected => break,
                }
            }
            // Lost: fail every waiter (dropping the senders) and forget the connection.
            pending.lock().expect("pending lock").clear();
            let mut map = conns.lock().expect("pool lock");
            if let (Some(cur), Some(me)) = (map.get(&addr_owned), weak.upgrade()) {
                if Arc::ptr_eq(cur, &me) {
                    map.remove(&addr_owned);
                }
            }
        });
        Ok(conn)
    }

    async fn request(
        &self,
        addr: &str,
        make: impl FnOnce(RequestId) -> (ToStore, Vec<Bytes>),
    ) -> Result<Batch<FromStore>> {
        let conn = self.conn(addr).await?;
        let req = RequestId(self.next_req.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().expect("pending lock").insert(req.0, tx);
        let (msg, frames) = make(req);
        let frames = encode_batch(std::slice::from_ref(&msg), frames)?;
        let lost = || Error::Transport {
            addr: addr.to_string(),
            message: "connection to data-store lost".into(),
        };
        if !conn.sender.send(frames) {
            return Err(lost());
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(batch)) => Ok(batch),
            Ok(Err(_)) => Err(lost()),
            Err(_) => {
                conn.pending.lock().expect("pending lock").remove(&req.0);
                Err(Error::Timeout(
                    REQUEST_TIMEOUT,
                    format!("data-store {addr}"),
                ))
            }
        }
    }

    /// Fetches `keys` from the data-store at `addr`: each key with its value, or `None` when
    /// the store does not hold it.
    pub async fn get(&self, addr: &str, keys: Vec<Key>) -> Result<Vec<(Key, Option<Bytes>)>> {
        let batch = self
            .request(addr, |req| (ToStore::Get { req, keys }, vec![]))
            .await?;
        let mut out = Vec::with_capacity(batch.messages.len());
        for m in &batch.messages {
            match m {
                FromStore::Value { key, frame, .. } => {
                    out.push((key.clone(), Some(batch.frame(*frame)?)))
                }
                FromStore::Missing { key, .. } => out.push((key.clone(), None)),
                FromStore::Stored { .. } => {}
            }
        }
        Ok(out)
    }

    /// Stores `value` under `key` in the data-store at `addr`; returns the stored size.
    pub async fn put(&self, addr: &str, key: Key, value: Bytes) -> Result<u64> {
        let batch = self
            .request(addr, |req| {
                (ToStore::Put { req, key, frame: 0 }, vec![value])
            })
            .await?;
        match batch.messages.first() {
            Some(FromStore::Stored { nbytes, .. }) => Ok(*nbytes),
            other => Err(Error::Transport {
                addr: addr.to_string(),
                message: format!("unexpected reply to put: {other:?}"),
            }),
        }
    }
}

fn request_of(m: &FromStore) -> RequestId {
    match m {
        FromStore::Value { req, .. }
        | FromStore::Missing { req, .. }
        | FromStore::Stored { req, .. } => *req,
    }
}
