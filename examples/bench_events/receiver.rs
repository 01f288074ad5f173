//! The integrator's endpoint, as the reference tells a receiver to be: `POST /events`
//! checks the bearer signature (HS256 only, the MAC, `exp`) and `payload_hash` against
//! the bytes read (`number_verify::support::signed_body::verify`), refuses a `jti` seen
//! before, dedupes by the event's `id`, answers `200`, and notes for each new event how
//! long after its `time` it arrived.
//!
//! It runs on a thread and a single-threaded runtime of its own, so the driver's tasks
//! never delay an arrival's timestamp.

use std::{
    collections::{BTreeMap, HashSet},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    routing::post,
    Router,
};
use number_verify::support::signed_body;
use serde::Deserialize;

/// The CloudEvents `Content-Type` of a structured-mode request (the reference's).
const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
const STARTED: &str = "org.numberverify.verification.started";
const COMPLETED: &str = "org.numberverify.verification.completed";

/// What the receiver reads of an event: its attributes, `data` ignored.
#[derive(Deserialize)]
struct Event {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    time: String,
}

/// Everything the receiver has seen.
#[derive(Default)]
pub struct Tally {
    /// Event ids accepted, each once.
    ids: HashSet<String>,
    /// Signature ids seen: a second one is a replay.
    jtis: HashSet<String>,
    /// Arrival − `time`, ms, of each new event, by type.
    pub latencies_ms: BTreeMap<String, Vec<f64>>,
    /// New events by their `source` (the instance that published them).
    pub by_source: BTreeMap<String, u64>,
    /// The same event id delivered again (accepted, answered 200, not counted twice).
    pub duplicates: u64,
    /// Refused: no token, a bad MAC or algorithm, expired, `payload_hash` not the body's,
    /// or a `jti` seen before. By reason.
    pub bad_signatures: BTreeMap<String, u64>,
    /// Signed, but not a well-formed event of ours (type, content type, time).
    pub bad_events: BTreeMap<String, u64>,
}

impl Tally {
    /// New `started` and `completed` events: what the flows must have produced.
    pub fn expected_kinds(&self) -> usize {
        [STARTED, COMPLETED]
            .iter()
            .map(|k| self.latencies_ms.get(*k).map_or(0, Vec::len))
            .sum()
    }

    pub fn events(&self) -> usize {
        self.latencies_ms.values().map(Vec::len).sum()
    }

    pub fn signature_failures(&self) -> u64 {
        self.bad_signatures.values().sum()
    }
}

pub struct Receiver {
    secret: Vec<u8>,
    pub tally: Mutex<Tally>,
}

/// Serves `listener` on its own thread until the process ends.
pub fn spawn(listener: TcpListener, secret: Vec<u8>) -> std::io::Result<Arc<Receiver>> {
    listener.set_nonblocking(true)?;
    let receiver = Arc::new(Receiver {
        secret,
        tally: Mutex::new(Tally::default()),
    });
    let state = receiver.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("receiver".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let app = Router::new().route("/events", post(receive)).with_state(state);
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench_events: the receiver stopped: {e}");
            }
        });
    })?;
    Ok(receiver)
}

fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    // The body has been read: this is when the event arrived.
    let arrived_ms = unix_ms_now();
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let verdict = signed_body::verify(authorization, &body, &receiver.secret);
    let mut tally = receiver.tally.lock().unwrap();
    let claims = match verdict {
        Ok(claims) => claims,
        Err(e) => {
            let why = match e {
                signed_body::SignatureError::Missing => "no bearer token".to_owned(),
                signed_body::SignatureError::BodyChanged => "payload_hash does not match".to_owned(),
                signed_body::SignatureError::Invalid(why) => why,
            };
            *tally.bad_signatures.entry(why).or_default() += 1;
            return StatusCode::UNAUTHORIZED;
        }
    };
    if !tally.jtis.insert(claims.jti) {
        *tally.bad_signatures.entry("jti replayed".into()).or_default() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some(CONTENT_TYPE) {
        *tally.bad_events.entry("content type".into()).or_default() += 1;
    }
    let event = match serde_json::from_slice::<Event>(&body) {
        Ok(event) if event.specversion == "1.0" => event,
        _ => {
            *tally
                .bad_events
                .entry("not a CloudEvents 1.0 event".into())
                .or_default() += 1;
            return StatusCode::BAD_REQUEST;
        }
    };
    let Some(time_ms) = rfc3339_ms(&event.time) else {
        *tally.bad_events.entry("time not RFC 3339 UTC".into()).or_default() += 1;
        return StatusCode::BAD_REQUEST;
    };
    if !tally.ids.insert(event.id) {
        // At least once: a retry of an event already accepted. Accept it again, count it.
        tally.duplicates += 1;
        return StatusCode::OK;
    }
    tally
        .latencies_ms
        .entry(event.kind)
        .or_default()
        .push(arrived_ms - time_ms);
    *tally.by_source.entry(event.source).or_default() += 1;
    StatusCode::OK
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (RFC 3339, UTC).
/// Days from the civil date after Howard Hinnant's `days_from_civil`.
pub fn rfc3339_ms(time: &str) -> Option<f64> {
    let b = time.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && matches!(b[b.len() - 1], b'Z' | b'z');
    if !shape {
        return None;
    }
    let field = |from: usize, to: usize| -> Option<i64> {
        let s = time.get(from..to)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let fraction_ms = match &time[19..time.len() - 1] {
        "" => 0.0,
        f => {
            let digits = f
                .strip_prefix('.')
                .filter(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))?;
            format!("0.{digits}").parse::<f64>().ok()? * 1000.0
        }
    };
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) as f64 + fraction_ms)
}
