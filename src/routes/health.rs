//! `GET /healthz`: whether this instance can keep a person's flow.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

use crate::state::AppState;

/// `200 ok`: what the virtual operator alone answers, and the app while its store does.
pub async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

/// `/healthz` of the app: `200 ok` while its store answers, else `503 store unavailable`,
/// so a load balancer stops sending people to an instance that cannot keep their flow.
/// The driver's words (addresses, versions, what failed) go to the log only: the health
/// check is public.
pub async fn app_health(State(state): State<AppState>) -> Response {
    match state.verifier.health().await {
        Ok(()) => healthz().await.into_response(),
        Err(e) => {
            tracing::warn!(reason = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                "store unavailable\n",
            )
                .into_response()
        }
    }
}
