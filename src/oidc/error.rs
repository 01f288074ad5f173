//! The provider's errors, each knowing its wire code, message and status.
//!
//! - [`AuthorizeError`]: the authorization endpoint (RFC 6749 §4.1.2.1): an unknown
//!   client or an unregistered redirect URI is a 400 page and never a redirect (the
//!   redirect would go to an address nobody vouched for); everything else goes back to
//!   the relying party with `error`, `error_description`, `state` and `iss`.
//! - [`TokenError`]: the token and userinfo endpoints (RFC 6749 §5.2, RFC 6750 §3), JSON.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde_json::json;

use crate::verification::RpState;

/// Where an authorization error goes back to, once client and redirect URI are trusted.
#[derive(Debug, Clone)]
pub struct ReturnTo {
    pub redirect_uri: String,
    pub state: Option<RpState>,
    pub issuer: String,
}

impl ReturnTo {
    /// `redirect_uri` with `pairs`, `state` and `iss` (RFC 9207 §2) added to its query.
    pub fn url(&self, pairs: &[(&str, &str)]) -> String {
        let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
            // Registered URIs were checked at start-up; a demo loopback one when asked.
            return self.redirect_uri.clone();
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state.secret());
            }
            query.append_pair("iss", &self.issuer);
        }
        url.into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// No redirect: the person sees this on a 400 page.
    #[error("{0}")]
    Refused(String),
    /// Back to the relying party with an error code (RFC 6749 §4.1.2.1).
    #[error("{code}: {description}")]
    Redirect {
        to: Box<ReturnTo>,
        code: &'static str,
        description: String,
    },
}

impl AuthorizeError {
    pub fn redirect(to: &ReturnTo, code: &'static str, description: impl Into<String>) -> Self {
        AuthorizeError::Redirect {
            to: Box::new(to.clone()),
            code,
            description: description.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AuthorizeError::Refused(_) => "invalid_request",
            AuthorizeError::Redirect { code, .. } => code,
        }
    }

    /// The log line, once, where the error is answered.
    pub fn log(&self) {
        match self {
            AuthorizeError::Refused(reason) => tracing::info!(%reason, "authorization refused without redirect"),
            AuthorizeError::Redirect { code, description, .. } => {
                tracing::info!(error = code, %description, "authorization refused back to the relying party")
            }
        }
    }

    /// The address an error redirect goes to.
    pub fn location(&self) -> Option<String> {
        match self {
            AuthorizeError::Refused(_) => None,
            AuthorizeError::Redirect { to, code, description } => {
                Some(to.url(&[("error", code), ("error_description", description)]))
            }
        }
    }
}

/// The form post's answer: a 400 page, or See Other back to the relying party.
impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self.location() {
            Some(location) => Redirect::to(&location).into_response(),
            None => refusal_page(&self.to_string()),
        }
    }
}

/// The 400 page of a request that cannot go back to anyone.
pub fn refusal_page(reason: &str) -> Response {
    let escaped = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Number Verify</title></head>\
         <body><main class=\"page\"><h1>This sign-in link does not work</h1><p class=\"result error\">{escaped}</p>\
         <p>Go back to the app that sent you here and try again.</p></main></body></html>"
    );
    (
        StatusCode::BAD_REQUEST,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The token and userinfo endpoints' errors.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed (RFC 6749 §5.2: 401).
    #[error("{0}")]
    InvalidClient(String),
    /// The code is unknown, used, expired, another client's, or its redirect URI or PKCE
    /// verifier does not match.
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("Only grant_type=authorization_code is supported.")]
    UnsupportedGrantType,
    /// `/userinfo`: the bearer token is missing, expired, revoked or not ours (RFC 6750 §3).
    #[error("{0}")]
    InvalidToken(String),
    /// The store does not answer; the text is for logs only.
    #[error("The service is briefly unavailable. Please try again in a moment.")]
    Unavailable(String),
    /// Signing failed; the text is for logs only.
    #[error("The server could not issue the tokens.")]
    Server(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnauthorizedClient(_) => "unauthorized_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidToken(_) => "invalid_token",
            TokenError::Unavailable(_) => "temporarily_unavailable",
            TokenError::Server(_) => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::InvalidClient(_) | TokenError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            TokenError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            TokenError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn log(&self) {
        match self {
            TokenError::Unavailable(why) | TokenError::Server(why) => {
                tracing::warn!(error = self.code(), %why, "token request failed")
            }
            _ => tracing::info!(error = self.code(), reason = %self, "token request refused"),
        }
    }
}

impl From<crate::verification::store::StoreError> for TokenError {
    fn from(e: crate::verification::store::StoreError) -> Self {
        TokenError::Unavailable(e.to_string())
    }
}

/// RFC 6749 §5.2 JSON, never cached; a 401 says how to authenticate.
impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code(), "error_description": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            TokenError::InvalidClient(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"number-verify\""),
                );
            }
            TokenError::InvalidToken(_) => {
                // RFC 6750 §3.
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        response
    }
}
