//! The protocol crate's error type: everything that can go wrong turning bytes into messages.

use thiserror::Error;

/// Result alias for this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

/// Why bytes could not become a message (or a message could not become bytes).
///
/// None of these is worth retrying with the same bytes: the peer sent something we cannot read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The peer speaks another protocol version; both are named so the operator can tell which
    /// side to upgrade.
    #[error("protocol version mismatch: this side speaks version {ours}, the peer speaks version {theirs}")]
    VersionMismatch {
        /// Our [`crate::PROTOCOL_VERSION`].
        ours: u32,
        /// The version the peer announced.
        theirs: u32,
    },
    /// The first message of a connection did not start with the rask magic bytes.
    #[error("not a rask handshake (bad magic bytes)")]
    BadMagic,
    /// The peer refused our handshake and said why.
    #[error("refused by peer: {0}")]
    Refused(String),
    /// A frame was too short or its postcard body did not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What we were decoding (`"handshake"`, `"batch header"`, …).
        what: &'static str,
        /// The decoder's own words.
        reason: String,
    },
    /// A message referenced a bulk frame that the multipart message does not carry.
    #[error("message refers to bulk frame {index} but only {available} were sent")]
    MissingFrame {
        /// The frame index asked for.
        index: u32,
        /// How many bulk frames there were.
        available: usize,
    },
    /// A frame exceeded the configured size limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the offending frame.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Encoding failed (only possible for values whose `Serialize` impl errors).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What we were encoding.
        what: &'static str,
        /// The encoder's words.
        reason: String,
    },
}

impl ProtocolError {
    pub(crate) fn malformed(what: &'static str, err: impl std::fmt::Display) -> Self {
        ProtocolError::Malformed {
            what,
            reason: err.to_string(),
        }
    }
}
