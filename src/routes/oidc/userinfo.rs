//! `GET`/`POST /userinfo` (OIDC Core 1.0 §5.3): the claims of an access token, given as
//! `Authorization: Bearer` (RFC 6750 §2.1).

use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
    Json,
};

use super::off;
use crate::{oidc::TokenError, state::AppState};

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(provider) = state.oidc.clone() else {
        return off();
    };
    let Some(token) = bearer(&headers) else {
        let e = TokenError::InvalidToken("Send the access token as Authorization: Bearer <token>.".into());
        e.log();
        return e.into_response();
    };
    match provider.userinfo(token).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            e.log();
            e.into_response()
        }
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
