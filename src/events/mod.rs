//! Signed events: what happened to verifications, sent to the integrator's endpoint
//! (`EVENTS_URL`) as CloudEvents 1.0 (structured JSON), each POST signed with
//! `EVENTS_SECRET` ([`crate::support::signed_body`]).
//!
//! Callers [`Events::publish`] and foresee expiries ([`Events::expect_expiry`], then
//! [`Events::settle`] when the verification ends otherwise); neither ever fails the
//! caller. Events go through a durable outbox ([`outbox`]: memory, or Redis shared by
//! every instance) to a background worker ([`delivery`]) that retries with backoff for a
//! day. Delivery is at least once: receivers dedupe by the event's `id`.
//!
//! ```text
//! publish ──▶ outbox (memory | Redis stream) ──▶ worker ──POST──▶ EVENTS_URL
//!                 ▲   ▲ retry (backoff)            │
//!                 │   └────────────────────────────┘ non-2xx / error
//! expect_expiry ──┘ at the deadline, unless settle
//! ```

pub mod backoff;
pub mod cloudevent;
pub mod delivery;
pub mod outbox;

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::{
    sync::{watch, Notify},
    task::JoinHandle,
};

pub use backoff::Backoff;
pub use cloudevent::{CloudEvent, EventKind};
pub use delivery::{DeliveryStats, Tuning};
pub use outbox::{Backend, OutboxError, RedisConnection};

use cloudevent::now_ms;
use outbox::{memory::MemoryOutbox, redis::RedisOutbox, Outbox, Queued};

use crate::support::redacted::Secret;

/// Where events go and what signs them (`EVENTS_URL`, `EVENTS_SECRET`).
#[derive(Debug, Clone)]
pub struct EventsSettings {
    /// `https://`, or `http://` on a loopback host.
    pub url: url::Url,
    /// The HS256 key (at least [`crate::support::signed_body::MIN_SECRET_BYTES`] bytes).
    pub secret: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// `source` is not a usable CloudEvents `source`.
    #[error("events source: {0}")]
    Source(String),
    /// The outbox could not be opened (Redis did not answer).
    #[error("events outbox: {0}")]
    Outbox(#[from] OutboxError),
}

/// The events of this process: publish, foresee expiries, and the worker that delivers.
/// Share it as `Arc<Events>`; dropping the last one stops the worker.
pub struct Events {
    outbox: Arc<Outbox>,
    stats: Arc<DeliveryStats>,
    source: String,
    wake: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Events {
    /// Opens the outbox on `backend` and starts the worker, with the production
    /// schedule. `source` is every event's `source` (the app's public URL);
    /// `client` is the app's HTTP client (its timeouts apply to every attempt).
    pub async fn start(
        settings: EventsSettings,
        backend: Backend,
        source: String,
        client: reqwest::Client,
    ) -> Result<Arc<Events>, EventsError> {
        Self::start_tuned(settings, backend, source, client, Tuning::default()).await
    }

    /// As [`Events::start`], paced by `tuning` (tests: a fast [`Backoff`], a short poll).
    pub async fn start_tuned(
        settings: EventsSettings,
        backend: Backend,
        source: String,
        client: reqwest::Client,
        tuning: Tuning,
    ) -> Result<Arc<Events>, EventsError> {
        check_source(&source)?;
        let stats = Arc::new(DeliveryStats::default());
        let outbox = Arc::new(match backend {
            Backend::Memory => Outbox::Memory(MemoryOutbox::new(tuning.memory_cap, stats.clone())),
            Backend::Redis(connection) => Outbox::Redis(Box::new(RedisOutbox::open(connection, stats.clone()).await?)),
        });
        let wake = Arc::new(Notify::new());
        let (shutdown, stopping) = watch::channel(false);
        let worker = delivery::Worker {
            outbox: outbox.clone(),
            settings,
            client,
            stats: stats.clone(),
            tuning,
            wake: wake.clone(),
            shutdown: stopping,
        };
        let handle = tokio::spawn(worker.run());
        Ok(Arc::new(Events {
            outbox,
            stats,
            source,
            wake,
            shutdown,
            worker: Mutex::new(Some(handle)),
        }))
    }

    /// Queues a `kind` event with `data` for delivery. Never fails the caller: an outbox
    /// that cannot take it is logged (event id and type) and counted in `store_errors`.
    pub async fn publish(&self, kind: EventKind, data: Value) {
        let event = CloudEvent::verification(kind, &self.source, data);
        let Some(entry) = self.queued(&event, now_ms()) else {
            return;
        };
        match self.outbox.enqueue(entry).await {
            Ok(()) => {
                DeliveryStats::count(&self.stats.enqueued);
                self.wake.notify_one();
            }
            Err(e) => self.lost(&event, &e),
        }
    }

    /// An `expired` event with `data`, timed at `deadline_ms` (ms since the epoch), is
    /// sent then unless [`Events::settle`] for `verification_id` comes first. On Redis
    /// it fires once across every instance. Again for the same id: replaces it.
    pub async fn expect_expiry(&self, verification_id: &str, deadline_ms: u64, data: Value) {
        let event = CloudEvent::verification_at(EventKind::Expired, &self.source, data, deadline_ms);
        let Some(entry) = self.queued(&event, deadline_ms) else {
            return;
        };
        match self.outbox.expect(verification_id, deadline_ms, entry).await {
            Ok(()) => self.wake.notify_one(),
            Err(e) => self.lost(&event, &e),
        }
    }

    /// The verification ended before its deadline: no `expired` event for it.
    pub async fn settle(&self, verification_id: &str) {
        if let Err(e) = self.outbox.settle(verification_id).await {
            DeliveryStats::count(&self.stats.store_errors);
            tracing::warn!(error = %e, "expiry not settled: an expired event may follow");
        }
    }

    /// What this process has counted.
    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }

