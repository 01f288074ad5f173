//! A small in-memory map whose entries expire, with a hard cap on its size, so that no
//! flood of requests can grow memory without bound.

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct TtlStore<K, V> {
    inner: Mutex<Inner<K, V>>,
    ttl: Duration,
    cap: usize,
}

struct Inner<K, V> {
    /// key → (created, sequence number, value)
    entries: HashMap<K, (Instant, u64, V)>,
    /// Insertion order: with one lifetime for all, the oldest expire first, so expiry and
    /// eviction cost O(log n), not a scan of the whole map on every insert under a flood.
    order: BTreeMap<u64, K>,
    next: u64,
}

impl<K: Eq + Hash + Clone, V> Inner<K, V> {
    fn remove(&mut self, key: &K) -> Option<(Instant, V)> {
        let (created, seq, value) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some((created, value))
    }

    fn remove_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_first() {
            self.entries.remove(&key);
        }
    }

    /// Drops expired entries from the old end.
    fn sweep(&mut self, ttl: Duration, now: Instant) {
        while let Some((_, key)) = self.order.first_key_value() {
            match self.entries.get(key) {
                Some((created, _, _)) if now.saturating_duration_since(*created) < ttl => break,
                _ => self.remove_oldest(),
            }
        }
    }
}

/// What to do when the store is full of live entries.
#[derive(Clone, Copy)]
pub enum WhenFull {
    /// Refuse the new entry: older ones are promises made to people still in flight.
    Refuse,
    /// Drop the oldest entry to make room.
    EvictOldest,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Full;

#[derive(Debug, PartialEq, Eq)]
pub enum Taken<V> {
    Found(V),
    Expired,
    Missing,
}

impl<K: Eq + Hash + Clone, V> TtlStore<K, V> {
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: BTreeMap::new(),
                next: 0,
            }),
            ttl,
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic elsewhere while holding the lock leaves the maps themselves consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, key: K, value: V, when_full: WhenFull) -> Result<(), Full> {
        self.insert_at(key, value, when_full, Instant::now())
    }

    fn insert_at(&self, key: K, value: V, when_full: WhenFull, now: Instant) -> Result<(), Full> {
        let mut inner = self.lock();
        inner.sweep(self.ttl, now);
        if inner.remove(&key).is_none() && inner.entries.len() >= self.cap {
            match when_full {
                WhenFull::Refuse => return Err(Full),
                WhenFull::EvictOldest => inner.remove_oldest(),
            }
        }
        let seq = inner.next;
        inner.next += 1;
        inner.order.insert(seq, key.clone());
        inner.entries.insert(key, (now, seq, value));
        Ok(())
    }

    /// Removes and returns the entry: each is used once.
    pub fn take(&self, key: &K) -> Taken<V> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &K, now: Instant) -> Taken<V> {
        match self.lock().remove(key) {
            Some((created, value)) if now.saturating_duration_since(created) < self.ttl => Taken::Found(value),
            Some(_) => Taken::Expired,
            None => Taken::Missing,
        }
    }

    /// Reads an entry without consuming it.
    pub fn get(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        let now = Instant::now();
        self.lock()
            .entries
            .get(key)
            .filter(|(created, _, _)| now.saturating_duration_since(*created) < self.ttl)
            .map(|(_, _, v)| v.clone())
    }

    pub fn contains(&self, key: &K) -> bool {
        let now = Instant::now();
        self.lock()
            .entries
            .get(key)
            .is_some_and(|(created, _, _)| now.saturating_duration_since(*created) < self.ttl)
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_taken_once_and_expire() {
        let store = TtlStore::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        store.insert_at("a", 1, WhenFull::Refuse, t0).unwrap();
        store.insert_at("b", 2, WhenFull::Refuse, t0).unwrap();
        assert_eq!(store.take_at(&"a", t0 + Duration::from_secs(1)), Taken::Found(1));
        assert_eq!(store.take_at(&"a", t0 + Duration::from_secs(2)), Taken::Missing);
        assert_eq!(store.take_at(&"b", t0 + Duration::from_secs(601)), Taken::Expired);
    }

    #[test]
    fn the_cap_holds() {
        let store = TtlStore::new(Duration::from_secs(600), 3);
        let t0 = Instant::now();
        for i in 0..3 {
            store
                .insert_at(i, i, WhenFull::Refuse, t0 + Duration::from_secs(i))
                .unwrap();
        }
        assert_eq!(
            store.insert_at(9, 9, WhenFull::Refuse, t0 + Duration::from_secs(5)),
            Err(Full)
        );
        store
            .insert_at(9, 9, WhenFull::EvictOldest, t0 + Duration::from_secs(5))
            .unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.take_at(&0, t0 + Duration::from_secs(6)),
            Taken::Missing,
            "the oldest went"
        );
        // Expired entries make room first.
        store
            .insert_at(10, 10, WhenFull::Refuse, t0 + Duration::from_secs(700))
            .unwrap();
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn the_index_stays_in_step_with_the_map() {
        let store = TtlStore::new(Duration::from_secs(600), 2);
        let t0 = Instant::now();
        store.insert_at("a", 1, WhenFull::EvictOldest, t0).unwrap();
        // Re-inserting a key moves it to the young end and keeps one index entry.
        store
            .insert_at("b", 2, WhenFull::EvictOldest, t0 + Duration::from_secs(1))
            .unwrap();
        store
            .insert_at("a", 3, WhenFull::EvictOldest, t0 + Duration::from_secs(2))
            .unwrap();
        store
            .insert_at("c", 4, WhenFull::EvictOldest, t0 + Duration::from_secs(3))
            .unwrap();
        assert_eq!(
            store.take_at(&"b", t0 + Duration::from_secs(4)),
            Taken::Missing,
            "b was oldest"
        );
        assert_eq!(store.take_at(&"a", t0 + Duration::from_secs(4)), Taken::Found(3));
        let indexed = store.lock().order.len();
        assert_eq!(indexed, store.len());
    }
}
