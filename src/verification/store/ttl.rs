//! A small in-memory map whose entries expire, with a hard cap on its size, so that no
//! flood of requests can grow memory without bound.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct TtlStore<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    ttl: Duration,
    cap: usize,
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
            entries: Mutex::new(HashMap::new()),
            ttl,
            cap,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, key: K, value: V, when_full: WhenFull) -> Result<(), Full> {
        self.insert_at(key, value, when_full, Instant::now())
    }

    fn insert_at(&self, key: K, value: V, when_full: WhenFull, now: Instant) -> Result<(), Full> {
        let mut entries = self.lock();
        if entries.len() >= self.cap && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (created, _)| now.duration_since(*created) < ttl);
            if entries.len() >= self.cap {
                match when_full {
                    WhenFull::Refuse => return Err(Full),
                    WhenFull::EvictOldest => {
                        let oldest = entries
                            .iter()
                            .min_by_key(|(_, (created, _))| *created)
                            .map(|(k, _)| k.clone());
                        if let Some(oldest) = oldest {
                            entries.remove(&oldest);
                        }
                    }
                }
            }
        }
        entries.insert(key, (now, value));
        Ok(())
    }

    /// Removes and returns the entry: each is used once.
    pub fn take(&self, key: &K) -> Taken<V> {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &K, now: Instant) -> Taken<V> {
        match self.lock().remove(key) {
            Some((created, value)) if now.duration_since(created) < self.ttl => Taken::Found(value),
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
            .get(key)
            .filter(|(created, _)| now.duration_since(*created) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn contains(&self, key: &K) -> bool {
        let now = Instant::now();
        self.lock()
            .get(key)
            .is_some_and(|(created, _)| now.duration_since(*created) < self.ttl)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
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
}
