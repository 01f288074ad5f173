//! Finished verifications kept for the page: by random result id, readable only by the
//! browser (session) that started them, for ten minutes.

use std::time::Duration;

use super::{
    ids::{ResultId, SessionId},
    store::{TtlStore, WhenFull},
};
use crate::outcome::Outcome;

pub const RESULT_TTL: Duration = Duration::from_secs(10 * 60);
pub const RESULT_CAP: usize = 10_000;

pub struct Results {
    store: TtlStore<ResultId, (SessionId, Outcome)>,
}

impl Default for Results {
    fn default() -> Self {
        Self::new(RESULT_TTL, RESULT_CAP)
    }
}

impl Results {
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            store: TtlStore::new(ttl, cap),
        }
    }

    /// Keeps `outcome` for `owner`; returns the id the page asks for it by.
    pub fn put(&self, owner: &SessionId, outcome: Outcome) -> ResultId {
        let id = ResultId::random();
        // A full store drops its oldest result rather than this fresh one.
        let _ = self
            .store
            .insert(id.clone(), (owner.clone(), outcome), WhenFull::EvictOldest);
        id
    }

    /// The outcome, if it exists, is still fresh and belongs to `reader`.
    pub fn get(&self, id: &ResultId, reader: Option<&SessionId>) -> Option<Outcome> {
        let (owner, outcome) = self.store.get(id)?;
        (Some(&owner) == reader).then_some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_reads_a_result() {
        let results = Results::default();
        let (owner, stranger) = (SessionId::random(), SessionId::random());
        let id = results.put(&owner, Outcome::failed("x"));
        assert_eq!(results.get(&id, Some(&owner)), Some(Outcome::failed("x")));
        assert_eq!(results.get(&id, Some(&stranger)), None);
        assert_eq!(results.get(&id, None), None);
        assert_eq!(results.get(&ResultId::random(), Some(&owner)), None);
    }

    #[test]
    fn results_expire() {
        let results = Results::new(Duration::ZERO, 10);
        let owner = SessionId::random();
        let id = results.put(&owner, Outcome::failed("x"));
        assert_eq!(results.get(&id, Some(&owner)), None);
    }
}
