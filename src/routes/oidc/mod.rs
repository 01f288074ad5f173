//! The OpenID Provider's endpoints. The hosted page (`GET /authorize`) is a page
//! (`pages::authorize`); these are the rest. Each answers 404 when the provider is off.

pub mod authorize;
pub mod discovery;
pub mod token;
pub mod userinfo;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// What every endpoint answers when the provider is off.
fn off() -> Response {
    (
        StatusCode::NOT_FOUND,
        "The OpenID Provider is off here: set OIDC_SIGNING_KEYS.",
    )
        .into_response()
}
