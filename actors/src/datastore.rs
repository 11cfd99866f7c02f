//! The data-store actor: a worker's results in memory, served to peers and clients over the
//! worker's own ROUTER socket, and to its worker through actor messages.

use crate::transport::router::{bind_router, RouterEvent, RouterSender};
use crate::transport::store_client::CHUNK;
use crate::{Error, Result};
use actix::prelude::*;
use bytes::Bytes;
use rask_protocol::{
    decode_batch, encode_batch, FromStore, Hello, HelloReply, Key, Role, ToStore, Welcome,
};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// A worker's store of results.
pub struct DataStore {
    name: String,
    data: HashMap<Key, Bytes>,
    nbytes: u64,
    sender: RouterSender,
    peers: HashSet<Bytes>,
}

impl Actor for DataStore {
    type Context = Context<Self>;
}

/// Stores a value (from the worker); replies with its size.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Put {
    /// The key.
    pub key: Key,
    /// The encoded value.
    pub value: Bytes,
}

/// Drops keys.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Free(pub Vec<Key>);

/// Reads keys held here (`None` for each one not held).
#[derive(Message)]
#[rtype(result = "Vec<Option<Bytes>>")]
pub struct GetLocal(pub Vec<Key>);

/// Every key held, with its size (re-registration after a scheduler restart).
#[derive(Message)]
#[rtype(result = "Vec<(Key, u64)>")]
pub struct Held;

/// Number of keys and bytes held.
#[derive(Message)]
#[rtype(result = "(u64, u64)")]
pub struct Stats;

impl DataStore {
    /// Binds the store's ROUTER on `bind_addr` (port 0 for any) and starts the actor on the
    /// current arbiter. Returns the actor and the address to advertise.
    pub async fn start(name: String, bind_addr: &str) -> Result<(Addr<DataStore>, String)> {
        let bound = bind_router(bind_addr).await?;
        let endpoint = bound.endpoint.clone();
        let addr = DataStore::create(move |ctx| {
            ctx.add_stream(bound.events);
            DataStore {
                name,
                data: HashMap::default(),
                nbytes: 0,
                sender: bound.sender,
                peers: HashSet::default(),
            }
        });
        Ok((addr, endpoint))
    }

    fn insert(&mut self, key: Key, value: Bytes) -> u64 {
        let n = value.len() as u64;
        if let Some(old) = self.data.insert(key, value) {
            self.nbytes -= old.len() as u64;
        }
        self.nbytes += n;
        n
    }

    fn handshake(&mut self, peer: Bytes, frames: &[Bytes]) {
        let reply = match frames.first().map(|f| Hello::decode(f)) {
            Some(Ok(Hello {
                role: Role::Peer, ..
            })) => {
                self.peers.insert(peer.clone());
                HelloReply::Welcome(Welcome {
                    id: 0,
                    heartbeat_ms: 0,
                    name: self.name.clone(),
                })
            }
            Some(Ok(hello)) => HelloReply::Refused(format!(
                "this is a worker's data-store; a {:?} must connect to the scheduler",
                hello.role
            )),
            Some(Err(e)) => {
                tracing::warn!(store = %self.name, "refused a peer: {e}");
                HelloReply::Refused(e.to_string())
            }
            None => return,
        };
        if let Ok(bytes) = reply.encode() {
            self.sender.send(peer, vec![bytes]);
        }
    }

    fn send_chunks(&self, peer: &Bytes, req: rask_protocol::RequestId, key: &Key, value: Bytes) {
        let total = value.len() as u64;
        let mut offset = 0;
        while offset < value.len() {
            let end = (offset + CHUNK).min(value.len());
            let msg = FromStore::Chunk {
                req,
                key: key.clone(),
                offset: offset as u64,
                total,
                frame: 0,
            };
            match encode_batch(std::slice::from_ref(&msg), vec![value.slice(offset..end)]) {
                Ok(frames) => self.sender.send(peer.clone(), frames),
                Err(e) => tracing::error!("cannot encode a chunk: {e}"),
            }
            offset = end;
        }
    }

