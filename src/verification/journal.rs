//! What a verification did, told once to whoever watches it: where it started and how it
//! ended, with its channel, operator, reason and latency. Metrics read it; the signed
//! events for the integrator's backend are told the same things at the same points, so
//! a dashboard and a backend never disagree about a verification.

use std::{sync::Arc, time::Duration};

use super::{reason::Reason, store::now_ms, Answer, VerifyError};
use crate::{
    metrics::{Channel, Metrics, Outcome},
    protocol::Operator,
};

pub(super) struct Journal {
    pub(super) metrics: Arc<Metrics>,
}

/// One verification as the journal names it.
pub(super) struct Entry<'a> {
    pub(super) operator: Operator,
    pub(super) channel: Channel,
    /// Its public id (the `txn` of its tokens, the correlator its log lines carry).
    #[allow(dead_code)]
    pub(super) id: &'a str,
    /// When it started, on the wall clock shared by every instance (`None`: unknown).
    pub(super) started_at_ms: Option<u64>,
}

impl Journal {
    pub(super) async fn started(&self, entry: &Entry<'_>) {
        self.metrics.started(entry.operator, entry.channel);
    }

    /// The end of a started verification: its answer, or the error it ended with. An
    /// error that ends no verification (an unknown state, say) is not recorded.
    pub(super) async fn ended(&self, entry: &Entry<'_>, result: Result<&Answer, &VerifyError>) {
        let outcome = match result {
            Ok(Answer::Verified(true)) => Outcome::Verified,
            Ok(Answer::Verified(false)) => Outcome::NotVerified,
            Ok(Answer::Shared(_)) => Outcome::Shared,
            Err(error) => match Reason::of(error) {
                Some(reason) => Outcome::Failed(reason),
                None => return,
            },
        };
        let took = entry
            .started_at_ms
            .map(|at| Duration::from_millis(now_ms().saturating_sub(at)));
        self.metrics.ended(entry.operator, entry.channel, outcome, took);
        if let Err(VerifyError::StoreUnavailable(_)) = result {
            self.metrics.store_error("verification");
        }
    }
}
