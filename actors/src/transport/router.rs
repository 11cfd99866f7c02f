//! A bound ROUTER socket split into an inbound stream of `(peer, frames)` and a cloneable
//! sender; a monitor task reports peers whose connection closed.

use super::{frames_of, message_of};
use crate::error::{Error, Result};
use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use zeromq::{RouterSocket, Socket, SocketEvent, SocketRecv, SocketSend};

/// Something that happened on a ROUTER.
#[derive(Debug)]
pub enum RouterEvent {
    /// A multipart message from a peer (identity frame removed).
    Message {
        /// The peer's routing identity.
        peer: Bytes,
        /// The message frames.
        frames: Vec<Bytes>,
    },
    /// A peer's connection closed.
    Disconnected(Bytes),
}

impl actix::Message for RouterEvent {
    type Result = ();
}

/// Sends multipart messages to ROUTER peers (cheap to clone; a writer task owns the socket
/// half).
#[derive(Clone)]
pub struct RouterSender {
    tx: mpsc::UnboundedSender<(Bytes, Vec<Bytes>)>,
}

impl RouterSender {
    /// Queues `frames` for `peer`. A closed socket or a vanished peer drops the message
    /// (the peer is gone; liveness handling deals with it).
    pub fn send(&self, peer: Bytes, frames: Vec<Bytes>) {
        let _ = self.tx.unbounded_send((peer, frames));
    }
}

/// A bound ROUTER: its resolved endpoint, its sender, and its inbound events.
pub struct BoundRouter {
    /// The endpoint actually bound (port resolved), e.g. `tcp://127.0.0.1:40123`.
    pub endpoint: String,
    /// Outbound side.
    pub sender: RouterSender,
    /// Inbound side: feed it to an actor with `ctx.add_stream`.
    pub events: mpsc::UnboundedReceiver<RouterEvent>,
}

/// Binds a ROUTER on `addr` behind a [`super::guard`] that cuts off peers claiming frames
/// over `max_frame` bytes: the ROUTER itself listens on a loopback port, the guard on `addr`.
pub async fn bind_router_guarded(addr: &str, max_frame: u64) -> Result<BoundRouter> {
    let public = addr.strip_prefix("tcp://").ok_or_else(|| {
        Error::Config(format!(
            "a frame-size guard needs a tcp:// address, not {addr}"
        ))
    })?;
    let mut bound = bind_router("tcp://127.0.0.1:0").await?;
    let inner: std::net::SocketAddr = bound
        .endpoint
        .trim_start_matches("tcp://")
        .parse()
        .map_err(|e| Error::Config(format!("unexpected endpoint {}: {e}", bound.endpoint)))?;
    let public = super::guard::start(public, inner, max_frame).await?;
    bound.endpoint = format!("tcp://{public}");
    Ok(bound)
}

/// Binds a ROUTER on `addr` (`tcp://host:port`, port 0 for any) and starts its I/O tasks.
pub async fn bind_router(addr: &str) -> Result<BoundRouter> {
    let mut socket = RouterSocket::new();
    let mut monitor = socket.monitor();
    let endpoint = socket.bind(addr).await.map_err(|e| Error::Transport {
        addr: addr.to_string(),
        message: format!("cannot bind: {e}"),
    })?;
    let endpoint = endpoint.to_string();
    let (mut send_half, mut recv_half) = socket.split();
    let (events_tx, events) = mpsc::unbounded();
    let (tx, mut rx) = mpsc::unbounded::<(Bytes, Vec<Bytes>)>();

    let inbound = events_tx.clone();
    tokio::spawn(async move {
        loop {
            match recv_half.recv().await {
                Ok(msg) => {
                    let mut frames = frames_of(msg);
                    if frames.is_empty() {
                        continue;
                    }
                    let peer = frames.remove(0);
                    if inbound
                        .unbounded_send(RouterEvent::Message { peer, frames })
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!("router receive ended: {e}");
                    break;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(event) = monitor.next().await {
            if let SocketEvent::Disconnected(peer) = event {
                if events_tx
                    .unbounded_send(RouterEvent::Disconnected(peer.into()))
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some((peer, mut frames)) = rx.next().await {
            frames.insert(0, peer);
            let Some(msg) = message_of(frames) else {
                continue;
            };
            if let Err(e) = send_half.send(msg).await {
                tracing::debug!("router send failed: {e}");
            }
        }
    });
    Ok(BoundRouter {
        endpoint,
        sender: RouterSender { tx },
        events,
    })
}
