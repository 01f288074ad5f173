//! The virtual operator's error answers. Each protocol answers errors in its own shape
//! (OAuth JSON, Vonage's RFC 7807 style, CAMARA JSON, an authorization's error redirect,
//! an HTML page, plain text); [`SandboxError`] knows which, so that handlers can use `?`.

use std::borrow::Cow;

use axum::{
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::respond::{escape_html, json as json_response, redirect_with};

/// `WWW-Authenticate` of a 401 whose client authenticates with HTTP Basic.
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"sandbox\"";
/// `WWW-Authenticate` of a 401 for a bad access token (RFC 6750 §3).
pub(crate) const BEARER_CHALLENGE: &str = "Bearer realm=\"sandbox\", error=\"invalid_token\"";

/// A refusal or failure of the virtual operator, and how its protocol says so.
#[derive(thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct SandboxError {
    status: StatusCode,
    /// OAuth `error`, CAMARA `code`, Vonage `title` or a page's title; empty for plain text.
    code: &'static str,
    message: Cow<'static, str>,
    shape: Shape,
    /// `WWW-Authenticate`, sent on a 401 only.
    challenge: Option<&'static str>,
}

enum Shape {
    /// RFC 6749 §5.2: `{error, error_description}`.
    OAuth,
    /// The TS.43 aggregator's refusal: `{error, error_description, fallback_options}`,
    /// the other ways the relying party may prove the number.
    Fallback(&'static [&'static str]),
    /// Vonage's RFC 7807 style: `{type, title, detail, instance}`.
    Vonage,
    /// CAMARA: `{status, code, message}`, echoing the request's `x-correlator`.
    Camara { correlator: Option<HeaderValue> },
    /// An authorization's error redirect (RFC 6749 §4.1.2.1):
    /// `?error=…&error_description=…&state=…`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
    },
    /// A short HTML page, for errors that must not redirect.
    Page,
    /// Plain text (the simulated device's form).
    Plain,
}

type Message = Cow<'static, str>;

impl SandboxError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<Message>, shape: Shape) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            shape,
            challenge: None,
        }
    }

    /// An OAuth 2.0 error; a 401 challenges with Bearer for `invalid_token`, else Basic.
    pub(crate) fn oauth(status: StatusCode, error: &'static str, description: impl Into<Message>) -> Self {
        let challenge = match error {
            "invalid_token" => BEARER_CHALLENGE,
            _ => BASIC_CHALLENGE,
        };
        Self::new(status, error, description, Shape::OAuth).with_challenge(challenge)
    }

    pub(crate) fn invalid_request(description: impl Into<Message>) -> Self {
        Self::oauth(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(crate) fn invalid_client(description: impl Into<Message>) -> Self {
        Self::oauth(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<Message>) -> Self {
        Self::oauth(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// An aggregator's refusal that names the relying party's other ways (no challenge).
    pub(crate) fn fallback(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Message>,
        options: &'static [&'static str],
    ) -> Self {
        Self::new(status, error, description, Shape::Fallback(options))
    }

    pub(crate) fn vonage(status: StatusCode, title: &'static str, detail: impl Into<Message>) -> Self {
        Self::new(status, title, detail, Shape::Vonage)
    }

    pub(crate) fn camara(status: StatusCode, code: &'static str, message: impl Into<Message>) -> Self {
        Self::new(status, code, message, Shape::Camara { correlator: None })
    }

    pub(crate) fn redirect(
        redirect_uri: &str,
        state: Option<String>,
        error: &'static str,
        description: impl Into<Message>,
    ) -> Self {
        let shape = Shape::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state,
        };
        Self::new(StatusCode::FOUND, error, description, shape)
    }

    pub(crate) fn page(status: StatusCode, title: &'static str, message: impl Into<Message>) -> Self {
        Self::new(status, title, message, Shape::Page)
    }

    pub(crate) fn plain(status: StatusCode, message: impl Into<Message>) -> Self {
        Self::new(status, "", message, Shape::Plain)
    }

    /// The `WWW-Authenticate` of this error, should it be a 401.
    pub(crate) fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// No `WWW-Authenticate`: `private_key_jwt` is no HTTP authentication scheme.
    pub(crate) fn without_challenge(mut self) -> Self {
        self.challenge = None;
        self
    }

    /// Echoes the request's `x-correlator` (CAMARA errors only).
    pub(crate) fn with_correlator(mut self, value: Option<HeaderValue>) -> Self {
        if let Shape::Camara { correlator } = &mut self.shape {
            *correlator = value;
        }
        self
    }

    fn log(&self) {
        let correlator = match &self.shape {
            Shape::Camara { correlator } => correlator.as_ref().and_then(|c| c.to_str().ok()),
            _ => None,
        };
        let (status, code, reason) = (self.status.as_u16(), self.code, &self.message);
        if self.status.is_server_error() {
            tracing::info!(target: "sandbox", status, code, %reason, x_correlator = correlator, "failed");
        } else {
            tracing::info!(target: "sandbox", status, code, %reason, x_correlator = correlator, "refused");
        }
    }
}

// Not derived: an error redirect holds the flow's `state`, which logs must not show.
impl std::fmt::Debug for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        self.log();
        let Self {
            status,
            code,
            message,
            shape,
            challenge,
        } = self;
        let mut res = match &shape {
            Shape::OAuth => json_response(status, json!({ "error": code, "error_description": message })),
            Shape::Fallback(options) => json_response(
                status,
                json!({ "error": code, "error_description": message, "fallback_options": options }),
            ),
            Shape::Vonage => vonage_body(status, code, &message),
            Shape::Camara { .. } => json_response(
                status,
                json!({ "status": status.as_u16(), "code": code, "message": message }),
            ),
            Shape::Redirect { redirect_uri, state } => {
                let mut params = vec![("error", code), ("error_description", &*message)];
                if let Some(state) = state {
                    params.push(("state", state));
                }
                redirect_with(redirect_uri, &params).unwrap_or_else(IntoResponse::into_response)
            }
            Shape::Page => html_page(status, code, &message),
            Shape::Plain => plain(status, &message),
        };
        if let (StatusCode::UNAUTHORIZED, Some(challenge)) = (status, challenge) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Shape::Camara {
            correlator: Some(correlator),
        } = shape
        {
            res.headers_mut()
                .insert(HeaderName::from_static("x-correlator"), correlator);
        }
        res
    }
}

fn vonage_body(status: StatusCode, title: &str, detail: &str) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::INTERNAL_SERVER_ERROR => "internal-error",
        _ => "bad-request",
    };
    json_response(
        status,
        json!({
            "type": format!("https://developer.vonage.com/api-errors#{kind}"),
            "title": title,
            "detail": detail,
            "instance": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

fn html_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · virtual operator</title></head>\
         <body><h1>{t}</h1><p>{m}</p><p>(Number Verify virtual operator — sandbox)</p></body></html>\n",
        t = escape_html(title),
        m = escape_html(message),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_existing_query() {
        let error = SandboxError::redirect("http://x.test/cb?a=1", Some("s 1".into()), "access_denied", "no SIM");
        let res = error.into_response();
        let loc = res.headers().get(header::LOCATION).unwrap().to_str().unwrap();
        assert_eq!(
            loc,
            "http://x.test/cb?a=1&error=access_denied&error_description=no+SIM&state=s+1"
        );
    }
}
