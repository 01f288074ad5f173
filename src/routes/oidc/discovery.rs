//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4, RFC 8414 §3) and
//! `GET /.well-known/jwks.json`: public, cacheable for a while, readable from any origin.

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};

use super::off;
use crate::state::AppState;

/// Public documents: any origin may read them (a single-page relying party does), and
/// caches may keep them a few minutes, short enough for a key rotation to show.
fn public(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    match &state.oidc {
        Some(provider) => public(Json(provider.discovery())),
        None => off(),
    }
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    match &state.oidc {
        Some(provider) => public(Json(provider.jwks())),
        None => off(),
    }
}
