//! Identifiers: task keys (strings, like Dask's) and numeric ids for workers, clients,
//! requests and task attempts.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The name of a task and of its result, e.g. `"inc-3f2a…"`.
///
/// Cheap to clone (reference counted); the same deterministic key for the same pure call lets
/// results be shared. A key carries a hash of its text computed once when it is made (or
/// decoded), so the scheduler's and workers' tables never re-hash the string; on the wire it
/// is only the string.
#[derive(Clone)]
pub struct Key {
    hash: u64,
    text: Arc<str>,
}

/// A 64-bit hash of a key's bytes: word-at-a-time multiply-rotate, then a full avalanche
/// (MurmurHash3's finaliser), so every output bit depends on every input bit and the low
/// bits hash tables index by are well mixed.
fn hash_text(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64) ^ 0x243F_6A88_85A3_08D3;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8-byte chunk"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Key {
    /// Makes a key from any string.
    pub fn new(s: impl AsRef<str>) -> Self {
        let s = s.as_ref();
        Key {
            hash: hash_text(s.as_bytes()),
            text: Arc::from(s),
        }
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when both are clones of one key (same allocation), not merely equal text.
    pub fn same_allocation(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// By text, as before keys carried a hash.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a task key (a string)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::new(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.text)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::new(s)
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key {
            hash: hash_text(s.as_bytes()),
            text: Arc::from(s),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn equal_text_is_equal_key_whatever_the_allocation() {
        let a = Key::new("inc-3f2a");
        let b = Key::from(String::from("inc-3f2a"));
        assert!(!a.same_allocation(&b));
        assert_eq!(a, b);
        assert!(a.same_allocation(&a.clone()));
        assert_ne!(a, Key::new("inc-3f2b"));
        let set: HashSet<Key> = [a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(set.contains(&Key::new("inc-3f2a")));
    }

    #[test]
    fn keys_travel_as_plain_strings() {
        let k = Key::new("add-00ff");
        let bytes = postcard::to_allocvec(&k).unwrap();
        assert_eq!(bytes, postcard::to_allocvec("add-00ff").unwrap());
        let back: Key = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, k);
        assert_eq!(back.as_str(), "add-00ff");
    }

    #[test]
    fn keys_order_by_text() {
        let mut ks = [Key::new("b"), Key::new("a"), Key::new("ab"), Key::new("")];
        ks.sort();
        let texts: Vec<&str> = ks.iter().map(Key::as_str).collect();
        assert_eq!(texts, ["", "a", "ab", "b"]);
    }

    #[test]
    fn hashes_differ_across_lengths_and_tails() {
        // Padding the last word with zeros must not make "a" and "a\0" collide in practice.
        let hs: HashSet<u64> = ["", "a", "a\0", "ab", "abcdefgh", "abcdefgh\0", "abcdefghi"]
            .iter()
            .map(|s| hash_text(s.as_bytes()))
            .collect();
        assert_eq!(hs.len(), 7);
    }
}
