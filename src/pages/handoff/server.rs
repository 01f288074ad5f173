//! What the handoff asks the server: start one on the desktop, continue one on the
//! phone. Both are plain form posts that answer with a redirect, so they work the same
//! with JavaScript on and off; the bodies run on the server only, in [`ssr`].

use leptos::prelude::*;

/// Starts a handoff of `phone` from this (desktop) browser: to the page that shows its
/// QR code (`/?handoff=<id>`), or back to the page with the reason.
#[server(name = StartHandoff, prefix = "/api", endpoint = "handoff/start")]
pub async fn start_handoff(phone: String) -> Result<(), ServerFnError> {
    ssr::start(phone).await;
    Ok(())
}

/// The phone pressed Continue on the handoff link `h`: to its operator, or to why not.
#[server(name = ContinueHandoff, prefix = "/api", endpoint = "handoff/continue")]
pub async fn continue_handoff(h: String) -> Result<(), ServerFnError> {
    ssr::continue_on_phone(h).await;
    Ok(())
}

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::*;

    use crate::{
        pages::request::{ensure_session, request_client},
        state::AppState,
        verification::{HandoffProblem, HandoffRefusal, HandoffSecret, PageError, VerifyError},
    };

    pub async fn start(phone: String) {
        let state = expect_context::<AppState>();
        let (headers, client) = request_client(&state);
        let session = ensure_session(&state, &headers).await;
        match state.verifier.start_handoff(&phone, session, client).await {
            Ok(watch) => leptos_axum::redirect(&format!("/?handoff={}", watch.secret())),
            Err(e) => {
                e.log();
                leptos_axum::redirect(&format!("/?error={}", PageError::of_start(&e).code()));
            }
        }
    }

    pub async fn continue_on_phone(h: String) {
        let state = expect_context::<AppState>();
        let (headers, client) = request_client(&state);
        let session = ensure_session(&state, &headers).await;
        let Some(secret) = HandoffSecret::parse(&h) else {
            tracing::info!("handoff continue with a malformed link");
            return leptos_axum::redirect(&problem_page(HandoffProblem::Unknown));
        };
        // The phone runs what the page runs first.
        let operator = match state.verifier.protocols().first() {
            Some(&protocol) => state.verifier.operator_for(protocol),
            None => Err(VerifyError::ProtocolUnavailable),
        };
        let started = match operator {
            Ok(operator) => {
                state
                    .verifier
                    .continue_handoff(&secret, session, operator, client)
                    .await
            }
            Err(e) => Err(HandoffRefusal::Verify(e)),
        };
        match started {
            Ok(started) => leptos_axum::redirect(&started.url),
            Err(refusal) => {
                refusal.log();
                let to = match refusal {
                    HandoffRefusal::Problem(problem) => problem_page(problem),
                    HandoffRefusal::Verify(e) => format!("/?error={}", PageError::of_start(&e).code()),
                };
                leptos_axum::redirect(&to);
            }
        }
    }

    /// The phone's page saying why its link verifies nothing (no secret in the address).
    fn problem_page(problem: HandoffProblem) -> String {
        format!("/handoff?error={}", PageError::Handoff(problem).code())
    }
}