    fn serve(&mut self, peer: Bytes, frames: Vec<Bytes>) {
        let batch = match decode_batch::<ToStore>(frames) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(store = %self.name, "dropping malformed request: {e}");
                return;
            }
        };
        for msg in &batch.messages {
            let (replies, bulk) = match msg {
                ToStore::Get { req, keys } => {
                    let mut replies = Vec::with_capacity(keys.len());
                    let mut bulk = Vec::new();
                    for key in keys {
                        match self.data.get(key) {
                            Some(v) if v.len() > CHUNK => {
                                // Big values go first, in messages of one chunk each.
                                self.send_chunks(&peer, *req, key, v.clone());
                            }
                            Some(v) => {
                                replies.push(FromStore::Value {
                                    req: *req,
                                    key: key.clone(),
                                    frame: bulk.len() as u32,
                                });
                                bulk.push(v.clone());
                            }
                            None => replies.push(FromStore::Missing {
                                req: *req,
                                key: key.clone(),
                            }),
                        }
                    }
                    (replies, bulk)
                }
                ToStore::Put { req, key, frame } => match batch.frame(*frame) {
                    Ok(value) => {
                        let nbytes = self.insert(key.clone(), value);
                        (
                            vec![FromStore::Stored {
                                req: *req,
                                key: key.clone(),
                                nbytes,
                            }],
                            vec![],
                        )
                    }
                    Err(e) => {
                        tracing::warn!(store = %self.name, "bad put: {e}");
                        continue;
                    }
                },
            };
            if replies.is_empty() {
                continue;
            }
            match encode_batch(&replies, bulk) {
                Ok(frames) => self.sender.send(peer.clone(), frames),
                Err(e) => tracing::error!("cannot encode store reply: {e}"),
            }
        }
    }
}

impl StreamHandler<RouterEvent> for DataStore {
    fn handle(&mut self, event: RouterEvent, _ctx: &mut Context<Self>) {
        match event {
            RouterEvent::Message { peer, frames } => {
                if self.peers.contains(&peer) {
                    self.serve(peer, frames);
                } else {
                    self.handshake(peer, &frames);
                }
            }
            RouterEvent::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Put> for DataStore {
    type Result = u64;
    fn handle(&mut self, msg: Put, _ctx: &mut Context<Self>) -> u64 {
        self.insert(msg.key, msg.value)
    }
}

impl Handler<Free> for DataStore {
    type Result = ();
    fn handle(&mut self, msg: Free, _ctx: &mut Context<Self>) {
        for key in msg.0 {
            if let Some(v) = self.data.remove(&key) {
                self.nbytes -= v.len() as u64;
            }
        }
        // Give back the table a big graph left behind.
        if self.data.capacity() > 1024 && self.data.capacity() > 4 * self.data.len() {
            self.data.shrink_to_fit();
        }
    }
}

impl Handler<GetLocal> for DataStore {
    type Result = MessageResult<GetLocal>;
    fn handle(&mut self, msg: GetLocal, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(msg.0.iter().map(|k| self.data.get(k).cloned()).collect())
    }
}

impl Handler<Held> for DataStore {
    type Result = MessageResult<Held>;
    fn handle(&mut self, _msg: Held, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.data
                .iter()
                .map(|(k, v)| (k.clone(), v.len() as u64))
                .collect(),
        )
    }
}

impl Handler<Stats> for DataStore {
    type Result = MessageResult<Stats>;
    fn handle(&mut self, _msg: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult((self.data.len() as u64, self.nbytes))
    }
}

/// Maps a mailbox error (the store stopped) to our error type.
pub fn mailbox_error(e: MailboxError) -> Error {
    Error::Closed(format!("data-store ({e})"))
}
