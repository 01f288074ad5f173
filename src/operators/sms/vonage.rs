//! Vonage's SMS API: `POST {base}/sms/json`, a form with `api_key`, `api_secret`,
//! `from`, `to` (the number's digits, no `+`) and `text`. It answers HTTP 200 whether or
//! not it took the message: `messages[0].status` is `"0"` when it did, else a code with
//! its `error-text` (Vonage SMS API, "Troubleshooting SMS": 2 missing parameters, 4
//! invalid credentials, 6 invalid message, …).

use serde::Deserialize;
use url::Url;

use super::{sanitised_reason, SentSms, SmsFailure};
use crate::{
    operators::{classify, endpoint, read_bounded, undecodable, MAX_ANSWER_BYTES},
    phone::E164,
    support::redacted::Secret,
};

pub const NAME: &str = "vonage";
/// Vonage's SMS API, where `VONAGE_SMS_API_BASE` is not set.
pub const DEFAULT_API_BASE: &str = "https://rest.nexmo.com";
/// The step name the shared reader gives its failures.
const STEP: &str = "sms";

/// A Vonage account that sends SMS.
#[derive(Debug, Clone)]
pub struct VonageSmsSettings {
    /// `https://rest.nexmo.com`, or the virtual operator's base URL.
    pub api_base: Url,
    pub api_key: String,
    pub api_secret: Secret,
    /// The sender: an alphanumeric id (at most 11 characters) or a number.
    pub from: String,
}

pub struct VonageSms {
    http: reqwest::Client,
    url: Url,
    api_key: String,
    api_secret: Secret,
    from: String,
}

#[derive(Deserialize)]
struct Answer {
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    status: String,
    #[serde(rename = "message-id", default)]
    message_id: Option<String>,
    #[serde(rename = "error-text", default)]
    error_text: Option<String>,
}

impl VonageSms {
    pub fn new(settings: &VonageSmsSettings, http: reqwest::Client) -> Self {
        Self {
            http,
            url: endpoint(&settings.api_base, "sms/json"),
            api_key: settings.api_key.clone(),
            api_secret: settings.api_secret.clone(),
            from: settings.from.clone(),
        }
    }

    pub async fn send(&self, to: &E164, text: &str) -> Result<SentSms, SmsFailure> {
        let fail = |f| SmsFailure::from_operator(NAME, f);
        // Vonage takes the number without its `+`.
        let to_digits = &to.as_str()[1..];
        let mut form = vec![
            ("api_key", self.api_key.as_str()),
            ("api_secret", self.api_secret.secret()),
            ("from", self.from.as_str()),
            ("to", to_digits),
            ("text", text),
        ];
        // Text outside ASCII needs Vonage's unicode type, or it arrives garbled.
        if !text.is_ascii() {
            form.push(("type", "unicode"));
        }
        let response = self
            .http
            .post(self.url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(classify(STEP, e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SmsFailure::Status {
                sender: NAME,
                status: status.as_u16(),
            });
        }
        let body = read_bounded(STEP, response, MAX_ANSWER_BYTES).await.map_err(fail)?;
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| SmsFailure::Malformed {
            sender: NAME,
            reason: undecodable(&e),
        })?;
        let Some(message) = answer.messages.into_iter().next() else {
            return Err(SmsFailure::Malformed {
                sender: NAME,
                reason: "no message in the answer".into(),
            });
        };
        read_message(message)
    }
}

/// Whether `from` is a sender Vonage takes: an alphanumeric id of up to 11 characters
/// (spaces ignored), or a number of up to 15 digits (a leading `+` ignored).
pub fn is_sender(from: &str) -> bool {
    let compact: String = from.chars().filter(|c| *c != ' ').collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.len() <= 15;
    }
    !compact.is_empty() && compact.len() <= 11 && compact.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One message's verdict: `"0"` is sent; any other status is a refusal with its code.