    /// Events waiting: queued, being sent, or waiting for a retry (every instance's, on
    /// Redis). 0 when the outbox does not answer (counted in `store_errors`).
    pub async fn depth(&self) -> u64 {
        match self.outbox.depth().await {
            Ok(depth) => depth,
            Err(e) => {
                DeliveryStats::count(&self.stats.store_errors);
                tracing::warn!(error = %e, "event outbox depth unknown");
                0
            }
        }
    }

    /// Tells the worker to stop after the attempts in flight (each bounded by the
    /// attempt timeout). What is still queued stays in the outbox: on Redis another
    /// instance, or the next start, delivers it.
    pub fn stop(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until the worker has stopped (after [`Events::stop`]), for a drain.
    pub async fn stopped(&self) {
        let handle = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// The outbox record of `event`, first due at `first_ms`.
    fn queued(&self, event: &CloudEvent, first_ms: u64) -> Option<Queued> {
        match event.to_body() {
            Ok(body) => Some(Queued {
                id: event.id.clone(),
                event_type: event.event_type.clone(),
                body,
                failures: 0,
                first_ms,
            }),
            Err(e) => {
                DeliveryStats::count(&self.stats.dropped);
                tracing::error!(event_id = %event.id, event_type = %event.event_type, error = %e, "event not serialisable; dropped");
                None
            }
        }
    }

    fn lost(&self, event: &CloudEvent, error: &OutboxError) {
        DeliveryStats::count(&self.stats.store_errors);
        tracing::error!(event_id = %event.id, event_type = %event.event_type, %error, "event not stored; lost");
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CloudEvents 1.0 §3.1.1: `source` is a non-empty URI-reference; here, visible ASCII
/// (an absolute URL such as the app's public origin, or a URN).
fn check_source(source: &str) -> Result<(), EventsError> {
    if source.is_empty() || !source.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EventsError::Source(
            "must be a non-empty URI-reference, such as the app's public URL".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_a_uri_reference() {
        assert!(check_source("https://verify.example.com").is_ok());
        assert!(check_source("urn:numberverify").is_ok());
        assert!(check_source("").is_err());
        assert!(check_source("has space").is_err());
    }

    #[test]
    fn settings_never_show_the_secret() {
        let settings = EventsSettings {
            url: url::Url::parse("https://hooks.example.com/nv").unwrap(),
            secret: Secret::new("0123456789abcdef0123456789abcdef-secret"),
        };
        assert!(!format!("{settings:?}").contains("secret\""));
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
    }
}
