//! ZeroMQ bridges: the only code that touches sockets.
//!
//! - [`router`]: a bound ROUTER whose inbound messages become a stream for an actor and whose
//!   outbound messages go through a writer task; peer disconnects are reported.
//! - [`dealer`]: a DEALER connection with the handshake done, that reports its own loss so the
//!   owner can reconnect (the `zeromq` crate does not reconnect a DEALER by itself).
//! - [`store_client`]: request/reply connections to workers' data-stores, pooled by address.
//! - [`guard`]: an optional frame-size check in front of a ROUTER's listening port.

pub mod dealer;
pub mod guard;
pub mod router;
pub mod store_client;

use bytes::Bytes;
use std::time::Duration;
use zeromq::ZmqMessage;

/// How long a connection attempt may take before it is reported as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames of a ZeroMQ message as a vector.
pub(crate) fn frames_of(msg: ZmqMessage) -> Vec<Bytes> {
    msg.into_vec()
}

/// A ZeroMQ message from frames (`frames` must not be empty).
pub(crate) fn message_of(frames: Vec<Bytes>) -> Option<ZmqMessage> {
    ZmqMessage::try_from(frames).ok()
}

/// Normalises an address: `host:port` becomes `tcp://host:port`.
pub fn normalize_addr(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("tcp://{addr}")
    }
}
