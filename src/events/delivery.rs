//! The worker that sends what the outbox holds: one tokio task per process, woken when
//! something is queued here, polling for what other instances queue and for retries.
//!
//! Each attempt is a POST of the stored body with `Content-Type:
//! application/cloudevents+json; charset=utf-8` and a fresh `Authorization: Bearer` (the
//! signature covers the body; `iat`, `exp` and `jti` are new every time). A 2xx is
//! delivered; anything else, a transport error or no answer within the attempt's timeout,
//! is retried on the [`Backoff`] schedule, and dropped when it runs out. Logs name events
//! by id and type only, never the body, the URL or the secret.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{watch, Notify};

use super::{
    backoff::Backoff,
    cloudevent::{now_ms, CONTENT_TYPE},
    outbox::{memory::DEFAULT_CAP, Claimed, Outbox, OutboxError},
    EventsSettings,
};
use crate::support::signed_body;

/// What the outbox and the worker have done since start, in this process.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Events accepted into the outbox: published here, or expiries this process fired.
    pub enqueued: AtomicU64,
    /// Events a receiver answered 2xx.
    pub delivered: AtomicU64,
    /// Attempts that failed (non-2xx, transport error, timeout); each is retried or dropped.
    pub failed_attempts: AtomicU64,
    /// Events given up: out of retries, evicted from a full memory outbox, or unreadable.
    pub dropped: AtomicU64,
    /// Outbox operations that failed (Redis unavailable): an event may be late or, for a
    /// publish that could not be stored, lost.
    pub store_errors: AtomicU64,
}

impl DeliveryStats {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the worker paces itself. [`Tuning::default`] is production's; tests shorten it.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// When failed events are tried again, and when given up.
    pub backoff: Backoff,
    /// How often the worker looks for work it was not woken for: events other instances
    /// queued, retries and expiries falling due (Redis).
    pub poll: Duration,
    /// How long one attempt may take before it counts as failed.
    pub attempt_timeout: Duration,
    /// How long an entry another consumer read must sit unacknowledged before this one
    /// takes it over (Redis). Longer than `attempt_timeout`, so a live instance's slow
    /// send is never sent twice.
    pub reclaim_idle: Duration,
    /// The memory outbox's bound (events, and expiries foreseen, each).
    pub memory_cap: usize,
    /// Events sent at once.
    pub batch: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            backoff: Backoff::default(),
            poll: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(30),
            reclaim_idle: Duration::from_secs(120),
            memory_cap: DEFAULT_CAP,
            batch: 16,
        }
    }
}

pub(crate) struct Worker {
    pub outbox: Arc<Outbox>,
    pub settings: EventsSettings,
    pub client: reqwest::Client,
    pub stats: Arc<DeliveryStats>,
    pub tuning: Tuning,
    pub wake: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

impl Worker {
    pub async fn run(mut self) {
        let mut store_down = false;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let round = self.round().await;
            match (&round, store_down) {
                (Err(e), false) => {
                    tracing::warn!(error = %e, "event outbox unavailable; delivery waits for it");
                    store_down = true;
                }
                (Ok(_), true) => {
                    tracing::info!("event outbox available again");
                    store_down = false;
                }
                _ => {}
            }
            if let Err(_) | Ok(0) = round {
                let wait = match self.outbox.next_due() {
                    Some(due) => Duration::from_millis(due.saturating_sub(now_ms())).min(self.tuning.poll),
                    None => self.tuning.poll,
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    changed = self.shutdown.changed() => if changed.is_err() { break },
                }
            }
        }
        if let Err(e) = self.outbox.retire().await {
            tracing::debug!(error = %e, "event outbox consumer not retired");
        }
    }

    /// Promotes what is due, takes a batch and sends it. Returns how many were taken.
    async fn round(&self) -> Result<usize, OutboxError> {
        let fired = self
            .outbox
            .promote_due(now_ms())
            .await
            .inspect_err(|_| self.store_error())?;
        self.stats.enqueued.fetch_add(fired as u64, Ordering::Relaxed);
        let batch = self
            .outbox
            .take(self.tuning.batch.max(1), self.tuning.reclaim_idle)
            .await
            .inspect_err(|_| self.store_error())?;
        let taken = batch.len();
        if *self.shutdown.borrow() {
            for claimed in batch {
                self.outbox.release(claimed);
            }
            return Ok(0);
        }
        futures_util::future::join_all(batch.into_iter().map(|claimed| self.deliver(claimed))).await;
        Ok(taken)
    }

    fn store_error(&self) {
        DeliveryStats::count(&self.stats.store_errors);
    }

    async fn deliver(&self, claimed: Claimed) {
        let entry = &claimed.entry;
        let failure = match self.attempt(&entry.body).await {
            Ok(()) => {
                DeliveryStats::count(&self.stats.delivered);
                tracing::debug!(event_id = %entry.id, event_type = %entry.event_type, "event delivered");
                if let Err(e) = self.outbox.ack(&claimed).await {
                    // Still pending: reclaimed and sent again later (receivers dedupe by id).
                    self.store_error();
                    tracing::warn!(event_id = %entry.id, error = %e, "delivered event not acknowledged");
                }
                return;
            }
            Err(failure) => failure,
        };
        DeliveryStats::count(&self.stats.failed_attempts);
        let failures = entry.failures.saturating_add(1);
        let now = now_ms();
        match self.tuning.backoff.next_attempt_ms(failures, entry.first_ms, now) {
            Some(due) => {
                tracing::warn!(
                    event_id = %entry.id,
                    event_type = %entry.event_type,
                    failures,
                    retry_in_ms = due - now,
                    %failure,
                    "event delivery failed; will retry"
                );
                let mut next = entry.clone();
                next.failures = failures;
                if let Err(e) = self.outbox.retry_later(&claimed, next, due).await {
                    self.store_error();
                    tracing::warn!(event_id = %entry.id, error = %e, "event retry not scheduled");
                }
            }
            None => {
                DeliveryStats::count(&self.stats.dropped);
                tracing::error!(
                    event_id = %entry.id,
                    event_type = %entry.event_type,
                    failures,
                    %failure,
                    "event dropped: no delivery within the retry window"
                );
                if let Err(e) = self.outbox.ack(&claimed).await {
                    self.store_error();
                    tracing::warn!(event_id = %entry.id, error = %e, "dropped event not removed");
                }
            }
        }
    }

    /// One POST. `Err` says why it failed, in words fit for a log (no URL, no body).
    async fn attempt(&self, body: &str) -> Result<(), String> {
        let authorization = signed_body::authorization(body.as_bytes(), self.settings.secret.secret().as_bytes())
            .map_err(|e| format!("cannot sign: {e}"))?;
        let request = self
            .client
            .post(self.settings.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(body.to_owned())
            .send();
        match tokio::time::timeout(self.tuning.attempt_timeout, request).await {
            Err(_) => Err("no answer within the attempt timeout".into()),
            Ok(Err(e)) => Err(e.without_url().to_string()),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("status {}", response.status().as_u16())),
        }
    }
}
