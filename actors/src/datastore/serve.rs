//! The data-store's socket side: the handshake of peers and clients, and serving their `Get`
//! and `Put` requests. Values in memory are answered at once; values spilled to disk are read
//! on a blocking thread, one at a time, and sent when read. Values above [`CHUNK`] travel as a
//! run of one-chunk messages.

use super::{DataStore, Found};
use crate::transport::router::RouterSender;
use crate::transport::store_client::CHUNK;
use bytes::Bytes;
use rask_protocol::{
    decode_batch, encode_batch, FromStore, Hello, HelloReply, Key, RequestId, Role, ToStore,
    Welcome,
};
use std::path::PathBuf;

impl DataStore {
    /// Answers a first message: peers (workers and clients) are welcome, anyone else is told
    /// where to go.
    pub(super) fn handshake(&mut self, peer: Bytes, frames: &[Bytes]) {
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

    /// Serves one request batch of a welcomed peer.
    pub(super) fn serve(&mut self, peer: Bytes, frames: Vec<Bytes>, ctx: &mut super::Ctx) {
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
                    let mut on_disk = Vec::new();
                    for key in keys {
                        match self.find(key) {
                            Found::Memory(v) if v.len() > CHUNK => {
                                // Big values go first, in messages of one chunk each.
                                send_chunks(&self.sender, &peer, *req, key, v);
                            }
                            Found::Memory(v) => {
                                replies.push(FromStore::Value {
                                    req: *req,
                                    key: key.clone(),
                                    frame: bulk.len() as u32,
                                });
                                bulk.push(v);
                            }
                            Found::Disk(path) => on_disk.push((key.clone(), path)),
                            Found::Nowhere => replies.push(FromStore::Missing {
                                req: *req,
                                key: key.clone(),
                            }),
                        }
                    }
                    if !on_disk.is_empty() {
                        serve_from_disk(self.sender.clone(), peer.clone(), *req, on_disk);
                    }
                    (replies, bulk)
                }
                ToStore::Put { req, key, frame } => match batch.frame(*frame) {
                    Ok(value) => {
                        let nbytes = self.insert(key.clone(), value, ctx);
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
                ToStore::ActorCall {
                    req,
                    actor,
                    method,
                    args,
                } => {
                    self.actor_call(&peer, *req, actor, method, args);
                    continue;
                }
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

/// Reads spilled values one by one on a blocking thread and sends each as it is read, so at
/// most one of them is read into memory at a time by this request.
fn serve_from_disk(sender: RouterSender, peer: Bytes, req: RequestId, keys: Vec<(Key, PathBuf)>) {
    actix::spawn(async move {
        for (key, path) in keys {
            match super::read_spilled(path).await {
                Some(v) => send_value(&sender, &peer, req, &key, v),
                None => send_one(&sender, &peer, FromStore::Missing { req, key }, vec![]),
            }
        }
    });
}

pub(super) fn send_one(sender: &RouterSender, peer: &Bytes, msg: FromStore, bulk: Vec<Bytes>) {
    match encode_batch(std::slice::from_ref(&msg), bulk) {
        Ok(frames) => sender.send(peer.clone(), frames),
        Err(e) => tracing::error!("cannot encode store reply: {e}"),
    }
}

/// Sends one value in a message of its own, or in chunks when it is big.
fn send_value(sender: &RouterSender, peer: &Bytes, req: RequestId, key: &Key, value: Bytes) {
    if value.len() > CHUNK {
        send_chunks(sender, peer, req, key, value);
    } else {
        let key = key.clone();
        send_one(
            sender,
            peer,
            FromStore::Value { req, key, frame: 0 },
            vec![value],
        );
    }
}

fn send_chunks(sender: &RouterSender, peer: &Bytes, req: RequestId, key: &Key, value: Bytes) {
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
        send_one(sender, peer, msg, vec![value.slice(offset..end)]);
        offset = end;
    }
}
