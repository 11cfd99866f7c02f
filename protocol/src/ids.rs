//! Identifiers: task keys (strings, like Dask's) and numeric ids for workers, clients,
//! requests and task attempts.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The name of a task and of its result, e.g. `"inc-3f2a…"`.
///
/// Cheap to clone (reference counted); the same deterministic key for the same pure call lets
/// results be shared.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(Arc<str>);

impl Key {
    /// Makes a key from any string.
    pub fn new(s: impl AsRef<str>) -> Self {
        Key(Arc::from(s.as_ref()))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::new(s)
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key(Arc::from(s))
    }
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

numeric_id!(
    /// A worker, numbered by the scheduler when it registers (never reused within one
    /// scheduler's life).
    WorkerId(u32)
);
numeric_id!(
    /// A client connection, numbered by the scheduler at handshake.
    ClientId(u32)
);
numeric_id!(
    /// One attempt at running a task; a result carrying an old attempt is stale and dropped.
    Attempt(u32)
);
numeric_id!(
    /// Matches a reply to its request on one connection.
    RequestId(u64)
);
