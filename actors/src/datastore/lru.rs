//! Values held in memory, in least-recently-used order, with their total size: the order the
//! data-store spills them in.

use bytes::Bytes;
use rask_protocol::Key;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// Values in memory; every insert or read makes a value the most recently used.
#[derive(Default)]
pub struct Lru {
    entries: HashMap<Key, (Bytes, u64)>,
    order: BTreeMap<u64, Key>,
    clock: u64,
    bytes: u64,
}

impl Lru {
    /// Stores `value` as the most recently used; returns the value it replaced.
    pub fn insert(&mut self, key: Key, value: Bytes) -> Option<Bytes> {
        let old = self.remove(&key);
        self.clock += 1;
        self.bytes += value.len() as u64;
        self.order.insert(self.clock, key.clone());
        self.entries.insert(key, (value, self.clock));
        old
    }

    /// The value of `key`, now the most recently used.
    pub fn get(&mut self, key: &Key) -> Option<Bytes> {
        let (value, stamp) = self.entries.get_mut(key)?;
        self.order.remove(stamp);
        self.clock += 1;
        *stamp = self.clock;
        self.order.insert(self.clock, key.clone());
        Some(value.clone())
    }

    /// Takes `key` out.
    pub fn remove(&mut self, key: &Key) -> Option<Bytes> {
        let (value, stamp) = self.entries.remove(key)?;
        self.order.remove(&stamp);
        self.bytes -= value.len() as u64;
        Some(value)
    }

    /// Takes out the least recently used value.
    pub fn pop_lru(&mut self) -> Option<(Key, Bytes)> {
        let (_, key) = self.order.pop_first()?;
        let (value, _) = self.entries.remove(&key).expect("ordered keys are held");
        self.bytes -= value.len() as u64;
        Some((key, value))
    }

    /// Total size of the values held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every key with its value's size.
    pub fn sizes(&self) -> impl Iterator<Item = (&Key, u64)> {
        self.entries.iter().map(|(k, (v, _))| (k, v.len() as u64))
    }

    /// Gives back the table a big graph left behind.
    pub fn shrink(&mut self) {
        if self.entries.capacity() > 1024 && self.entries.capacity() > 4 * self.entries.len() {
            self.entries.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(lru: &mut Lru, k: &str, n: usize) {
        lru.insert(Key::new(k), Bytes::from(vec![0u8; n]));
    }

    #[test]
    fn evicts_least_recently_used_first_and_reads_count_as_use() {
        let mut lru = Lru::default();
        put(&mut lru, "a", 1);
        put(&mut lru, "b", 2);
        put(&mut lru, "c", 3);
        assert_eq!(lru.bytes(), 6);
        assert!(lru.get(&Key::new("a")).is_some()); // a is now the newest
        put(&mut lru, "b", 5); // re-put: b is newest, its old size is gone
        assert_eq!(lru.bytes(), 9);
        let order: Vec<String> = std::iter::from_fn(|| lru.pop_lru())
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(order, ["c", "a", "b"]);
        assert_eq!((lru.bytes(), lru.len()), (0, 0));
    }

    #[test]
    fn remove_keeps_the_books() {
        let mut lru = Lru::default();
        put(&mut lru, "a", 4);
        put(&mut lru, "b", 6);
        assert_eq!(lru.remove(&Key::new("a")).map(|v| v.len()), Some(4));
        assert!(lru.remove(&Key::new("a")).is_none());
        assert_eq!(lru.bytes(), 6);
        assert_eq!(lru.pop_lru().map(|(k, _)| k.to_string()), Some("b".into()));
        assert!(lru.pop_lru().is_none() && lru.len() == 0);
    }
}
