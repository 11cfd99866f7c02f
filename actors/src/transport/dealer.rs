//! A DEALER connection to a ROUTER, with the rask handshake done before it is handed out.
//! The connection reports its own loss (socket monitor) as a final event; reconnecting is the
//! owner's job because the `zeromq` crate does not reconnect a DEALER whose peer restarted.

use super::{frames_of, message_of, CONNECT_TIMEOUT};
use crate::error::{Error, Result};
use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use rask_protocol::{HelloReply, ProtocolError, Welcome};
use std::time::Duration;
use zeromq::{DealerSocket, Socket, SocketEvent, SocketOptions, SocketRecv, SocketSend};

/// Something that happened on a DEALER connection.
#[derive(Debug)]
pub enum DealerEvent {
    /// A multipart message from the peer.
    Message(Vec<Bytes>),
    /// The connection is gone; no more events follow.
    Disconnected,
}

impl actix::Message for DealerEvent {
    type Result = ();
}

/// Sends multipart messages to the peer (cheap to clone).
#[derive(Clone, Debug)]
pub struct DealerSender {
    tx: mpsc::UnboundedSender<Vec<Bytes>>,
}

impl DealerSender {
    /// Queues frames; returns false when the connection is closed.
    pub fn send(&self, frames: Vec<Bytes>) -> bool {
        self.tx.unbounded_send(frames).is_ok()
    }

    /// True when the writer task has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// An established, welcomed connection.
pub struct Connection {
    /// What the peer said when it accepted us.
    pub welcome: Welcome,
    /// Outbound side.
    pub sender: DealerSender,
    /// Inbound side, ending with [`DealerEvent::Disconnected`].
    pub events: mpsc::UnboundedReceiver<DealerEvent>,
}

/// Connects to `addr`, sends `hello` (an encoded `Hello`), and waits for the welcome.
///
/// Fails with a transport error when nothing answers within `timeout`, and with the peer's
/// own words when it refuses (a version mismatch names both versions).
pub async fn connect(addr: &str, hello: Bytes, timeout: Option<Duration>) -> Result<Connection> {
    let timeout = timeout.unwrap_or(CONNECT_TIMEOUT);
    let mut options = SocketOptions::default();
    options.connect_timeout(timeout);
    let mut socket = DealerSocket::with_options(options);
    let mut monitor = socket.monitor();
    let unreachable = |message: String| Error::Transport {
        addr: addr.to_string(),
        message,
    };
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(unreachable(format!("cannot connect: {e}"))),
        Err(_) => return Err(unreachable(format!("nothing answered within {timeout:?}"))),
    }
    let hello_msg = message_of(vec![hello]).expect("one frame");
    socket
        .send(hello_msg)
        .await
        .map_err(|e| unreachable(format!("cannot send handshake: {e}")))?;
    let reply = match tokio::time::timeout(timeout, socket.recv()).await {
        Ok(Ok(msg)) => msg,
        Ok(Err(e)) => {
            return Err(unreachable(format!(
                "connection lost during handshake: {e}"
            )))
        }
        Err(_) => {
            return Err(unreachable(format!(
                "no handshake reply within {timeout:?}"
            )))
        }
    };
    let first = reply.get(0).cloned().unwrap_or_default();
    let welcome = match HelloReply::decode(&first)? {
        HelloReply::Welcome(w) => w,
        HelloReply::Refused(reason) => return Err(Error::Protocol(ProtocolError::Refused(reason))),
    };

    let (mut send_half, mut recv_half) = socket.split();
    let (events_tx, events) = mpsc::unbounded();
    let (tx, mut rx) = mpsc::unbounded::<Vec<Bytes>>();
    let inbound = events_tx.clone();
    let recv_task = tokio::spawn(async move {
        loop {
            match recv_half.recv().await {
                Ok(msg) => {
                    if inbound
                        .unbounded_send(DealerEvent::Message(frames_of(msg)))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(_) => {
                    // Exactly one Disconnected, then the channel closes for every sender.
                    let _ = inbound.unbounded_send(DealerEvent::Disconnected);
                    inbound.close_channel();
                    break;
                }
            }
        }
    });
    let recv_abort = recv_task.abort_handle();
    let writer = tokio::spawn(async move {
        while let Some(frames) = rx.next().await {
            let Some(msg) = message_of(frames) else {
                continue;
            };
            if let Err(e) = send_half.send(msg).await {
                tracing::debug!("dealer send failed: {e}");
                break;
            }
        }
        // Every sender dropped (owner closed) or the socket broke: close the receive side too.
        recv_abort.abort();
    });
    tokio::spawn(async move {
        while let Some(event) = monitor.next().await {
            if let SocketEvent::Disconnected(_) = event {
                break;
            }
        }
        // Monitor ended or reported the loss: the connection is over.
        recv_task.abort();
        writer.abort();
        let _ = events_tx.unbounded_send(DealerEvent::Disconnected);
        events_tx.close_channel();
    });
    Ok(Connection {
        welcome,
        sender: DealerSender { tx },
        events,
    })
}
