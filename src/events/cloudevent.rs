//! A CloudEvents 1.0 event in the JSON event format's structured mode: the whole event,
//! its attributes and its `data`, is the HTTP body.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CloudEvents 1.0 §3.1.4 (`specversion`).
pub const SPEC_VERSION: &str = "1.0";

/// The media type of `data` (CloudEvents 1.0 §3.2.1, `datacontenttype`).
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// The `Content-Type` of a structured-mode request (CloudEvents HTTP Protocol Binding 1.0
/// §3.2.1, with the JSON event format's media type, JSON Event Format 1.0 §4).
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// What happened to a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Started,
    Completed,
    Failed,
    Expired,
}

impl EventKind {
    /// The event's `type` (CloudEvents 1.0 §3.1.1: reverse-DNS prefixed).
    pub fn event_type(self) -> &'static str {
        match self {
            EventKind::Started => "org.numberverify.verification.started",
            EventKind::Completed => "org.numberverify.verification.completed",
            EventKind::Failed => "org.numberverify.verification.failed",
            EventKind::Expired => "org.numberverify.verification.expired",
        }
    }
}

/// One event, as sent. Field order is the order on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    /// Unique per event: a receiver that sees an `id` again from this `source` drops it
    /// (CloudEvents 1.0 §3.1.1). Retries resend the same id.
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339, UTC (CloudEvents 1.0 §3.1.3, `time`).
    pub time: String,
    pub datacontenttype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub data: Value,
}

impl CloudEvent {
    /// A verification event of `kind` from `source`, happening now, with a fresh id (a
    /// random UUID v4).
    pub fn verification(kind: EventKind, source: &str, data: Value) -> CloudEvent {
        Self::verification_at(kind, source, data, now_ms())
    }

    /// As [`CloudEvent::verification`], the occurrence at `at_ms` (an expiry is due at its
    /// deadline, not when it was foreseen).
    pub fn verification_at(kind: EventKind, source: &str, data: Value, at_ms: u64) -> CloudEvent {
        CloudEvent {
            specversion: SPEC_VERSION.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            source: source.to_owned(),
            event_type: kind.event_type().to_owned(),
            time: rfc3339_utc(at_ms),
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            subject: None,
            data,
        }
    }

    /// The body bytes, exactly as sent and stored: a retry resends these, so its
    /// signature's `payload_hash` and the receiver's dedupe see the same event.
    pub fn to_body(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339 §5.6) for milliseconds since the epoch; no
/// date crate for one format. Days to a civil date after Howard Hinnant's
/// `civil_from_days` (proleptic Gregorian calendar).
pub(crate) fn rfc3339_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_has_every_required_attribute_in_structured_json() {
        let event = CloudEvent::verification(
            EventKind::Completed,
            "https://verify.example.com",
            json!({"verified": true}),
        );
        let body: Value = serde_json::from_str(&event.to_body().unwrap()).unwrap();
        let object = body.as_object().unwrap();
        assert_eq!(object["specversion"], "1.0");
        assert_eq!(object["type"], "org.numberverify.verification.completed");
        assert_eq!(object["source"], "https://verify.example.com");
        assert_eq!(object["datacontenttype"], "application/json");
        assert_eq!(object["data"], json!({"verified": true}));
        let id = uuid::Uuid::parse_str(object["id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert!(!object.contains_key("subject"), "absent, not null: {body}");
        let time = object["time"].as_str().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
        // Every key is one the spec defines: nothing else rides along.
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["data", "datacontenttype", "id", "source", "specversion", "time", "type"]
        );
    }

    #[test]
    fn each_kind_has_its_type_and_every_event_its_own_id() {
        let types: Vec<_> = [
            EventKind::Started,
            EventKind::Completed,
            EventKind::Failed,
            EventKind::Expired,
        ]
        .into_iter()
        .map(EventKind::event_type)
        .collect();
        assert_eq!(
            types,
            [
                "org.numberverify.verification.started",
                "org.numberverify.verification.completed",
                "org.numberverify.verification.failed",
                "org.numberverify.verification.expired",
            ]
        );
        let a = CloudEvent::verification(EventKind::Started, "s", Value::Null);
        let b = CloudEvent::verification(EventKind::Started, "s", Value::Null);
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn the_body_round_trips_byte_for_byte() {
        let mut event = CloudEvent::verification_at(EventKind::Expired, "urn:nv", json!({"b": 1, "a": [2]}), 0);
        event.subject = Some("v-1".into());
        let body = event.to_body().unwrap();
        let back: CloudEvent = serde_json::from_str(&body).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.to_body().unwrap(), body);
        assert!(body.contains(r#""subject":"v-1""#), "{body}");
        assert_eq!(event.time, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339_utc(4_102_444_800_001), "2100-01-01T00:00:00.001Z");
        assert_eq!(rfc3339_utc(1_234_567_890_123), "2009-02-13T23:31:30.123Z");
    }
}
