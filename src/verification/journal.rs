//! What a verification did, told once to whoever watches it: where it started and how it
//! ended, with its channel, operator, reason and latency. Metrics count it; the signed
//! events for the integrator's backend carry it. Both are told at the same points, so a
//! dashboard and a backend never disagree about a verification.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Value};

use super::{reason::Reason, store::now_ms, Answer, VerifyError};
use crate::{
    events::{EventKind, Events},
    metrics::{operator_label, Channel, Metrics, Outcome},
    protocol::Operator,
};

pub(super) struct Journal {
    pub(super) metrics: Arc<Metrics>,
    pub(super) events: Option<Arc<Events>>,
}

/// One verification as the journal names it.
pub(super) struct Entry<'a> {
    pub(super) operator: Operator,
    pub(super) channel: Channel,
    /// Its public id (the `txn` of its tokens, the correlator its log lines carry).
    pub(super) id: &'a str,
    /// The relying party it is for (an OpenID client's `client_id`, the API's audience).
    pub(super) client_ref: Option<&'a str>,
    /// When it started, on the wall clock shared by every instance (`None`: unknown).
    pub(super) started_at_ms: Option<u64>,
}

impl Entry<'_> {
    /// What every event about it carries: never the number, a code or a token.
    fn data(&self) -> Value {
        json!({
            "verification_id": self.id,
            "client_ref": self.client_ref,
            "channel": self.channel.as_str(),
            "protocol": self.operator.protocol().as_str(),
            "operator": operator_label(self.operator),
        })
    }
}

impl Journal {
    /// A verification started; it expires at `expires_at_ms` unless it ends first.
    pub(super) async fn started(&self, entry: &Entry<'_>, expires_at_ms: u64) {
        self.metrics.started(entry.operator, entry.channel);
        if let Some(events) = &self.events {
            events.publish(EventKind::Started, entry.data()).await;
            let mut expired = entry.data();
            expired["reason"] = json!(Reason::Expired.code());
            events.expect_expiry(entry.id, expires_at_ms, expired).await;
        }
    }

    /// The end of a started verification: its answer, or the error it ended with. An
    /// error that ends no verification (an unknown state, say) is not told.
    pub(super) async fn ended(&self, entry: &Entry<'_>, result: Result<&Answer, &VerifyError>, amr: &str) {
        let outcome = match result {
            Ok(Answer::Verified(true)) => Outcome::Verified,
            Ok(Answer::Verified(false)) => Outcome::NotVerified,
            Ok(Answer::Shared(_)) => Outcome::Shared,
            Err(error) => match Reason::of(error) {
                Some(reason) => Outcome::Failed(reason.code()),
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
        let Some(events) = &self.events else { return };
        events.settle(entry.id).await;
        let mut data = entry.data();
        data["latency_ms"] = json!(took.map(|t| t.as_millis() as u64));
        let kind = match outcome {
            Outcome::Failed(reason) => {
                data["reason"] = json!(reason);
                EventKind::Failed
            }
            Outcome::Verified | Outcome::NotVerified | Outcome::Shared => {
                data["verified"] = json!(!matches!(outcome, Outcome::NotVerified));
                data["amr"] = json!([amr]);
                if outcome == Outcome::NotVerified {
                    data["reason"] = json!(Reason::Mismatch.code());
                }
                if outcome == Outcome::Shared {
                    data["shared"] = json!(true);
                }
                EventKind::Completed
            }
        };
        events.publish(kind, data).await;
    }

    /// The end of a started verification for `reason`, with no error behind it (a code
    /// guessed wrong too often).
    pub(super) async fn ended_with(&self, entry: &Entry<'_>, reason: Reason) {
        let took = entry
            .started_at_ms
            .map(|at| Duration::from_millis(now_ms().saturating_sub(at)));
        self.metrics
            .ended(entry.operator, entry.channel, Outcome::Failed(reason.code()), took);
        let Some(events) = &self.events else { return };
        events.settle(entry.id).await;
        let mut data = entry.data();
        data["latency_ms"] = json!(took.map(|t| t.as_millis() as u64));
        data["reason"] = json!(reason.code());
        events.publish(EventKind::Failed, data).await;
    }
}
