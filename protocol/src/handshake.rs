//! The first message of every connection: magic bytes, the protocol version, and who is
//! speaking.
//!
//! The version sits in a fixed place before any postcard body, so a peer of any other version
//! can still read it and be refused with both versions named, never with a decode panic or a
//! hang. Replies use the same fixed prefix, and a refusal is plain UTF-8 text so that every
//! version can print it.

use crate::error::{ProtocolError, Result};
use crate::ids::Key;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The one protocol-version constant. Bump it whenever a change is not an append at the end of
/// an enum or struct, or when peers start sending appended variants that an older peer of the
/// same version would reject (it drops the whole batch that carries one, e.g. a `Finished`
/// beside a `Seceded`): mixed builds are then refused at the handshake instead.
///
/// 2: run durations, steal requests, resume after a reconnect. 3: `FromWorker::Seceded`,
/// `ToStore::ActorCall` and `FromStore::ActorResult` (tasks that submit tasks, actors).
/// 4: `FromWorker::Replicated` (fetched dependencies kept as replicas).
pub const PROTOCOL_VERSION: u32 = 4;

/// The four bytes that open every handshake frame.
pub const MAGIC: [u8; 4] = *b"RASK";

const PREFIX: usize = MAGIC.len() + 4;
const STATUS_OK: u8 = 0;
const STATUS_REFUSED: u8 = 1;

/// Who opens a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A client talking to the scheduler.
    Client,
    /// A worker registering with the scheduler.
    Worker,
    /// A client or worker connecting to a worker's data-store to read or write values.
    Peer,
}

/// What a worker tells the scheduler about itself when it registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHello {
    /// Address of the worker's data-store ROUTER (`tcp://host:port`).
    pub store_addr: String,
    /// Size of its compute pool.
    pub nthreads: u32,
    /// Names of every task function it can run.
    pub functions: Vec<String>,
    /// Keys it already holds (after a scheduler restart), with their sizes in bytes.
    pub held: Vec<(Key, u64)>,
}

/// The handshake body after magic and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Who is speaking.
    pub role: Role,
    /// A human-readable name (worker `--name`, client name).
    pub name: String,
    /// Hash of the task functions this side knows (see the worker registry).
    pub registry_hash: u64,
    /// Present when `role` is [`Role::Worker`].
    pub worker: Option<WorkerHello>,
}

/// What the accepting side says back when it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The id given to the connecting worker or client (0 for peers).
    pub id: u32,
    /// How often the connecting side should heartbeat, in milliseconds.
    pub heartbeat_ms: u32,
    /// The accepting side's name.
    pub name: String,
}

/// The reply to a [`Hello`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelloReply {
    /// Accepted.
    Welcome(Welcome),
    /// Refused, with a reason meant for people.
    Refused(String),
}

fn prefix(version: u32) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_slice(&MAGIC);
    buf.put_u32_le(version);
    buf
}

/// Reads magic and version; returns the version and the rest.
fn split_prefix(frame: &[u8]) -> Result<(u32, &[u8])> {
    if frame.len() < PREFIX {
        return Err(ProtocolError::malformed(
            "handshake",
            "frame shorter than magic + version",
        ));
    }
    if frame[..4] != MAGIC {
        return Err(ProtocolError::BadMagic);
    }
    let version = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    Ok((version, &frame[PREFIX..]))
}

impl Hello {
    /// Encodes with our [`PROTOCOL_VERSION`].
    pub fn encode(&self) -> Result<Bytes> {
        self.encode_with_version(PROTOCOL_VERSION)
    }

    /// Encodes announcing another version (used to test version refusal).
    pub fn encode_with_version(&self, version: u32) -> Result<Bytes> {
        let mut buf = prefix(version);
        let body = postcard::to_stdvec(self).map_err(|e| ProtocolError::Encode {
            what: "hello",
            reason: e.to_string(),
        })?;
        buf.put_slice(&body);
        Ok(buf.freeze())
    }

