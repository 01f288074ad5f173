//! The virtual operator's SMS gateway: Vonage's SMS API on the wire (`POST /sms/json`,
//! a form with `api_key`, `api_secret`, `from`, `to`, `text`; always HTTP 200, with a
//! `status` per message that is `"0"` when the message was accepted), and an inbox
//! (`GET /sms/messages?to=`) where a test or a person reads what was "delivered".
//!
//! Which delivery a message gets is chosen by its destination, as the SIM rules choose
//! by the number (docs/virtual-operator.md, "The SMS gateway"): last two digits `99` →
//! the gateway refuses it (status `5`, nothing delivered); `98` → accepted at once,
//! delivered after a delay; anything else → delivered at once.
//!
//! Logs name the destination redacted (`+990••••••78`), never the text: it carries a
//! one-time code.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{json, Value};

use super::{
    device::{parse_msisdn, HEADER_DELAY, MAX_DELAY_MS},
    error::SandboxError,
    operator::VirtualOperator,
    respond::{form_pairs, json as json_response},
};
use crate::{
    phone::{normalise, E164, MAX_DIGITS},
    support::{constant_time_eq, ttl_map::WhenFull},
};

/// Messages kept per number: the newest ten.
pub const INBOX_PER_NUMBER: usize = 10;
/// How long a delivered message stays in the inbox.
pub const INBOX_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a slow delivery (`…98`) takes unless `X-Sandbox-Delay-Ms` says otherwise.
pub const SLOW_DELIVERY_MS: u64 = 3_000;
/// The longest text accepted, in characters: ten concatenated GSM parts (10 × 153 =
/// 1530), rounded down; longer is Vonage's status 12, "Message too long".
pub const MAX_TEXT_CHARS: usize = 1_500;
/// The mobile network the gateway reports for every destination: ITU-T's test network
/// (MCC 001, MNC 01), as the TS.43 carrier of the virtual operator.
const NETWORK: &str = "00101";

/// A message in an inbox.
#[derive(Clone)]
pub(crate) struct Delivered {
    text: String,
    /// Unix milliseconds, as the inbox answers it.
    at_ms: u64,
    /// When it stops being shown.
    expires: Instant,
}

/// Each number's newest messages, oldest first.
pub(crate) type Inbox = VecDeque<Delivered>;

/// What the gateway does with a message, by its destination's last two digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Accepted and in the inbox at once.
    Now,
    /// `…99`: refused with status 5; nothing is delivered.
    Fails,
    /// `…98`: accepted at once; in the inbox after the delay.
    Slow,
}

pub(crate) fn delivery_for(to: &E164) -> Delivery {
    let number = to.as_str();
    if number.ends_with("99") {
        Delivery::Fails
    } else if number.ends_with("98") {
        Delivery::Slow
    } else {
        Delivery::Now
    }
}

/// Vonage's refusal of one message: HTTP 200, a non-zero `status` and its `error-text`.
struct Refusal {
    status: &'static str,
    text: String,
}

impl Refusal {
    fn new(status: &'static str, text: impl Into<String>) -> Self {
        Self {
            status,
            text: text.into(),
        }
    }

    fn missing(what: &str) -> Self {
        Self::new("2", format!("Missing {what}"))
    }
}

/// `POST /sms/json` — Vonage's SMS API: the form → one message's answer.
pub(crate) async fn send(State(operator): State<Arc<VirtualOperator>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = match accept(&operator, &headers, &body) {
        Ok(answer) => answer,
        Err(refusal) => {
            tracing::info!(target: "sandbox", status = refusal.status, reason = %refusal.text, "sms: refused");
            json!({ "status": refusal.status, "error-text": refusal.text })
        }
    };
    json_response(StatusCode::OK, json!({ "message-count": "1", "messages": [answer] }))
}

/// Checks the request as Vonage does — parameters, then credentials, then the message —
/// and delivers it as its destination says.
fn accept(operator: &Arc<VirtualOperator>, headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    let pairs = std::str::from_utf8(body)
        .ok()
        .and_then(form_pairs)
        .ok_or_else(|| Refusal::new("3", "The body is not a form (application/x-www-form-urlencoded)"))?;
    // The first occurrence wins, as for the other form endpoints.
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let api_key = field("api_key").ok_or_else(|| Refusal::missing("api_key"))?;
    let api_secret = field("api_secret").ok_or_else(|| Refusal::missing("api_secret"))?;
    // Both compared whole, so a wrong key and a wrong secret take the same time.
    let key_ok = constant_time_eq(api_key.as_bytes(), operator.sms_api_key.as_bytes());
    let secret_ok = constant_time_eq(api_secret.as_bytes(), operator.sms_api_secret.as_bytes());
    if !(key_ok & secret_ok) {
        return Err(Refusal::new("4", "Bad Credentials"));
    }
    let from = field("from").ok_or_else(|| Refusal::missing("from param"))?;
    let to = field("to").ok_or_else(|| Refusal::missing("to param"))?;
    let text = field("text").ok_or_else(|| Refusal::missing("message text"))?;
    if !is_sender(from) {
        return Err(Refusal::new(
            "15",
            "Invalid Sender Address: up to 11 letters and digits, or a number of up to 15 digits",
        ));
    }
    let to = destination(to).ok_or_else(|| {
        Refusal::new(
            "6",
            "Invalid Message: to is not a phone number in international format (country code first, digits only)",
        )
    })?;
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Refusal::new("12", "Message too long"));
    }

    let delay = match delivery_for(&to) {
        Delivery::Fails => {
            tracing::info!(target: "sandbox", %to, "sms: simulated delivery failure");
            return Err(Refusal::new("5", "Internal Error: the message could not be delivered"));
        }
        Delivery::Now => None,
        Delivery::Slow => Some(slow_delay(headers)),
    };
    let message_id = message_id();
    match delay {
        None => {
            deliver(operator, &to, text);
            tracing::info!(target: "sandbox", %to, "sms: delivered");
        }
        Some(delay) => {
            let delay_ms = delay.as_millis() as u64;
            tracing::info!(target: "sandbox", %to, delay_ms, "sms: accepted; delivery is slow");
            let (operator, to, text) = (operator.clone(), to.clone(), text.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                deliver(&operator, &to, &text);
                tracing::info!(target: "sandbox", %to, "sms: delivered late");
            });
        }
    }
    Ok(json!({
        "to": &to.as_str()[1..],
        "message-id": message_id,
        "status": "0",
        "remaining-balance": "10.00000000",
        "message-price": "0.00000000",
        "network": NETWORK,
    }))
}

