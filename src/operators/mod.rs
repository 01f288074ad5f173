//! Operator clients: one per protocol, built once at start-up from typed configuration,
//! each owning its endpoints and read top to bottom like its sequence diagram. They speak
//! HTTP only — to a live operator or to the virtual operator alike. `sms` holds the
//! senders of one-time codes, which go through the same client.

pub mod app_jwt;
pub mod camara;
pub mod id_token;
pub mod jwks;
pub mod keys;
pub mod mobile_connect;
pub mod sms;
pub mod ts43;
pub mod vonage;

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

pub use camara::{CamaraClient, CamaraSettings};
pub use keys::SigningKey;
pub use mobile_connect::{MobileConnectClient, MobileConnectSettings};
pub use vonage::{VonageClient, VonageCredentials, VonageSettings};

use crate::{phone::E164, support::redacted::redacted_newtype};

/// Lowercase hex SHA-256 of the number in E.164 with its `+` (GSMA IDY.54; CAMARA v1+).
/// The raw user input is never hashed.
pub fn hash_number(number: &E164) -> String {
    crate::support::sha256_hex(number.as_str())
}

/// The body that names the number to an operator's `verify`: with `hashed`, only the
/// SHA-256 of "+E.164" leaves the server.
fn number_body(number: &E164, hashed: bool) -> serde_json::Value {
    if hashed {
        serde_json::json!({ "hashedPhoneNumber": hash_number(number) })
    } else {
        serde_json::json!({ "phoneNumber": number.as_str() })
    }
}

/// Every JWT the app mints for an operator (the Vonage application JWT, CAMARA client
/// assertions) has its `iat` this far in the past, so an operator whose clock is a little
/// behind ours does not refuse a token "issued in the future" (RFC 7519 §4.1.6 leaves the
/// check to the receiver; most allow no leeway at all).
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The app's one redirect URI, `{APP_PUBLIC_URL}/callback`, for every protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(Url);