    /// Decodes a hello, refusing any version but ours before looking at the body.
    pub fn decode(frame: &[u8]) -> Result<Hello> {
        let (version, body) = split_prefix(frame)?;
        if version != PROTOCOL_VERSION {
            return Err(ProtocolError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: version,
            });
        }
        postcard::from_bytes(body).map_err(|e| ProtocolError::malformed("hello", e))
    }
}

impl HelloReply {
    /// Encodes with our [`PROTOCOL_VERSION`].
    pub fn encode(&self) -> Result<Bytes> {
        let mut buf = prefix(PROTOCOL_VERSION);
        match self {
            HelloReply::Welcome(w) => {
                buf.put_u8(STATUS_OK);
                let body = postcard::to_stdvec(w).map_err(|e| ProtocolError::Encode {
                    what: "welcome",
                    reason: e.to_string(),
                })?;
                buf.put_slice(&body);
            }
            HelloReply::Refused(reason) => {
                buf.put_u8(STATUS_REFUSED);
                buf.put_slice(reason.as_bytes());
            }
        }
        Ok(buf.freeze())
    }

    /// Decodes a reply. A refusal is readable whatever version sent it; a welcome from another
    /// version is a [`ProtocolError::VersionMismatch`].
    pub fn decode(frame: &[u8]) -> Result<HelloReply> {
        let (version, rest) = split_prefix(frame)?;
        let (&status, body) = rest
            .split_first()
            .ok_or_else(|| ProtocolError::malformed("handshake reply", "missing status byte"))?;
        match status {
            STATUS_REFUSED => Ok(HelloReply::Refused(
                String::from_utf8_lossy(body).into_owned(),
            )),
            STATUS_OK if version != PROTOCOL_VERSION => Err(ProtocolError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: version,
            }),
            STATUS_OK => postcard::from_bytes(body)
                .map(HelloReply::Welcome)
                .map_err(|e| ProtocolError::malformed("welcome", e)),
            other => Err(ProtocolError::malformed(
                "handshake reply",
                format!("unknown status byte {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello {
            role: Role::Worker,
            name: "w1".into(),
            registry_hash: 42,
            worker: Some(WorkerHello {
                store_addr: "tcp://127.0.0.1:1".into(),
                nthreads: 2,
                functions: vec!["inc".into()],
                held: vec![(Key::new("x"), 8)],
            }),
        }
    }

    #[test]
    fn hello_round_trips() {
        let bytes = hello().encode().unwrap();
        assert_eq!(Hello::decode(&bytes).unwrap(), hello());
    }

    #[test]
    fn other_version_is_refused_naming_both() {
        let bytes = hello().encode_with_version(PROTOCOL_VERSION + 7).unwrap();
        let err = Hello::decode(&bytes).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: PROTOCOL_VERSION + 7
            }
        );
        let text = err.to_string();
        assert!(text.contains(&PROTOCOL_VERSION.to_string()));
        assert!(text.contains(&(PROTOCOL_VERSION + 7).to_string()));
    }

    #[test]
    fn refusal_is_readable_by_any_version() {
        let bytes = HelloReply::Refused("go away".into()).encode().unwrap();
        let mut tampered = bytes.to_vec();
        tampered[4] = 99; // another version's refusal
        assert_eq!(
            HelloReply::decode(&tampered).unwrap(),
            HelloReply::Refused("go away".into())
        );
    }

    #[test]
    fn welcome_round_trips() {
        let w = HelloReply::Welcome(Welcome {
            id: 3,
            heartbeat_ms: 500,
            name: "s".into(),
        });
        assert_eq!(HelloReply::decode(&w.encode().unwrap()).unwrap(), w);
    }

    #[test]
    fn truncated_and_garbage_handshakes_are_errors() {
        let bytes = hello().encode().unwrap();
        for cut in 0..bytes.len() {
            let _ = Hello::decode(&bytes[..cut]); // must not panic
            assert!(
                Hello::decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        assert_eq!(
            Hello::decode(b"GET / HTTP/1.1\r\n"),
            Err(ProtocolError::BadMagic)
        );
        assert!(HelloReply::decode(b"RASK").is_err());
        assert!(HelloReply::decode(b"RASK\x01\x00\x00\x00").is_err());
    }
}
