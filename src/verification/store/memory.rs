//! The embedded backend: bounded maps in this process.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc};

use governor::{DefaultKeyedRateLimiter, Quota};

use super::{
    now_ms,
    ttl::{self, TtlStore, WhenFull},
    Settings, StoreError, StoredResult, Taken, AFTERLIFE,
};
use crate::{
    operators::State,
    verification::{ids::ResultId, Pending},
};

/// Live verifications at once; past this, new ones are refused (`rate_limited`).
pub const PENDING_CAP: usize = 10_000;
pub const RESULT_CAP: usize = 10_000;

#[derive(Clone)]
pub struct MemoryStore {
    pub(super) settings: Settings,
    inner: Arc<Inner>,
}

struct Inner {
    pending: TtlStore<State, Pending>,
    /// States already taken, to tell a replay from an unknown state.
    taken: TtlStore<State, ()>,
    results: TtlStore<ResultId, StoredResult>,
    /// Starts per client address: each start costs an operator request and a pending entry.
    starts: DefaultKeyedRateLimiter<IpAddr>,
}

impl MemoryStore {
    pub fn new(settings: Settings) -> Self {
        let per_minute = NonZeroU32::new(settings.starts_per_minute).unwrap_or(NonZeroU32::MIN);
        let kept = settings.pending_ttl + AFTERLIFE;
        Self {
            settings,
            inner: Arc::new(Inner {
                pending: TtlStore::new(kept, PENDING_CAP),
                taken: TtlStore::new(kept, PENDING_CAP),
                results: TtlStore::new(settings.result_ttl, RESULT_CAP),
                starts: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            }),
        }
    }

    pub fn put_pending(&self, state: &State, pending: &Pending) -> Result<(), StoreError> {
        self.inner
            .pending
            .insert(state.clone(), pending.clone(), WhenFull::Refuse)
            .map_err(|_| StoreError::Full)
    }

    pub fn take_pending(&self, state: &State) -> Taken {
        match self.inner.pending.take(state) {
            ttl::Taken::Found(pending) => {
                let _ = self.inner.taken.insert(state.clone(), (), WhenFull::EvictOldest);
                if pending.expires_at_ms <= now_ms() {
                    Taken::Expired
                } else {
                    Taken::Found(pending)
                }
            }
            ttl::Taken::Expired => Taken::Expired,
            ttl::Taken::Missing if self.inner.taken.contains(state) => Taken::Replayed,
            ttl::Taken::Missing => Taken::Missing,
        }
    }

    pub fn put_result(&self, id: &ResultId, result: &StoredResult) {
        // A full store drops its oldest result rather than this fresh one.
        let _ = self
            .inner
            .results
            .insert(id.clone(), result.clone(), WhenFull::EvictOldest);
    }

    pub fn get_result(&self, id: &ResultId) -> Option<StoredResult> {
        self.inner.results.get(id)
    }

    pub fn allow_start(&self, client: IpAddr) -> bool {
        let allowed = self.inner.starts.check_key(&client).is_ok();
        // Forget quiet clients now and then, so the limiter's map stays small.
        if self.inner.starts.len() > 10_000 {
            self.inner.starts.retain_recent();
        }
        allowed
    }
}