impl RedirectUri {
    /// `{origin}/callback`; `None` when `origin` is not a URL.
    pub fn for_origin(origin: &str) -> Option<Self> {
        Url::parse(&format!("{}/callback", origin.trim_end_matches('/')))
            .ok()
            .map(Self)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

redacted_newtype!(
    /// The OAuth `code` the operator sends to `/callback`.
    AuthCode
);
redacted_newtype!(
    /// An operator access token.
    AccessToken
);
redacted_newtype!(
    /// The Vonage application JWT.
    AppJwt
);
redacted_newtype!(
    /// The OAuth `state`: ties the operator's callback to one verification. Whoever holds
    /// it can complete that verification, so it is kept out of logs.
    OAuthState
);
redacted_newtype!(
    /// The OpenID Connect `nonce` the id_token must echo.
    Nonce
);

impl OAuthState {
    pub fn random() -> Self {
        Self::new(crate::support::random_token())
    }
}

impl Nonce {
    pub fn random() -> Self {
        Self::new(crate::support::random_token())
    }
}

/// The one HTTP client every operator client shares: timeouts, no redirects, JSON asked
/// for on every request.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        // Shorter than any server's idle timeout (ours closes idle connections after
        // REQUEST_TIMEOUT_MS), so a pooled connection is never reused as it is closed.
        .pool_idle_timeout(Duration::from_secs(5))
        // Operator APIs answer directly; a redirect here would be a misconfiguration.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("number-verify/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `path` under `base`, whether or not `base` ends in a slash.
fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(&format!("{}/{path}", base.path().trim_end_matches('/')));
    url
}

/// What went wrong talking to an operator. `Display` is for logs: it never includes a
/// token, a code or a number, only statuses and short, operator-chosen error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorFailure {
    #[error("{step}: no answer within the timeout")]
    Timeout { step: &'static str },
    #[error("{step}: cannot reach the operator: {reason}")]
    Unreachable { step: &'static str, reason: String },
    #[error("{step}: HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        step: &'static str,
        status: u16,
        code: Option<String>,
    },
    #[error("{step}: malformed answer: {reason}")]
    Malformed { step: &'static str, reason: String },
    /// A well-formed answer we must not trust (an id_token that fails its checks) or a
    /// credential of ours that is no longer valid (an expired `VONAGE_JWT`).
    #[error("{step}: refused: {reason}")]
    Refused { step: &'static str, reason: String },
    /// CAMARA's 403 `NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK`: the
    /// operator did not recognise the SIM (Wi-Fi, or no network-based authentication).
    #[error("{step}: HTTP 403 (the user was not authenticated by the mobile network)")]
    NotOnMobileNetwork { step: &'static str },
}

/// Sends a request and decodes a JSON success body, classifying every failure.
async fn send_json<T: DeserializeOwned>(step: &'static str, request: RequestBuilder) -> Result<T, OperatorFailure> {
    let response = send(step, request).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(status_failure(step, status, response).await);
    }
    read_json(step, response).await
}

/// Sends one operator request, timed for the metrics (step and status, never the URL).
async fn send(step: &'static str, request: RequestBuilder) -> Result<Response, OperatorFailure> {
    let began = std::time::Instant::now();
    let sent = request.send().await.map_err(|e| classify(step, e));
    let status = match &sent {
        Ok(response) => Ok(response.status().as_u16()),
        Err(OperatorFailure::Timeout { .. }) => Err("timeout"),
        Err(_) => Err("unreachable"),
    };
    crate::metrics::observe_operator_call(step, status, began.elapsed());
    sent
}

/// The largest answer an operator may send (token, API and error answers, discovery
/// documents take a few kilobytes); a larger one is malformed. The JWKS has its own,
/// smaller cap ([`jwks::MAX_BYTES`]).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A success body as JSON, read through [`read_bounded`].
async fn read_json<T: DeserializeOwned>(step: &'static str, response: Response) -> Result<T, OperatorFailure> {
    let bytes = read_bounded(step, response, MAX_ANSWER_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| OperatorFailure::Malformed {
        step,
        reason: undecodable(&e),
    })
}

/// The one reader of every operator answer: at most `limit` bytes, refused as soon as the
/// declared length or the bytes received so far exceed it, so an operator (or whoever
/// answers in its place) cannot make the server hold a huge body in memory.
async fn read_bounded(step: &'static str, mut response: Response, limit: usize) -> Result<Vec<u8>, OperatorFailure> {
    let too_large = || OperatorFailure::Malformed {
        step,
        reason: format!("answer larger than {} KiB", limit / 1024),
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(step, e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a body does not decode, for the log: serde's class of error and where, never its
/// message, which quotes the offending value (a number, a token…).
fn undecodable(error: &serde_json::Error) -> String {
    let class = match error.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape (a missing field or a value of the wrong type)",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{class} at line {}, column {}", error.line(), error.column())
}

/// What a token endpoint answered: an access token, and an id_token if it sent one.
struct Tokens {
    access: AccessToken,
    id_token: Option<String>,
}

impl Tokens {
    /// The access token and the id_token an OpenID Connect flow must have.
    fn with_id_token(self, step: &'static str) -> Result<(AccessToken, String), OperatorFailure> {
        match self.id_token {
            Some(id_token) => Ok((self.access, id_token)),
            None => Err(OperatorFailure::Malformed {
                step,
                reason: "no id_token".into(),
            }),
        }
    }
}

/// Sends a token request (RFC 6749 §4.1.3); an answer without a non-empty
/// `access_token` is malformed.
async fn request_tokens(step: &'static str, request: RequestBuilder) -> Result<Tokens, OperatorFailure> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        access_token: String,
        #[serde(default)]
        id_token: Option<String>,
    }
    let token: TokenResponse = send_json(step, request).await?;
    if token.access_token.is_empty() {
        return Err(OperatorFailure::Malformed {
            step,
            reason: "empty access_token".into(),
        });
    }
    Ok(Tokens {
        access: AccessToken::new(token.access_token),
        id_token: token.id_token,
    })
}

async fn status_failure(step: &'static str, status: StatusCode, response: Response) -> OperatorFailure {
    // Keep only the operator's error code (OAuth `error`, CAMARA `code`), never the body.
    let body = read_bounded(step, response, MAX_ANSWER_BYTES).await.unwrap_or_default();
    let code = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| {
        v.get("error")
            .or_else(|| v.get("code"))
            .and_then(|c| c.as_str())
            .map(loggable_code)
    });
    OperatorFailure::Status {
        step,
        status: status.as_u16(),
        code,
    }
}

fn classify(step: &'static str, error: reqwest::Error) -> OperatorFailure {
    if error.is_timeout() {
        OperatorFailure::Timeout { step }
    } else if error.is_decode() || error.is_body() {
        OperatorFailure::Malformed {
            step,
            reason: short(&error.without_url().to_string()),
        }
    } else {
        // reqwest's Display includes the URL, never headers or bodies.
        OperatorFailure::Unreachable {
            step,
            reason: short(&error.without_url().to_string()),
        }
    }
}

fn short(text: &str) -> String {
    text.chars().take(120).collect()
}

/// An operator's error code as logs may carry it: the identifier it should be (OAuth
/// `error`, CAMARA `code`), or a placeholder when it is anything else — an operator could
/// put a phone number or a token there, and the code reaches a WARN line.
fn loggable_code(code: &str) -> String {
    let identifier = !code.is_empty()
        && code.len() <= 120
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'));
    let longest_digit_run = code
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if identifier && longest_digit_run < 5 {
        code.to_owned()
    } else {
        "(not an error code; withheld)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_error_codes_are_logged_only_when_they_look_like_codes() {
        for code in [
            "access_denied",
            "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
            "UNAUTHENTICATED",
            "invalid_grant",
        ] {
            assert_eq!(loggable_code(code), code);
        }
        for withheld in ["+99012345678", "99012345678", "eyJhbGciOi.x y", "tok 123", "", "a\nb"] {
            assert_eq!(loggable_code(withheld), "(not an error code; withheld)", "{withheld}");
        }
    }
    use crate::phone::normalise;

    #[test]
    fn hashes_the_e164_number_with_its_plus_gsma_vector() {
        let number = normalise("+44 123456789").unwrap();
        assert_eq!(
            hash_number(&number),
            "3d84a3838599719df7deacc7fb91903bde5430a8c0e007c3eba93bce0c69c5a2"
        );
    }

    #[test]
    fn endpoints_hang_off_the_base_with_or_without_a_slash() {
        for base in ["https://op.example/api", "https://op.example/api/"] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                endpoint(&base, "premiuminfo/v1/").as_str(),
                "https://op.example/api/premiuminfo/v1/"
            );
        }
        let origin = Url::parse("https://op.example").unwrap();
        assert_eq!(
            endpoint(&origin, "oauth2/token").as_str(),
            "https://op.example/oauth2/token"
        );
    }

    #[test]
    fn an_undecodable_body_is_described_without_its_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Share {
            #[serde(rename = "devicePhoneNumber")]
            number: String,
        }
        for (body, class) in [
            (r#"{"devicePhoneNumber": 99012345678}"#, "wrong shape"),
            (r#"{"devicePhoneNumber": "+99012345678""#, "truncated"),
            (r#"{"devicePhoneNumber": +99012345678}"#, "not JSON"),
        ] {
            let error = serde_json::from_str::<Share>(body).unwrap_err();
            let reason = undecodable(&error);
            assert!(reason.contains(class) && reason.contains("line 1, column"), "{reason}");
            assert!(!reason.contains("9901234567"), "{reason}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let token = AccessToken::new("tok-abcdef");
        assert_eq!(format!("{token:?}"), "AccessToken(…10 chars)");
        assert_eq!(token.secret(), "tok-abcdef");
        let state = OAuthState::random();
        assert!(!format!("{state:?}").contains(state.secret()));
    }
}
