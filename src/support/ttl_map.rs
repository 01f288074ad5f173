//! An in-memory map whose entries expire, with a hard cap on its size, so that no flood
//! of requests can grow memory without bound. The app's memory store and every store of
//! the virtual operator are one of these.

use std::{
    borrow::Borrow,
    collections::{BTreeMap, HashMap},
    hash::Hash,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

/// What to do when the map is full of live entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuse the new entry: older ones are promises made to people still in flight.
    Refuse,
    /// Drop the entry that expires soonest to make room.
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

pub struct TtlMap<K, V> {
    inner: Mutex<Inner<K, V>>,
    cap: usize,
}

struct Entry<V> {
    value: V,
    expires_at: Instant,
    seq: u64,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// (expiry, sequence) → key: expired entries are swept from the front and a full map
    /// evicts from the front, in O(log n) rather than a scan of the whole map under a flood.
    order: BTreeMap<(Instant, u64), K>,
    next: u64,
}

impl<K: Eq + Hash + Clone, V> Inner<K, V> {
    fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<Entry<V>>
    where
        K: Borrow<Q>,
    {
        let entry = self.entries.remove(key)?;
        self.order.remove(&(entry.expires_at, entry.seq));
        Some(entry)
    }

    fn remove_first(&mut self) {
        if let Some((_, key)) = self.order.pop_first() {
            self.entries.remove(&key);
        }
    }

    fn sweep(&mut self, now: Instant) {
        while let Some((&(expires_at, _), _)) = self.order.first_key_value() {
            if expires_at > now {
                break;
            }
            self.remove_first();
        }
    }

    fn live<Q: Hash + Eq + ?Sized>(&self, key: &Q, now: Instant) -> Option<&Entry<V>>
    where
        K: Borrow<Q>,
    {
        self.entries.get(key).filter(|e| e.expires_at > now)
    }
}

impl<K: Eq + Hash + Clone, V> TtlMap<K, V> {
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: BTreeMap::new(),
                next: 0,
            }),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // Every operation leaves both maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Inserts (or replaces) `key` for `ttl` from now.
    pub fn insert(&self, key: K, value: V, ttl: Duration, when_full: WhenFull) -> Result<(), Full> {
        let now = Instant::now();
        self.insert_at(key, value, now + ttl, when_full, now)
    }

    /// Inserts `key` until `expires_at` unless a live entry is already there, in one step
    /// (no window between the look-up and the insert). `false`: the key was taken.
    pub fn insert_new(&self, key: K, value: V, expires_at: Instant, when_full: WhenFull) -> Result<bool, Full> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.live(&key, now).is_some() {
            return Ok(false);
        }
        self.insert_locked(&mut inner, key, value, expires_at, when_full, now)?;
        Ok(true)
    }

    fn insert_at(&self, key: K, value: V, expires_at: Instant, when_full: WhenFull, now: Instant) -> Result<(), Full> {
        let mut inner = self.lock();
        self.insert_locked(&mut inner, key, value, expires_at, when_full, now)
    }

    fn insert_locked(
        &self,
        inner: &mut Inner<K, V>,
        key: K,
        value: V,
        expires_at: Instant,
        when_full: WhenFull,
        now: Instant,
    ) -> Result<(), Full> {
        inner.sweep(now);
        if inner.remove(&key).is_none() && inner.entries.len() >= self.cap {
            match when_full {
                WhenFull::Refuse => return Err(Full),
                WhenFull::EvictOldest => inner.remove_first(),
            }
        }
        let seq = inner.next;
        inner.next += 1;
        inner.order.insert((expires_at, seq), key.clone());
        inner.entries.insert(key, Entry { value, expires_at, seq });
        Ok(())
    }

    /// Changes the live entry at `key` in place (or `make`s one where there is none, or
    /// it expired) and keeps it for `ttl` from now, in one step: two writers to one key
    /// never lose each other's change, as a get-then-insert could.
    pub fn update(
        &self,
        key: K,
        ttl: Duration,
        when_full: WhenFull,
        make: impl FnOnce() -> V,
        change: impl FnOnce(&mut V),
    ) -> Result<(), Full> {
        let now = Instant::now();
        let mut inner = self.lock();
        let mut value = match inner.remove(&key) {
            Some(entry) if entry.expires_at > now => entry.value,
            _ => make(),
        };
        change(&mut value);
        self.insert_locked(&mut inner, key, value, now + ttl, when_full, now)
    }

    /// Removes and returns the entry: each is used once.
    pub fn take<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Taken<V>
    where
        K: Borrow<Q>,
    {
        self.take_at(key, Instant::now())
    }

    fn take_at<Q: Hash + Eq + ?Sized>(&self, key: &Q, now: Instant) -> Taken<V>
    where
        K: Borrow<Q>,
    {
        match self.lock().remove(key) {
            Some(entry) if entry.expires_at > now => Taken::Found(entry.value),
            Some(_) => Taken::Expired,
            None => Taken::Missing,
        }
    }

    /// Removes and returns the live entry with its expiry.
    pub fn take_with_expiry<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<(V, Instant)>
    where
        K: Borrow<Q>,
    {
        let now = Instant::now();
        let entry = self.lock().remove(key)?;
        (entry.expires_at > now).then_some((entry.value, entry.expires_at))
    }

    /// Removes the entry, live or not.
    pub fn remove<Q: Hash + Eq + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.lock().remove(key);
    }

    /// Reads a live entry without consuming it.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        V: Clone,
    {
        self.lock().live(key, Instant::now()).map(|e| e.value.clone())
    }

    pub fn contains<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.lock().live(key, Instant::now()).is_some()
    }

    /// Changes a live entry in place, keeping its expiry, in one step: what `change`
    /// returns, or `None` when there is no live entry.
    pub fn modify<Q: Hash + Eq + ?Sized, R>(&self, key: &Q, change: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
    {
        let now = Instant::now();
        let mut inner = self.lock();
        let entry = inner.entries.get_mut(key).filter(|e| e.expires_at > now)?;
        Some(change(&mut entry.value))
    }

    /// Entries held, expired ones not yet swept included.
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

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn modify_changes_a_live_entry_only() {
        let map: TtlMap<&str, u32> = TtlMap::new(4);
        assert_eq!(map.modify("a", |n| *n += 1), None);
        map.insert("a", 1, MINUTE, WhenFull::Refuse).unwrap();
        assert_eq!(
            map.modify("a", |n| {
                *n += 1;
                *n
            }),
            Some(2)
        );
        assert_eq!(map.get("a"), Some(2));
        map.insert("b", 1, Duration::ZERO, WhenFull::Refuse).unwrap();
        assert_eq!(map.modify("b", |n| *n += 1), None, "an expired entry is not changed");
    }

    #[test]
    fn entries_are_taken_once_and_expire() {
        let map = TtlMap::new(10);
        let t0 = Instant::now();
        map.insert_at("a", 1, t0 + MINUTE, WhenFull::Refuse, t0).unwrap();
        map.insert_at("b", 2, t0 + MINUTE, WhenFull::Refuse, t0).unwrap();
        assert_eq!(map.take_at(&"a", t0 + Duration::from_secs(1)), Taken::Found(1));
        assert_eq!(map.take_at(&"a", t0 + Duration::from_secs(2)), Taken::Missing);
        assert_eq!(map.take_at(&"b", t0 + 2 * MINUTE), Taken::Expired);
    }

    #[test]
    fn the_cap_holds_refusing_or_evicting_the_soonest_to_expire() {
        let map = TtlMap::new(3);
        let t0 = Instant::now();
        for i in 0..3u64 {
            map.insert_at(i, i, t0 + MINUTE + Duration::from_secs(i), WhenFull::Refuse, t0)
                .unwrap();
        }
        assert_eq!(map.insert_at(9, 9, t0 + MINUTE, WhenFull::Refuse, t0), Err(Full));
        map.insert_at(9, 9, t0 + 2 * MINUTE, WhenFull::EvictOldest, t0).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.take_at(&0, t0), Taken::Missing, "the first to expire went");
        assert_eq!(map.take_at(&1, t0), Taken::Found(1));
        // Expired entries make room first.
        map.insert_at(10, 10, t0 + 10 * MINUTE, WhenFull::Refuse, t0 + 3 * MINUTE)
            .unwrap();
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn the_index_stays_in_step_with_the_map() {
        let map = TtlMap::new(2);
        let t0 = Instant::now();
        let at = |s: u64| t0 + MINUTE + Duration::from_secs(s);
        map.insert_at("a", 1, at(0), WhenFull::EvictOldest, t0).unwrap();
        map.insert_at("b", 2, at(1), WhenFull::EvictOldest, t0).unwrap();
        // Re-inserting a key moves it to the young end and keeps one index entry.
        map.insert_at("a", 3, at(2), WhenFull::EvictOldest, t0).unwrap();
        map.insert_at("c", 4, at(3), WhenFull::EvictOldest, t0).unwrap();
        assert_eq!(map.take_at(&"b", t0), Taken::Missing, "b was the oldest");
        assert_eq!(map.take_at(&"a", t0), Taken::Found(3));
        let indexed = map.lock().order.len();
        assert_eq!(indexed, map.len());
    }

    #[test]
    fn update_changes_in_place_or_starts_afresh() {
        let map: TtlMap<&str, Vec<u8>> = TtlMap::new(2);
        map.update("a", MINUTE, WhenFull::EvictOldest, Vec::new, |v| v.push(1))
            .unwrap();
        map.update("a", MINUTE, WhenFull::EvictOldest, Vec::new, |v| v.push(2))
            .unwrap();
        assert_eq!(map.get(&"a"), Some(vec![1, 2]));
        map.update("b", Duration::ZERO, WhenFull::EvictOldest, Vec::new, |v| v.push(3))
            .unwrap();
        map.update("b", MINUTE, WhenFull::EvictOldest, Vec::new, |v| v.push(4))
            .unwrap();
        assert_eq!(map.get(&"b"), Some(vec![4]), "an expired entry is started afresh");
        assert_eq!(
            map.update("c", MINUTE, WhenFull::Refuse, Vec::new, |v| v.push(5)),
            Err(Full)
        );
        let indexed = map.lock().order.len();
        assert_eq!(indexed, map.len());
    }

    #[test]
    fn insert_new_refuses_a_live_key_only() {
        let map = TtlMap::new(10);
        let later = Instant::now() + MINUTE;
        assert_eq!(map.insert_new("a", 1, later, WhenFull::EvictOldest), Ok(true));
        assert_eq!(map.insert_new("a", 2, later, WhenFull::EvictOldest), Ok(false));
        assert_eq!(map.get(&"a"), Some(1));
        map.insert("b", 3, Duration::ZERO, WhenFull::EvictOldest).unwrap();
        assert_eq!(
            map.insert_new("b", 4, later, WhenFull::EvictOldest),
            Ok(true),
            "an expired entry is no obstacle"
        );
        assert_eq!(map.get(&"b"), Some(4));
    }

    #[test]
    fn expired_entries_are_not_returned_and_churn_leaves_nothing() {
        let map = TtlMap::new(4);
        map.insert(-1, 1, Duration::ZERO, WhenFull::EvictOldest).unwrap();
        assert_eq!(map.get(&-1), None);
        assert!(!map.contains(&-1));
        assert!(map.take_with_expiry(&-1).is_none());
        for i in 0..1000 {
            map.insert(i, i, MINUTE, WhenFull::EvictOldest).unwrap();
            assert!(map.len() <= 4);
        }
        let indexed = map.lock().order.len();
        assert_eq!(indexed, map.len());
    }
}
