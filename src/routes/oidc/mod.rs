//! The OpenID Provider's endpoints. The hosted page (`GET /authorize`) is a page
//! (`pages::authorize`); these are the rest. Each answers 404 when the provider is off.

pub mod authorize;
pub mod discovery;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{oidc::Provider, state::AppState};

/// The provider, or the 404 every endpoint answers when it is off.
fn provider(state: &AppState) -> Result<Arc<Provider>, Response> {
    state.oidc.clone().ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            "The OpenID Provider is off here: set OIDC_SIGNING_KEYS.",
        )
            .into_response()
    })
}