fn read_message(message: Message) -> Result<SentSms, SmsFailure> {
    let code = message.status.trim();
    if code.is_empty() || code.len() > 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SmsFailure::Malformed {
            sender: NAME,
            reason: "status is not a number".into(),
        });
    }
    if code != "0" {
        return Err(SmsFailure::Rejected {
            sender: NAME,
            code: code.to_owned(),
            reason: sanitised_reason(message.error_text.as_deref().unwrap_or("")),
        });
    }
    // An id is an identifier, not free text: anything else is dropped rather than logged.
    let message_id = message
        .message_id
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    Ok(SentSms {
        sender: NAME,
        message_id,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::{extract::Form, routing::post, Json, Router};
    use serde_json::{json, Value};

    use super::*;
    use crate::phone::normalise;

    /// A stub of Vonage's SMS API that answers `answer` (or this status) to any form.
    async fn stub(answer: Value, status: u16) -> (VonageSms, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v", listener.local_addr().unwrap());
        let app = Router::new().route(
            "/v/sms/json",
            post(move |Form(form): Form<Vec<(String, String)>>| {
                let answer = answer.clone();
                async move {
                    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    // The stub checks what Vonage requires of the form.
                    let ok = get("api_key").as_deref() == Some("key")
                        && get("api_secret").as_deref() == Some("secret")
                        && get("from").as_deref() == Some("Acme")
                        && get("to").as_deref() == Some("447700900123")
                        && get("text").is_some();
                    let code = axum::http::StatusCode::from_u16(status).unwrap();
                    if ok {
                        (code, Json(answer))
                    } else {
                        (
                            code,
                            Json(json!({"message-count": "1", "messages": [{"status": "99"}]})),
                        )
                    }
                }
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let settings = VonageSmsSettings {
            api_base: Url::parse(&base).unwrap(),
            api_key: "key".into(),
            api_secret: Secret::new("secret"),
            from: "Acme".into(),
        };
        let http = crate::operators::http_client(Duration::from_secs(5)).unwrap();
        (VonageSms::new(&settings, http), server)
    }

    fn to() -> E164 {
        normalise("+447700900123").unwrap()
    }

    #[tokio::test]
    async fn status_zero_is_sent_with_its_id() {
        let (sms, _server) = stub(
            json!({"message-count": "1", "messages": [{"to": "447700900123", "message-id": "0C000000217B7F02",
                   "status": "0", "remaining-balance": "15.5", "message-price": "0.03", "network": "23410"}]}),
            200,
        )
        .await;
        let sent = sms.send(&to(), "Your code is 123456").await.unwrap();
        assert_eq!(
            sent,
            SentSms {
                sender: "vonage",
                message_id: Some("0C000000217B7F02".into())
            }
        );
    }

    #[tokio::test]
    async fn refusals_keep_the_code_and_a_clean_reason() {
        let (sms, _server) = stub(
            json!({"message-count": "1", "messages": [{"status": "29", "error-text": "Non White-listed Destination 447700900123"}]}),
            200,
        )
        .await;
        let failure = sms.send(&to(), "Your code is 123456").await.unwrap_err();
        assert_eq!(
            failure,
            SmsFailure::Rejected {
                sender: "vonage",
                code: "29".into(),
                reason: "Non White-listed Destination …".into()
            }
        );
        assert!(!failure.to_string().contains("900123"), "{failure}");
    }

    #[tokio::test]
    async fn http_errors_and_odd_bodies_are_told_apart() {
        let (sms, _server) = stub(json!({"error": "x"}), 503).await;
        assert_eq!(
            sms.send(&to(), "t").await.unwrap_err(),
            SmsFailure::Status {
                sender: "vonage",
                status: 503
            }
        );
        let (sms, _server) = stub(json!({"message-count": "0", "messages": []}), 200).await;
        assert!(matches!(
            sms.send(&to(), "t").await.unwrap_err(),
            SmsFailure::Malformed { .. }
        ));
        let (sms, _server) = stub(json!({"messages": [{"status": "ok"}]}), 200).await;
        assert!(matches!(
            sms.send(&to(), "t").await.unwrap_err(),
            SmsFailure::Malformed { .. }
        ));
    }

    #[tokio::test]
    async fn nobody_listening_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let settings = VonageSmsSettings {
            api_base: Url::parse(&base).unwrap(),
            api_key: "key".into(),
            api_secret: Secret::new("secret"),
            from: "Acme".into(),
        };
        let http = crate::operators::http_client(Duration::from_secs(5)).unwrap();
        let failure = VonageSms::new(&settings, http).send(&to(), "t").await.unwrap_err();
        assert!(matches!(failure, SmsFailure::Unreachable { .. }), "{failure:?}");
    }
}
