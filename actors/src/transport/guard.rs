//! A frame-size guard in front of a ZeroMQ listener. The `zeromq` crate reserves memory for
//! whatever length a frame header claims, so one forged header (say 2⁵⁰ bytes) makes the
//! process abort on a failed allocation. The guard accepts TCP connections itself, checks the
//! ZMTP framing of everything a peer sends (greeting, then `flags | length | body` frames)
//! and forwards it to the real socket listening on loopback; a peer that claims a frame
//! larger than the limit is logged and disconnected, and nothing else is affected.
//!
//! It costs one extra loopback hop per message, so it is opt-in
//! (`rask scheduler --max-frame-bytes N`).

use crate::error::{Error, Result};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes of the ZMTP 3 greeting.
const GREETING: usize = 64;

/// Why a peer's stream was cut.
#[derive(Debug, PartialEq, Eq)]
pub enum Violation {
    /// A frame header claimed more than the limit.
    FrameTooLarge {
        /// Claimed length.
        claimed: u64,
        /// The limit.
        limit: u64,
    },
    /// The greeting did not start like ZMTP's.
    BadGreeting,
}

/// Incremental checker of a peer's ZMTP byte stream.
#[derive(Debug)]
pub struct FrameCheck {
    limit: u64,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Greeting(usize),
    Flags,
    Length { long: bool, got: usize, acc: u64 },
    Body(u64),
}

impl FrameCheck {
    /// A checker allowing frames up to `limit` bytes.
    pub fn new(limit: u64) -> Self {
        FrameCheck {
            limit,
            state: State::Greeting(0),
        }
    }

    /// Feeds the next bytes of the stream; an error means the peer must be cut off.
    pub fn feed(&mut self, mut data: &[u8]) -> std::result::Result<(), Violation> {
        while !data.is_empty() {
            match &mut self.state {
                State::Greeting(seen) => {
                    if *seen == 0 && data[0] != 0xff {
                        return Err(Violation::BadGreeting);
                    }
                    let take = (GREETING - *seen).min(data.len());
                    *seen += take;
                    data = &data[take..];
                    if *seen == GREETING {
                        self.state = State::Flags;
                    }
                }
                State::Flags => {
                    let long = data[0] & 0b10 != 0;
                    data = &data[1..];
                    self.state = State::Length {
                        long,
                        got: 0,
                        acc: 0,
                    };
                }
                State::Length { long, got, acc } => {
                    let need = if *long { 8 } else { 1 };
                    while *got < need && !data.is_empty() {
                        *acc = (*acc << 8) | u64::from(data[0]);
                        *got += 1;
                        data = &data[1..];
                    }
                    if *got == need {
                        let len = *acc;
                        if len > self.limit {
                            return Err(Violation::FrameTooLarge {
                                claimed: len,
                                limit: self.limit,
                            });
                        }
                        self.state = if len == 0 {
                            State::Flags
                        } else {
                            State::Body(len)
                        };
                    }
                }
                State::Body(left) => {
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    data = &data[take as usize..];
                    if *left == 0 {
                        self.state = State::Flags;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Listens on `public` (`host:port`) and forwards checked connections to `inner`. Returns the
/// bound public address.
pub async fn start(public: &str, inner: SocketAddr, limit: u64) -> Result<SocketAddr> {
    let listener = TcpListener::bind(public)
        .await
        .map_err(|e| Error::Transport {
            addr: public.to_string(),
            message: format!("cannot bind: {e}"),
        })?;
    let bound = listener.local_addr().map_err(|e| Error::Transport {
        addr: public.to_string(),
        message: e.to_string(),
    })?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((peer, from)) => {
                    tokio::spawn(async move {
                        if let Err(e) = forward(peer, inner, limit).await {
                            tracing::warn!(%from, "disconnected a peer: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    });
    Ok(bound)
}

async fn forward(peer: TcpStream, inner: SocketAddr, limit: u64) -> std::io::Result<()> {
    peer.set_nodelay(true)?;
    let upstream = TcpStream::connect(inner).await?;
    upstream.set_nodelay(true)?;
    let (mut peer_r, mut peer_w) = peer.into_split();
    let (mut up_r, mut up_w) = upstream.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut up_r, &mut peer_w).await;
        let _ = peer_w.shutdown().await;
    });
    let mut check = FrameCheck::new(limit);
    let mut buf = vec![0u8; 64 * 1024];
    let result = loop {
        let n = match peer_r.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        if let Err(v) = check.feed(&buf[..n]) {
            break Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                match v {
                    Violation::FrameTooLarge { claimed, limit } => {
                        format!("frame of {claimed} bytes claimed (limit {limit})")
                    }
                    Violation::BadGreeting => "not a ZMTP greeting".to_string(),
                },
            ));
        }
        if let Err(e) = up_w.write_all(&buf[..n]).await {
            break Err(e);
        }
    };
    let _ = up_w.shutdown().await;
    back.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Vec<u8> {
        let mut g = vec![0u8; GREETING];
        g[0] = 0xff;
        g[9] = 0x7f;
        g
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let mut stream = greeting();
        stream.extend([0x00, 3, b'a', b'b', b'c']); // short frame
        stream.extend([0x02]); // long frame of 300 bytes
        stream.extend(300u64.to_be_bytes());
        stream.extend(vec![7u8; 300]);
        stream.extend([0x04, 0]); // empty command frame
        for split in [1, 2, 7, 64, 65, 1000] {
            let mut c = FrameCheck::new(300);
            for part in stream.chunks(split) {
                c.feed(part).unwrap();
            }
            assert!(matches!(c.state, State::Flags), "split {split}");
        }
    }

    #[test]
    fn an_oversized_claim_is_refused_before_its_body() {
        let mut stream = greeting();
        stream.push(0x02);
        stream.extend((1u64 << 50).to_be_bytes());
        let mut c = FrameCheck::new(1 << 20);
        assert_eq!(
            c.feed(&stream),
            Err(Violation::FrameTooLarge {
                claimed: 1 << 50,
                limit: 1 << 20
            })
        );
        let mut c = FrameCheck::new(10);
        assert!(c.feed(&[0x41]).is_err(), "greeting must start with 0xff");
    }
}
