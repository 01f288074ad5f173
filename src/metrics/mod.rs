//! What an operator of this service watches: the verification funnel, operator latency,
//! the event queue and store errors, in the Prometheus text format (version 0.0.4) on
//! its own listen address (`METRICS_ADDR`, never the public port — [`server`]).
//!
//! Labels are a small fixed set of codes (protocol, channel, outcome, reason, operator,
//! step, status): never a number, a code, a token or anything a request chose, so a
//! client cannot make the series grow.

mod operator_calls;
pub mod server;

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

pub use operator_calls::{attributed, observe_operator_call};

use crate::protocol::Operator;

/// The `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a verification was being proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A redirect through the operator's network (header enrichment / network-based
    /// authentication).
    Network,
    /// The phone's number credential (TS.43) through the Digital Credentials API.
    Credential,
    /// A one-time code by SMS, the last resort.
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Network => "network",
            Channel::Credential => "credential",
            Channel::Sms => "sms",
        }
    }
}

/// How a verification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Verified,
    /// The operator answered that the device is on another number.
    NotVerified,
    /// A number shared by the operator (CAMARA's device-phone-number).
    Shared,
    /// With its reason's stable code (`not_mobile_data`, …).
    Failed(&'static str),
}

impl Outcome {
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Outcome::Verified => ("verified", "none"),
            Outcome::NotVerified => ("not_verified", "mismatch"),
            Outcome::Shared => ("shared", "none"),
            Outcome::Failed(reason) => ("failed", reason),
        }
    }
}

