//! The embedded backend: bounded maps in this process.
//!
//! Everything here is bounded: pending verifications by `MAX_PENDING` (each client's by
//! `MAX_PENDING_PER_CLIENT`), completed states and results by their caps, and the
//! per-client rate limiter's map is pruned of quiet clients as it grows.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota};

use super::{now_ms, Budget, ClientKey, Redeemed, Settings, StoreError, StoredResult, Taken, AFTERLIFE};
use crate::{
    operators::OAuthState,
    support::ttl_map::{Taken as TtlTaken, TtlMap, WhenFull},
    verification::{ids::ResultId, Pending},
};

pub const RESULT_CAP: usize = 10_000;
/// The rate limiter forgets clients whose minute has passed once it holds this many...
const LIMITER_PRUNE_AT: usize = 10_000;
/// ...at most this often: pruning walks the whole map, so not on every start of a flood.
const LIMITER_PRUNE_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct MemoryStore {
    pub(super) settings: Settings,
    inner: Arc<Inner>,
}

struct Inner {
    pending: Mutex<PendingTable>,
    /// States already taken, to tell a replay from an unknown state.
    taken: TtlMap<OAuthState, ()>,
    /// How long a taken state is remembered.
    taken_for: Duration,
    results: TtlMap<ResultId, StoredResult>,
    /// Records read once (a credential request's nonce and key), by kind and id.
    once: TtlMap<(&'static str, String), String>,
    /// Records read and rewritten (a handoff's), by kind and id; claims are kept here too.
    kept: TtlMap<(&'static str, String), String>,
    /// Records guessed at (a one-time code's), with their attempts so far.
    guarded: TtlMap<(&'static str, String), (String, u32)>,
    /// Counts per kind, subject and UTC day.
    daily: TtlMap<(&'static str, String, u64), u64>,
    /// Starts per client and budget: each start costs an operator request and a pending
    /// entry. One limiter per quota (API and page, address and /48).
    starts: Mutex<HashMap<(Budget, u32), Arc<Limiter>>>,
    last_prune: Mutex<Instant>,
    /// The OpenID Provider's codes, redemption markers, revocations and one-time values.
    provider: ProviderRecords,
}

/// Bounded like everything here; a flood of codes evicts the soonest to expire.
struct ProviderRecords {
    codes: TtlMap<String, String>,
    /// Redeemed codes → what their redemption issued.
    used: TtlMap<String, String>,
    /// Taking a code and leaving its marker happen under this lock, as one step.
    redeeming: Mutex<()>,
    revoked: TtlMap<String, ()>,
    once: TtlMap<(String, String), ()>,
}

/// How many of each provider record the memory store keeps.
pub const PROVIDER_CAP: usize = 100_000;

type Limiter = DefaultKeyedRateLimiter<ClientKey>;

/// Pending verifications, in creation order and by client.
struct PendingTable {
    entries: HashMap<OAuthState, Entry>,
    /// Creation order (sequence number → state): the oldest expire first.
    order: BTreeMap<u64, OAuthState>,
    /// Each client's verifications in flight, oldest first; no key for a client with none.
    by_client: HashMap<ClientKey, VecDeque<u64>>,
    next: u64,
}

struct Entry {
    pending: Pending,
    client: Option<ClientKey>,
    seq: u64,
    created: Instant,
}

impl PendingTable {
    fn remove(&mut self, state: &OAuthState) -> Option<Entry> {
        let entry = self.entries.remove(state)?;
        self.order.remove(&entry.seq);
        if let Some(client) = entry.client {
            if let Some(seqs) = self.by_client.get_mut(&client) {
                seqs.retain(|s| *s != entry.seq);
                if seqs.is_empty() {
                    self.by_client.remove(&client);
                }
            }
        }
        Some(entry)
    }

    fn remove_seq(&mut self, seq: u64) {
        if let Some(state) = self.order.get(&seq).cloned() {
            self.remove(&state);
        }
    }

    /// The oldest entry's sequence number, if it is older than `age`.
    fn oldest_older_than(&self, age: Duration, now: Instant) -> Option<u64> {
        let (seq, state) = self.order.first_key_value()?;
        let entry = self.entries.get(state)?;
        (now.saturating_duration_since(entry.created) >= age).then_some(*seq)
    }

    fn insert(
        &mut self,
        state: OAuthState,
        pending: Pending,
        client: Option<ClientKey>,
        settings: &Settings,
        now: Instant,
    ) -> Result<usize, StoreError> {
        // Nothing outlives its afterlife.
        while let Some(seq) = self.oldest_older_than(settings.pending_ttl + AFTERLIFE, now) {
            self.remove_seq(seq);
        }
        self.remove(&state);
        let per_client = client.map_or(usize::MAX, |c| settings.pending_allowed(c));
        let held = client.and_then(|c| self.by_client.get(&c)).map_or(0, VecDeque::len);
        // A client at its cap makes room itself below; anyone else needs a free place.
        if held < per_client && self.entries.len() >= settings.max_pending {
            // Past its own expiry, an entry only waits to answer "expired": it goes first.
            match self.oldest_older_than(settings.pending_ttl, now) {
                Some(seq) => self.remove_seq(seq),
                None => return Err(StoreError::Full),
            }
        }
        let mut dropped = 0;
        if let Some(client) = client {
            while let Some(oldest) = self
                .by_client
                .get(&client)
                .filter(|seqs| seqs.len() >= per_client)
                .and_then(|seqs| seqs.front().copied())
            {
                self.remove_seq(oldest);
                dropped += 1;
            }
            self.by_client.entry(client).or_default().push_back(self.next);
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, state.clone());
        self.entries.insert(
            state,
            Entry {
                pending,
                client,
                seq,
                created: now,
            },
        );
        Ok(dropped)
    }
}

impl MemoryStore {
    pub fn new(settings: Settings) -> Self {
        let kept = settings.pending_ttl + AFTERLIFE;
        Self {
            settings,
            inner: Arc::new(Inner {
                pending: Mutex::new(PendingTable {
                    entries: HashMap::new(),
                    order: BTreeMap::new(),
                    by_client: HashMap::new(),
                    next: 0,
                }),
                taken: TtlMap::new(settings.max_pending),
                taken_for: kept,
                results: TtlMap::new(RESULT_CAP),
                once: TtlMap::new(settings.max_pending),
                kept: TtlMap::new(settings.max_pending),
                guarded: TtlMap::new(settings.max_pending),
                daily: TtlMap::new(settings.max_pending),
                starts: Mutex::new(HashMap::new()),
                last_prune: Mutex::new(Instant::now()),
                provider: ProviderRecords {
                    codes: TtlMap::new(PROVIDER_CAP),
                    used: TtlMap::new(PROVIDER_CAP),
                    redeeming: Mutex::new(()),
                    revoked: TtlMap::new(PROVIDER_CAP),
                    once: TtlMap::new(PROVIDER_CAP),
                },
            }),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, PendingTable> {
        // Every change to the table completes before anything can panic.
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn put_pending(
        &self,
        state: &OAuthState,
        pending: &Pending,
        client: Option<ClientKey>,
    ) -> Result<usize, StoreError> {
        self.pending()
            .insert(state.clone(), pending.clone(), client, &self.settings, Instant::now())
    }

    pub fn release_pending(&self, state: &OAuthState) {
        self.pending().remove(state);
    }

    pub fn take_pending(&self, state: &OAuthState) -> Taken {
        let kept = self.settings.pending_ttl + AFTERLIFE;
        let mut table = self.pending();
        let entry = table.remove(state);
        if entry.is_some() {
            // Marked taken before the table is let go: a concurrent redemption of this
            // state must find it either pending or taken, never neither ("unknown").
            let _ = self
                .inner
                .taken
                .insert(state.clone(), (), self.inner.taken_for, WhenFull::EvictOldest);
        }
        drop(table);
        match entry {
            Some(entry) => {
                if entry.pending.expires_at_ms <= now_ms() || entry.created.elapsed() >= kept {
                    Taken::Expired
                } else {
                    Taken::Found(entry.pending)
                }
            }
            None if self.inner.taken.contains(state) => Taken::Replayed,
            None => Taken::Missing,
        }
    }

    pub fn put_result(&self, id: &ResultId, result: &StoredResult) {
        // A full store drops its oldest result rather than this fresh one.
        let _ = self.inner.results.insert(
            id.clone(),
            result.clone(),
            self.settings.result_ttl,
            WhenFull::EvictOldest,
        );
    }

    pub fn get_result(&self, id: &ResultId) -> Option<StoredResult> {
        self.inner.results.get(id)
    }

    /// Counts a start by `client` from `budget`, allowed `per_minute`.
    pub fn allow_start(&self, client: ClientKey, budget: Budget, per_minute: u32) -> bool {
        let limiter = self
            .inner
            .starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((budget, per_minute))
            .or_insert_with(|| {
                let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
                Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)))
            })
            .clone();
        let allowed = limiter.check_key(&client).is_ok();
        if limiter.len() > LIMITER_PRUNE_AT {
            let mut last = self.inner.last_prune.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= LIMITER_PRUNE_EVERY {
                *last = Instant::now();
                drop(last);
                for limiter in self.inner.starts.lock().unwrap_or_else(|p| p.into_inner()).values() {
                    limiter.retain_recent();
                }
            }
        }
        allowed
    }

    /// Pending verifications held now, in all and by clients (for tests).
    #[cfg(test)]
    fn held(&self) -> (usize, usize, usize) {
        let table = self.pending();
        (table.entries.len(), table.order.len(), table.by_client.len())
    }

    /// A fresh random key: this store is this process's alone, and so are its sessions.
    pub fn session_key(&self) -> Vec<u8> {
        rand::random::<[u8; 32]>().to_vec()
    }

    pub fn put_code(&self, code: &str, value: &str, keep: Duration) {
        let _ = self
            .inner
            .provider
            .codes
            .insert(code.to_owned(), value.to_owned(), keep, WhenFull::EvictOldest);
    }

    pub fn redeem_code(&self, code: &str, issued: &str, keep: Duration) -> Redeemed {
        let records = &self.inner.provider;
        let _one_step = records.redeeming.lock().unwrap_or_else(|p| p.into_inner());
        match records.codes.take(code) {
            TtlTaken::Found(value) => {
                let _ = records
                    .used
                    .insert(code.to_owned(), issued.to_owned(), keep, WhenFull::EvictOldest);
                Redeemed::Found(value)
            }
            TtlTaken::Expired | TtlTaken::Missing => match records.used.get(code) {
                Some(issued) => Redeemed::Replayed { issued },
                None => Redeemed::Missing,
            },
        }
    }

    pub fn revoke(&self, id: &str, keep: Duration) {
        let _ = self
            .inner
            .provider
            .revoked
            .insert(id.to_owned(), (), keep, WhenFull::EvictOldest);
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        self.inner.provider.revoked.contains(id)
    }

    pub fn first_use(&self, kind: &str, id: &str, keep: Duration) -> bool {
        // Refused when full: a value that cannot be remembered must not be accepted twice.
        self.inner
            .provider
            .once
            .insert_new(
                (kind.to_owned(), id.to_owned()),
                (),
                Instant::now() + keep,
                WhenFull::Refuse,
            )
            .unwrap_or(false)
    }
}

/// Records read once: kept until taken or expired; a full map refuses the new one.
impl MemoryStore {
    pub fn put_once(&self, kind: &'static str, id: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        self.inner
            .once
            .insert((kind, id.to_owned()), value, ttl, WhenFull::Refuse)
            .map_err(|_| StoreError::Full)
    }

    pub fn take_once(&self, kind: &'static str, id: &str) -> Option<String> {
        match self.inner.once.take(&(kind, id.to_owned())) {
            crate::support::ttl_map::Taken::Found(value) => Some(value),
            _ => None,
        }
    }
}

/// Records read and rewritten: kept until expired; a full map refuses the new one.
impl MemoryStore {
    pub fn put_kept(&self, kind: &'static str, id: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        self.inner
            .kept
            .insert((kind, id.to_owned()), value, ttl, WhenFull::Refuse)
            .map_err(|_| StoreError::Full)
    }

    pub fn get_kept(&self, kind: &'static str, id: &str) -> Option<String> {
        self.inner.kept.get(&(kind, id.to_owned()))
    }

    pub fn claim(&self, kind: &'static str, id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = (kind, id.to_owned());
        let first = self
            .inner
            .kept
            .insert_new(key.clone(), holder.to_owned(), Instant::now() + ttl, WhenFull::Refuse)
            .map_err(|_| StoreError::Full)?;
        Ok(first || self.inner.kept.get(&key).is_some_and(|held| held == holder))
    }
}

/// Records guessed at, and daily counts: each change is one step under the map's lock.
impl MemoryStore {
    pub fn put_guarded(&self, kind: &'static str, id: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        self.inner
            .guarded
            .insert((kind, id.to_owned()), (value, 0), ttl, WhenFull::Refuse)
            .map_err(|_| StoreError::Full)
    }

    pub fn attempt(&self, kind: &'static str, id: &str) -> Option<(String, u32)> {
        self.inner.guarded.modify(&(kind, id.to_owned()), |(value, attempts)| {
            *attempts += 1;
            (value.clone(), *attempts)
        })
    }

    pub fn remove_guarded(&self, kind: &'static str, id: &str) -> bool {
        matches!(self.inner.guarded.take(&(kind, id.to_owned())), TtlTaken::Found(_))
    }

    pub fn count_daily(&self, kind: &'static str, subject: &str, day: u64) -> u64 {
        let key = (kind, subject.to_owned(), day);
        let counted = self.inner.daily.modify(&key, |n| {
            *n += 1;
            *n
        });
        counted.unwrap_or_else(|| {
            // A full map evicts the soonest to expire: a flood of subjects must not stop
            // the counting of everyone else's.
            let until_tomorrow = Duration::from_millis(super::DAY_MS - now_ms() % super::DAY_MS);
            let _ = self.inner.daily.insert(key, 1, until_tomorrow, WhenFull::EvictOldest);
            1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        operators::Nonce,
        phone::normalise,
        verification::{Flow, Origin, RESULT_TTL},
    };

    fn settings(per_client: usize, max: usize, pending_ttl: Duration) -> Settings {
        Settings {
            pending_ttl,
            result_ttl: RESULT_TTL,
            starts_per_minute: 30,
            page_starts_per_minute: 30,
            max_pending_per_client: per_client,
            max_pending: max,
        }
    }

    fn pending(ttl: Duration) -> Pending {
        Pending {
            flow: Flow::MobileConnect {
                number: normalise("+99012345678").unwrap(),
            },
            nonce: Nonce::random(),
            correlator: crate::operators::camara::Correlator::random(),
            origin: Origin::Api,
            expires_at_ms: now_ms() + ttl.as_millis() as u64,
        }
    }

    fn client(i: u32) -> Option<ClientKey> {
        Some(ClientKey::V4(std::net::Ipv4Addr::from(0xC000_0200 + i)))
    }

    #[test]
    fn a_client_past_its_cap_loses_its_oldest() {
        let store = MemoryStore::new(settings(2, 100, Duration::from_secs(600)));
        let states: Vec<OAuthState> = (0..3).map(|_| OAuthState::random()).collect();
        let ttl = Duration::from_secs(600);
        assert_eq!(store.put_pending(&states[0], &pending(ttl), client(1)).unwrap(), 0);
        assert_eq!(store.put_pending(&states[1], &pending(ttl), client(1)).unwrap(), 0);
        assert_eq!(store.put_pending(&states[2], &pending(ttl), client(1)).unwrap(), 1);
        assert_eq!(store.take_pending(&states[0]), Taken::Missing);
        assert!(matches!(store.take_pending(&states[1]), Taken::Found(_)));
        assert!(matches!(store.take_pending(&states[2]), Taken::Found(_)));
        // Completed flows free their slots and the client's entry.
        assert_eq!(store.held(), (0, 0, 0));
    }

    #[test]
    fn the_global_cap_refuses_live_entries_but_not_expired_ones() {
        let ttl = Duration::from_secs(600);
        let store = MemoryStore::new(settings(5, 3, ttl));
        for i in 0..3 {
            store
                .put_pending(&OAuthState::random(), &pending(ttl), client(i))
                .unwrap();
        }
        assert!(matches!(
            store.put_pending(&OAuthState::random(), &pending(ttl), client(9)),
            Err(StoreError::Full)
        ));
        assert!(matches!(
            store.put_pending(&OAuthState::random(), &pending(ttl), None),
            Err(StoreError::Full)
        ));
        // A client at its own cap still gets through: it makes room itself.
        let one = MemoryStore::new(settings(1, 1, ttl));
        one.put_pending(&OAuthState::random(), &pending(ttl), client(1))
            .unwrap();
        assert_eq!(
            one.put_pending(&OAuthState::random(), &pending(ttl), client(1))
                .unwrap(),
            1
        );

        // Entries past their lifetime, only kept to say "expired", make room.
        let short = MemoryStore::new(settings(5, 2, Duration::ZERO));
        for i in 0..2 {
            short
                .put_pending(&OAuthState::random(), &pending(Duration::ZERO), client(i))
                .unwrap();
        }
        short
            .put_pending(&OAuthState::random(), &pending(Duration::ZERO), client(7))
            .unwrap();
        assert_eq!(short.held(), (2, 2, 2));
    }

    #[test]
    fn a_released_verification_frees_its_slot() {
        let ttl = Duration::from_secs(600);
        let store = MemoryStore::new(settings(1, 1, ttl));
        let state = OAuthState::random();
        store.put_pending(&state, &pending(ttl), client(1)).unwrap();
        store.release_pending(&state);
        assert_eq!(store.held(), (0, 0, 0));
        assert_eq!(store.take_pending(&state), Taken::Missing);
    }

    #[test]
    fn a_flood_from_distinct_clients_stays_within_the_cap() {
        let ttl = Duration::from_secs(600);
        let store = MemoryStore::new(settings(5, 1_000, ttl));
        let (mut stored, mut full) = (0, 0);
        for i in 0..5_000 {
            match store.put_pending(&OAuthState::random(), &pending(ttl), client(i)) {
                Ok(_) => stored += 1,
                Err(StoreError::Full) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((stored, full), (1_000, 4_000));
        assert_eq!(store.held(), (1_000, 1_000, 1_000));
    }
}
