//! The integrator's own SMS sender: `POST {OTP_HOOK_URL}` with the JSON
//! `{"id", "to", "text"}` (`id` random, so the receiver can drop a retry it has already
//! sent; `to` E.164 with its `+`), signed like every POST this service makes to an
//! integrator ([`crate::support::signed_body`]: `Authorization: Bearer <HS256 JWT>`
//! whose `payload_hash` is the SHA-256 of the exact body). Any 2xx means the
//! integrator took the message; nothing in the answer's body is read.

use url::Url;

use super::{SentSms, SmsFailure};
use crate::{
    operators::classify,
    phone::E164,
    support::{random_token, redacted::Secret, signed_body},
};

pub const NAME: &str = "hook";

/// Where the hook is, and the secret its requests are signed with.
#[derive(Debug, Clone)]
pub struct HookSettings {
    pub url: Url,
    /// At least [`signed_body::MIN_SECRET_BYTES`] bytes (checked by the configuration).
    pub secret: Secret,
}

pub struct HookSms {
    http: reqwest::Client,
    url: Url,
    secret: Secret,
}

/// The body, in this field order.
#[derive(serde::Serialize)]
struct HookRequest<'a> {
    id: &'a str,
    to: &'a str,
    text: &'a str,
}

impl HookSms {
    pub fn new(settings: &HookSettings, http: reqwest::Client) -> Self {
        Self {
            http,
            url: settings.url.clone(),
            secret: settings.secret.clone(),
        }
    }

    pub async fn send(&self, to: &E164, text: &str) -> Result<SentSms, SmsFailure> {
        let id = random_token();
        let body = serde_json::to_vec(&HookRequest {
            id: &id,
            to: to.as_str(),
            text,
        })
        .map_err(|_| SmsFailure::Malformed {
            sender: NAME,
            reason: "the request could not be written".into(),
        })?;
        let authorization =
            signed_body::authorization(&body, self.secret.secret().as_bytes()).map_err(|_| SmsFailure::Malformed {
                sender: NAME,
                reason: "the request could not be signed".into(),
            })?;
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SmsFailure::from_operator(NAME, classify(NAME, e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SmsFailure::Status {
                sender: NAME,
                status: status.as_u16(),
            });
        }
        Ok(SentSms {
            sender: NAME,
            message_id: Some(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    use serde_json::Value;

    use super::*;
    use crate::phone::normalise;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-hook";

    /// What the receiver saw: the verified body, or why the signature failed.
    type Seen = Arc<Mutex<Vec<Result<Value, String>>>>;

    /// A receiver that checks the signature as an integrator must, answers `status`
    /// after `delay`, and records what it got.
    async fn receiver(status: u16, delay: Duration) -> (Url, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/otp", listener.local_addr().unwrap())).unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let app = Router::new().route(
            "/otp",
            post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    let verdict = signed_body::verify(auth, &body, SECRET.as_bytes())
                        .map_err(|e| e.to_string())
                        .and_then(|_| serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string()));
                    log.lock().unwrap().push(verdict);
                    tokio::time::sleep(delay).await;
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (url, seen)
    }

    fn sender(url: Url, timeout: Duration) -> HookSms {
        let settings = HookSettings {
            url,
            secret: Secret::new(SECRET),
        };
        HookSms::new(&settings, crate::operators::http_client(timeout).unwrap())
    }

    fn to() -> E164 {
        normalise("+447700900123").unwrap()
    }

    #[tokio::test]
    async fn a_signed_post_that_the_receiver_verifies() {
        let (url, seen) = receiver(204, Duration::ZERO).await;
        let sent = sender(url, Duration::from_secs(5))
            .send(&to(), "Your code is 123456")
            .await
            .unwrap();
        assert_eq!(sent.sender, "hook");
        let id = sent.message_id.expect("the request's id");
        let seen = seen.lock().unwrap();
        let body = seen[0].as_ref().expect("a valid signature");
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["to"], "+447700900123");
        assert_eq!(body["text"], "Your code is 123456");
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    }

    #[tokio::test]
    async fn another_secret_fails_the_receivers_check() {
        let (url, seen) = receiver(200, Duration::ZERO).await;
        let settings = HookSettings {
            url,
            secret: Secret::new("another secret, another secret, 32+"),
        };
        let http = crate::operators::http_client(Duration::from_secs(5)).unwrap();
        HookSms::new(&settings, http).send(&to(), "x").await.unwrap();
        assert!(seen.lock().unwrap()[0].is_err());
    }

    #[tokio::test]
    async fn a_refusal_and_a_silence_are_failures() {
        let (url, _) = receiver(500, Duration::ZERO).await;
        assert_eq!(
            sender(url, Duration::from_secs(5)).send(&to(), "x").await.unwrap_err(),
            SmsFailure::Status {
                sender: "hook",
                status: 500
            }
        );
        let (url, _) = receiver(200, Duration::from_secs(3)).await;
        assert_eq!(
            sender(url, Duration::from_millis(300))
                .send(&to(), "x")
                .await
                .unwrap_err(),
            SmsFailure::Timeout { sender: "hook" }
        );
    }
}