/// The `operator` label: which operator flow, not which company.
pub fn operator_label(operator: Operator) -> &'static str {
    match operator {
        Operator::MobileConnect => "mobile_connect",
        Operator::Vonage => "vonage",
        Operator::CamaraStandard => "camara_standard",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabels {
    protocol: &'static str,
    channel: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    protocol: &'static str,
    channel: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorLabels {
    operator: &'static str,
    step: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SmsLabels {
    sender: &'static str,
    /// An ISO 3166-1 code from the `SMS_COUNTRIES` allow-list: a bounded set.
    country: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SenderLabels {
    sender: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Figures another part of the app keeps and the exposition reads when scraped (the
/// event queue's, say): a name, its help and how to read it now.
pub type Reading = Box<dyn Fn() -> u64 + Send + Sync>;

/// One app's metrics: one registry each, so several apps in one process (tests) never
/// mix their figures.
pub struct Metrics {
    registry: Registry,
    started: Family<StartLabels, Counter>,
    ended: Family<EndLabels, Counter>,
    duration: HistogramFamily<ChannelLabels>,
    operator_requests: HistogramFamily<OperatorLabels>,
    store_errors: Family<OperationLabels, Counter>,
    sms_sent: Family<SmsLabels, Counter>,
    sms_failures: Family<SenderLabels, Counter>,
    sms_duration: HistogramFamily<SenderLabels>,
    gauges: Vec<(Gauge, Reading)>,
    /// Events waiting for delivery, set at each scrape (reading it asks the outbox).
    event_queue_depth: Option<Gauge>,
    counters: Vec<(Counter, Reading)>,
}

fn verification_buckets() -> Histogram {
    // A person reads a consent screen: seconds to minutes.
    Histogram::new([0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0])
}

fn operator_buckets() -> Histogram {
    // 10 ms … ~10 s (the operator timeout's range).
    Histogram::new(exponential_buckets(0.01, 2.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("nv");
        let started = Family::<StartLabels, Counter>::default();
        registry.register(
            "verifications_started",
            "Verifications started, by protocol and channel",
            started.clone(),
        );
        let ended = Family::<EndLabels, Counter>::default();
        registry.register(
            "verifications",
            "Verifications ended, by protocol, channel, outcome and reason",
            ended.clone(),
        );
        let duration: HistogramFamily<ChannelLabels> = Family::new_with_constructor(verification_buckets);
        registry.register(
            "verification_duration_seconds",
            "Time from a verification's start to its verdict, by channel",
            duration.clone(),
        );
        let operator_requests: HistogramFamily<OperatorLabels> = Family::new_with_constructor(operator_buckets);
        registry.register(
            "operator_request_duration_seconds",
            "Time until an operator's answer, by operator, step and HTTP status (or timeout, unreachable)",
            operator_requests.clone(),
        );
        let store_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "store_errors",
            "Store operations that failed (memory full, Redis not answering)",
            store_errors.clone(),
        );
        let sms_sent = Family::<SmsLabels, Counter>::default();
        registry.register(
            "sms_sent",
            "One-time codes sent by SMS, by sender and destination country",
            sms_sent.clone(),
        );
        let sms_failures = Family::<SenderLabels, Counter>::default();
        registry.register(
            "sms_failures",
            "One-time codes the sender did not accept (error, timeout), by sender",
            sms_failures.clone(),
        );
        let sms_duration: HistogramFamily<SenderLabels> = Family::new_with_constructor(operator_buckets);
        registry.register(
            "sms_send_duration_seconds",
            "Time until the SMS sender answered, by sender",
            sms_duration.clone(),
        );
        // A series that exists before its first error: `rate()` sees the first one.
        let _ = store_errors.get_or_create(&OperationLabels {
            operation: "verification",
        });
        Self {
            registry,
            started,
            ended,
            duration,
            operator_requests,
            store_errors,
            sms_sent,
            sms_failures,
            sms_duration,
            gauges: Vec::new(),
            event_queue_depth: None,
            counters: Vec::new(),
        }
    }

    /// Adds a gauge read from elsewhere at each scrape (`name` without the `nv_` prefix).
    pub fn register_gauge(&mut self, name: &str, help: &str, read: Reading) {
        let gauge = Gauge::default();
        self.registry.register(name, help, gauge.clone());
        self.gauges.push((gauge, read));
    }

    /// Adds a counter another part of the app keeps, read at each scrape (`name` without
    /// the `nv_` prefix and `_total`).
    pub fn register_counter(&mut self, name: &str, help: &str, read: Reading) {
        let counter = Counter::default();
        self.registry.register(name, help, counter.clone());
        self.counters.push((counter, read));
    }

    /// Shows the signed events' delivery: the queue's depth (see
    /// [`Metrics::set_event_queue_depth`]) and the worker's counters.
    pub fn watch_events(&mut self, events: &std::sync::Arc<crate::events::Events>) {
        use std::sync::atomic::Ordering::Relaxed;
        let depth = Gauge::default();
        self.registry.register(
            "event_queue_depth",
            "Signed events waiting for delivery (retries included)",
            depth.clone(),
        );
        self.event_queue_depth = Some(depth);
        let read = |pick: fn(&crate::events::DeliveryStats) -> &std::sync::atomic::AtomicU64| -> Reading {
            let events = events.clone();
            Box::new(move || pick(events.stats()).load(Relaxed))
        };
        self.register_counter(
            "events_delivered",
            "Signed events a receiver accepted (2xx)",
            read(|s| &s.delivered),
        );
        self.register_counter(
            "event_delivery_failures",
            "Delivery attempts that failed (non-2xx, transport error, timeout); each is retried or dropped",
            read(|s| &s.failed_attempts),
        );
        self.register_counter(
            "events_dropped",
            "Signed events given up (out of retries, or evicted from a full memory outbox)",
            read(|s| &s.dropped),
        );
        self.register_counter(
            "event_outbox_errors",
            "Outbox operations that failed (Redis not answering)",
            read(|s| &s.store_errors),
        );
    }

    pub fn set_event_queue_depth(&self, depth: u64) {
        if let Some(gauge) = &self.event_queue_depth {
            gauge.set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
    }

    pub fn started(&self, operator: Operator, channel: Channel) {
        self.started
            .get_or_create(&StartLabels {
                protocol: operator.protocol().as_str(),
                channel: channel.as_str(),
            })
            .inc();
    }

    /// A verification ended `outcome` after `took` (`None` when its start is not known).
    pub fn ended(&self, operator: Operator, channel: Channel, outcome: Outcome, took: Option<Duration>) {
        let (outcome, reason) = outcome.labels();
        self.ended
            .get_or_create(&EndLabels {
                protocol: operator.protocol().as_str(),
                channel: channel.as_str(),
                outcome,
                reason,
            })
            .inc();
        if let Some(took) = took {
            self.duration
                .get_or_create(&ChannelLabels {
                    channel: channel.as_str(),
                })
                .observe(took.as_secs_f64());
        }
    }

    pub fn operator_request(&self, operator: &'static str, step: &'static str, status: &'static str, took: Duration) {
        self.operator_requests
            .get_or_create(&OperatorLabels { operator, step, status })
            .observe(took.as_secs_f64());
    }

    /// One SMS handed to `sender` for `country` (sent or not) after `took`.
    pub fn sms(&self, sender: &'static str, country: &'static str, sent: bool, took: Duration) {
        if sent {
            self.sms_sent.get_or_create(&SmsLabels { sender, country }).inc();
        } else {
            self.sms_failures.get_or_create(&SenderLabels { sender }).inc();
        }
        self.sms_duration
            .get_or_create(&SenderLabels { sender })
            .observe(took.as_secs_f64());
    }

    pub fn store_error(&self, operation: &'static str) {
        self.store_errors.get_or_create(&OperationLabels { operation }).inc();
    }

    /// The exposition, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        for (gauge, read) in &self.gauges {
            gauge.set(i64::try_from(read()).unwrap_or(i64::MAX));
        }
        for (counter, read) in &self.counters {
            let now = read();
            let shown = counter.get();
            if now > shown {
                counter.inc_by(now - shown);
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    };

    use super::*;

    #[test]
    fn the_exposition_is_prometheus_text_with_fixed_labels() {
        let metrics = Metrics::new();
        metrics.started(Operator::CamaraStandard, Channel::Network);
        metrics.ended(
            Operator::CamaraStandard,
            Channel::Network,
            Outcome::Verified,
            Some(Duration::from_millis(1500)),
        );
        metrics.ended(
            Operator::Vonage,
            Channel::Network,
            Outcome::Failed("not_mobile_data"),
            None,
        );
        metrics.operator_request("vonage", "CAMARA verify", "200", Duration::from_millis(20));
        let text = metrics.render();
        assert!(
            !text.contains("# EOF"),
            "OpenMetrics' terminator is not Prometheus text:\n{text}"
        );
        for line in [
            "# TYPE nv_verifications_started_total counter",
            r#"nv_verifications_started_total{protocol="camara-standard",channel="network"} 1"#,
            r#"nv_verifications_total{protocol="camara-standard",channel="network",outcome="verified",reason="none"} 1"#,
            r#"nv_verifications_total{protocol="camara",channel="network",outcome="failed",reason="not_mobile_data"} 1"#,
            "# TYPE nv_verification_duration_seconds histogram",
            r#"nv_verification_duration_seconds_bucket{channel="network",le="2"} 1"#,
            r#"nv_verification_duration_seconds_bucket{channel="network",le="1"} 0"#,
            r#"nv_operator_request_duration_seconds_count{operator="vonage",step="CAMARA verify",status="200"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn readings_from_elsewhere_appear_at_scrape() {
        let mut metrics = Metrics::new();
        let depth = Arc::new(AtomicU64::new(0));
        let read = depth.clone();
        metrics.register_gauge(
            "event_queue_depth",
            "Events waiting",
            Box::new(move || read.load(Ordering::Relaxed)),
        );
        let failures = Arc::new(AtomicU64::new(0));
        let read = failures.clone();
        metrics.register_counter(
            "event_delivery_failures",
            "Failed attempts",
            Box::new(move || read.load(Ordering::Relaxed)),
        );
        depth.store(7, Ordering::Relaxed);
        failures.store(3, Ordering::Relaxed);
        let text = metrics.render();
        assert!(text.contains("\nnv_event_queue_depth 7\n"), "{text}");
        assert!(text.contains("\nnv_event_delivery_failures_total 3\n"), "{text}");
        failures.store(5, Ordering::Relaxed);
        assert!(metrics.render().contains("\nnv_event_delivery_failures_total 5\n"));
    }
}
