//! A small bounded store with per-entry expiry: the virtual operator's memory.
//!
//! Every store (in-flight authorizations, codes, tokens, client assertion `jti`s) is one of these. It never holds
//! more than its cap: an insert into a full store first drops the expired entries, then
//! evicts the oldest ones. Expired entries are also dropped when looked up and at least
//! once a minute on insert, so an idle flood leaves nothing behind for long.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// How often an insert sweeps the expired entries even when the store is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

struct Entry<V> {
    value: V,
    expires_at: Instant,
    seq: u64,
}

struct Inner<V> {
    map: HashMap<String, Entry<V>>,
    /// Insertion order (sequence number, key); may hold stale pairs for entries already
    /// removed, which are skipped on eviction and compacted away when they pile up.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    last_sweep: Instant,
}

pub(crate) struct Store<V> {
    cap: usize,
    inner: Mutex<Inner<V>>,
}

impl<V> Store<V> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
                last_sweep: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters here (every operation is a single insert/remove), so keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of entries held, expired ones not yet swept included.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Inserts `value` under `key` until `ttl` from now.
    pub(crate) fn insert(&self, key: String, value: V, ttl: Duration) {
        self.insert_until(key, value, Instant::now() + ttl);
    }

    /// Inserts `value` under `key` until `expires_at`, evicting as needed to stay at or
    /// under the cap.
    pub(crate) fn insert_until(&self, key: String, value: V, expires_at: Instant) {
        let mut inner = self.lock();
        self.insert_locked(&mut inner, key, value, expires_at);
    }

    /// Inserts `value` under `key` until `expires_at` unless a live entry is already
    /// there, in one step (no window between the look-up and the insert). `false`: the
    /// key was taken, nothing changed.
    pub(crate) fn insert_new(&self, key: String, value: V, expires_at: Instant) -> bool {
        let mut inner = self.lock();
        if inner.map.get(&key).is_some_and(|e| e.expires_at > Instant::now()) {
            return false;
        }
        self.insert_locked(&mut inner, key, value, expires_at);
        true
    }

    fn insert_locked(&self, inner: &mut Inner<V>, key: String, value: V, expires_at: Instant) {
        let now = Instant::now();
        if (!inner.map.contains_key(&key) && inner.map.len() >= self.cap)
            || now.duration_since(inner.last_sweep) >= SWEEP_EVERY
        {
            inner.map.retain(|_, e| e.expires_at > now);
            inner.last_sweep = now;
        }
        while !inner.map.contains_key(&key) && inner.map.len() >= self.cap {
            match inner.order.pop_front() {
                Some((seq, old)) => {
                    if inner.map.get(&old).is_some_and(|e| e.seq == seq) {
                        inner.map.remove(&old);
                    }
                }
                // Cannot happen (every entry has its pair in `order`), but never loop.
                None => break,
            }
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.push_back((seq, key.clone()));
        inner.map.insert(key, Entry { value, expires_at, seq });
        if inner.order.len() > 2 * self.cap + 16 {
            let map = &inner.map;
            inner.order.retain(|(seq, k)| map.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Removes and returns the live entry under `key`, with its expiry.
    pub(crate) fn take(&self, key: &str) -> Option<(V, Instant)> {
        let now = Instant::now();
        let entry = self.lock().map.remove(key)?;
        (entry.expires_at > now).then_some((entry.value, entry.expires_at))
    }

    /// Removes the entry under `key`, live or not.
    pub(crate) fn remove(&self, key: &str) {
        self.lock().map.remove(key);
    }
}

impl<V: Clone> Store<V> {
    /// A copy of the live entry under `key`; an expired entry is dropped.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.map.get(key) {
            Some(e) if e.expires_at > now => Some(e.value.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_its_cap_and_evicts_the_oldest() {
        let store = Store::new(3);
        for i in 0..10 {
            store.insert(format!("k{i}"), i, Duration::from_secs(60));
            assert!(store.len() <= 3);
        }
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("k6"), None);
        assert_eq!(store.get("k7"), Some(7));
        assert_eq!(store.get("k9"), Some(9));
    }

    #[test]
    fn drops_expired_entries_before_evicting_live_ones() {
        let store = Store::new(3);
        store.insert("live".into(), 1, Duration::from_secs(60));
        store.insert("dead1".into(), 2, Duration::ZERO);
        store.insert("dead2".into(), 3, Duration::ZERO);
        store.insert("new".into(), 4, Duration::from_secs(60));
        assert_eq!(store.get("live"), Some(1), "the oldest live entry survives");
        assert_eq!(store.get("new"), Some(4));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn expired_entries_are_not_returned() {
        let store = Store::new(10);
        store.insert("a".into(), 1, Duration::ZERO);
        assert_eq!(store.get("a"), None);
        store.insert("b".into(), 2, Duration::ZERO);
        assert!(store.take("b").is_none());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn take_is_single_use() {
        let store = Store::new(10);
        store.insert("a".into(), 1, Duration::from_secs(60));
        assert_eq!(store.take("a").map(|(v, _)| v), Some(1));
        assert!(store.take("a").is_none());
    }

    #[test]
    fn order_queue_stays_bounded_under_churn() {
        let store = Store::new(4);
        for i in 0..1000 {
            let k = format!("k{i}");
            store.insert(k.clone(), i, Duration::from_secs(60));
            store.take(&k);
        }
        assert_eq!(store.len(), 0);
        assert!(store.lock().order.len() <= 2 * 4 + 16);
    }

    #[test]
    fn insert_new_refuses_a_live_key_only() {
        let store = Store::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(store.insert_new("a".into(), 1, later));
        assert!(!store.insert_new("a".into(), 2, later));
        assert_eq!(store.get("a"), Some(1));
        store.insert("b".into(), 3, Duration::ZERO);
        assert!(
            store.insert_new("b".into(), 4, later),
            "an expired entry is no obstacle"
        );
        assert_eq!(store.get("b"), Some(4));
    }

    #[test]
    fn reinserting_a_key_replaces_it() {
        let store = Store::new(2);
        store.insert("a".into(), 1, Duration::from_secs(60));
        store.insert("b".into(), 2, Duration::from_secs(60));
        store.insert("a".into(), 3, Duration::from_secs(60));
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("a"), Some(3));
        store.insert("c".into(), 4, Duration::from_secs(60));
        assert_eq!(store.len(), 2);
        // The stale (first) pair of "a" is skipped; "b" is the oldest live one.
        assert_eq!(store.get("b"), None);
        assert_eq!(store.get("a"), Some(3));
    }
}