/// Vonage's `from`: an alphanumeric sender id of up to 11 characters (spaces ignored),
/// or a number of up to 15 digits.
fn is_sender(from: &str) -> bool {
    let compact: String = from.chars().filter(|c| *c != ' ').collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.len() <= MAX_DIGITS;
    }
    !compact.is_empty() && compact.len() <= 11 && compact.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Vonage's `to`: the number in international format, digits only (a leading `+` is
/// tolerated).
fn destination(to: &str) -> Option<E164> {
    let digits = to.strip_prefix('+').unwrap_or(to);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    normalise(&format!("+{digits}")).ok()
}

/// `X-Sandbox-Delay-Ms` on the send request, as for the `*-slow` faults; a value that is
/// not a whole number is ignored (the gateway answers in Vonage's shape only).
fn slow_delay(headers: &HeaderMap) -> Duration {
    let ms = headers
        .get(HEADER_DELAY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(SLOW_DELIVERY_MS);
    Duration::from_millis(ms.min(MAX_DELAY_MS))
}

/// Vonage's message ids: 16 upper-case hex digits.
fn message_id() -> String {
    crate::support::random_token()[..16].to_ascii_uppercase()
}

/// Puts `text` in `to`'s inbox, which keeps its newest [`INBOX_PER_NUMBER`].
fn deliver(operator: &VirtualOperator, to: &E164, text: &str) {
    let message = Delivered {
        text: text.to_owned(),
        at_ms: unix_ms(),
        expires: Instant::now() + INBOX_TTL,
    };
    // A full gateway forgets the inbox that would expire soonest.
    let _ = operator.sms_inboxes.update(
        to.as_str().to_owned(),
        INBOX_TTL,
        WhenFull::EvictOldest,
        VecDeque::new,
        |inbox| {
            inbox.push_back(message);
            while inbox.len() > INBOX_PER_NUMBER {
                inbox.pop_front();
            }
        },
    );
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `GET /sms/messages?to=+<E.164>` — the messages delivered to `to` in the last ten
/// minutes, oldest first: `[{"to", "text", "at"}]`, `at` in Unix milliseconds. In a query
/// string a literal `+` reads as a space, so `%2B`, `+` and no sign at all are the same.
pub(crate) async fn messages(
    State(operator): State<Arc<VirtualOperator>>,
    RawQuery(query): RawQuery,
) -> Result<Response, SandboxError> {
    let pairs = form_pairs(query.as_deref().unwrap_or(""))
        .ok_or_else(|| SandboxError::invalid_request("The query string could not be read."))?;
    let to = pairs
        .iter()
        .find(|(k, _)| k == "to")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SandboxError::invalid_request("to is missing: give the number, e.g. ?to=%2B99012345678."))?;
    let to = parse_msisdn(to)
        .map_err(|e| SandboxError::invalid_request(format!("to is not a phone number in E.164 form: {e}")))?;
    let now = Instant::now();
    let listed: Vec<Value> = operator
        .sms_inboxes
        .get(to.as_str())
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.expires > now)
        .map(|m| json!({ "to": to.as_str(), "text": m.text, "at": m.at_ms }))
        .collect();
    Ok(json_response(StatusCode::OK, Value::Array(listed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        normalise(s).unwrap()
    }

    #[test]
    fn the_destination_picks_the_delivery() {
        assert_eq!(delivery_for(&n("+99012345678")), Delivery::Now);
        assert_eq!(delivery_for(&n("+99012345699")), Delivery::Fails);
        assert_eq!(delivery_for(&n("+99012345698")), Delivery::Slow);
        assert_eq!(delivery_for(&n("+447700900123")), Delivery::Now);
    }

    #[test]
    fn senders_and_destinations_as_vonage_takes_them() {
        for ok in ["NVSandbox", "Acme Corp", "447700900000", "+447700900000", "A1"] {
            assert!(is_sender(ok), "{ok}");
        }
        for bad in ["TwelveLetter", "a-b", "", "1234567890123456", "Ünïcode"] {
            assert!(!is_sender(bad), "{bad}");
        }
        assert_eq!(destination("99012345678"), Some(n("+99012345678")));
        assert_eq!(destination("+99012345678"), Some(n("+99012345678")));
        for bad in ["", "+", "0099012345678", "99 0123 45678", "1234", "99012345678x"] {
            assert_eq!(destination(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_ids_look_like_vonages() {
        let id = message_id();
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "{id}"
        );
    }
}
