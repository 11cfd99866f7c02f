//! A set of task keys sized for the common case: most tasks have one or two dependents, a
//! few (a scattered value read by every task) have thousands. A handful of keys live in an
//! exactly-sized vector (one small allocation, no hashing); past eight keys the set becomes a
//! hash set, so adding and removing stay O(1) for wide fan-outs.

use rask_protocol::Key;
use rustc_hash::FxHashSet as HashSet;

/// Keys held in the vector form before switching to a hash set.
const SMALL: usize = 8;

/// A set of keys (see the module docs).
#[derive(Debug, Clone)]
pub enum KeySet {
    /// Up to eight distinct keys.
    Small(Vec<Key>),
    /// More.
    Big(HashSet<Key>),
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet::Small(Vec::new())
    }
}

impl KeySet {
    /// Adds `key`; false if it was there already.
    pub fn insert(&mut self, key: Key) -> bool {
        match self {
            KeySet::Small(v) => {
                if v.contains(&key) {
                    return false;
                }
                if v.len() < SMALL {
                    if v.len() == v.capacity() {
                        // Grow by one while tiny (most sets stay at one or two keys).
                        v.reserve_exact(if v.len() < 2 { 1 } else { v.len() });
                    }
                    v.push(key);
                } else {
                    let mut set: HashSet<Key> = v.drain(..).collect();
                    set.insert(key);
                    *self = KeySet::Big(set);
                }
                true
            }
            KeySet::Big(s) => s.insert(key),
        }
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &Key) -> bool {
        match self {
            KeySet::Small(v) => match v.iter().position(|k| k == key) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            KeySet::Big(s) => s.remove(key),
        }
    }

    /// True if `key` is in the set.
    pub fn contains(&self, key: &Key) -> bool {
        match self {
            KeySet::Small(v) => v.contains(key),
            KeySet::Big(s) => s.contains(key),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        match self {
            KeySet::Small(v) => v.len(),
            KeySet::Big(s) => s.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        let (small, big) = match self {
            KeySet::Small(v) => (Some(v.iter()), None),
            KeySet::Big(s) => (None, Some(s.iter())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: usize) -> Key {
        Key::new(format!("k-{i}"))
    }

    #[test]
    fn behaves_as_a_set_across_the_switch() {
        let mut s = KeySet::default();
        let mut model = std::collections::BTreeSet::new();
        // Insert past the switch with duplicates, then remove down to empty.
        for i in (0..40).chain(0..40) {
            assert_eq!(s.insert(k(i % 20)), model.insert(k(i % 20)));
            assert_eq!(s.len(), model.len());
        }
        assert!(matches!(s, KeySet::Big(_)));
        for i in 0..25 {
            assert_eq!(s.remove(&k(i)), model.remove(&k(i)));
            assert_eq!(s.contains(&k(i + 1)), model.contains(&k(i + 1)));
        }
        assert!(s.is_empty());
        let mut small = KeySet::default();
        for i in 0..3 {
            small.insert(k(i));
        }
        let mut got: Vec<Key> = small.iter().cloned().collect();
        got.sort();
        assert_eq!(got, vec![k(0), k(1), k(2)]);
        assert!(matches!(small, KeySet::Small(_)));
    }
}
