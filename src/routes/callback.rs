//! `GET /callback` — the one redirect URI of both protocols. The verifier decides who
//! may see what; this maps its [`Completion`] onto HTTP: JSON for the mobile-app API, a
//! redirect to the result page for the browser that started the verification.
//!
//! A result the virtual operator gave is marked as a test result — `"sandbox": true` in
//! the JSON, a note on the page — by how the configuration backs the operator that ran
//! the flow ([`crate::verification::Verifier::sandbox_backed`]), never by anything the
//! request carries.

use axum::{
    extract::{RawQuery, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde_json::json;

use crate::{
    http::accepts_html,
    operators::camara::Correlator,
    outcome::{Outcome, Proof, Verdict},
    phone::E164,
    state::AppState,
    support::unix_now,
    tokens::Verdict as Proved,
    verification::{callback_query, Answer, Completion, PageError, StateProblem, VerifyError},
};

pub async fn callback(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    // A query no operator sends is not trusted at all: no record is asked or consumed.
    let params = match callback_query::parse(query.as_deref().unwrap_or("")) {
        Ok(params) => params,
        Err(problem) => {
            tracing::info!(%problem, "callback refused: malformed query");
            let error = PageError::State(StateProblem::Malformed);
            return if accepts_html(&headers) {
                page_error(error)
            } else {
                VerifyError::from(error).into_response()
            };
        }
    };
    tracing::info!(
        has_code = params.code.is_some(),
        has_error = params.error.is_some(),
        "callback received"
    );
    let browser = state.sessions.read(&headers).await;
    let (operator, completion) = state.verifier.complete_with_operator(params, browser.as_ref()).await;
    let sandbox = operator.is_some_and(|o| state.verifier.sandbox_backed(o));
    match completion {
        Completion::Api {
            result: Ok(answer),
            asked,
            correlator,
            audience,
        } => {
            let (mut body, verdict) = match (&answer, asked) {
                (Answer::Verified(verified), asked) => (
                    json!({ "devicePhoneNumberVerified": verified, "sandbox": sandbox }),
                    asked.map(|number| verdict(number, *verified, &correlator)),
                ),
                (Answer::Shared(number), _) => (
                    json!({ "devicePhoneNumber": number.as_str(), "sandbox": sandbox }),
                    Some(verdict(number.clone(), true, &correlator)),
                ),
            };
            // The signed verdict the app forwards to its backend; the fields above are
            // unchanged, so the tutorial's client reads them as before.
            if let (Some(provider), Some(verdict)) = (&state.oidc, verdict) {
                match provider.verification_token(audience.as_deref(), &verdict) {
                    Ok(token) => body["verification_token"] = json!(token),
                    Err(e) => tracing::warn!(error = %e, "verification token not signed"),
                }
            }
            Json(body).into_response()
        }
        Completion::Api { result: Err(e), .. } if sandbox => sandbox_api_error(&e),
        Completion::Api { result: Err(e), .. } => e.into_response(),
        Completion::RelyingParty {
            request,
            result,
            asked,
            correlator,
        } => {
            let Some(provider) = &state.oidc else {
                tracing::warn!("a relying party's flow completed where the OpenID Provider is off");
                return page_error(PageError::State(StateProblem::Unknown));
            };
            let found = match (result, asked) {
                (Ok(Answer::Verified(verified)), Some(number)) => Ok(verdict(number, verified, &correlator)),
                (Ok(Answer::Shared(number)), _) => Ok(verdict(number, true, &correlator)),
                (Ok(Answer::Verified(_)), None) => Err(VerifyError::InvalidState(StateProblem::Unknown)),
                (Err(e), _) => Err(e),
            };
            // RFC 6749 §4.1.2: back to the relying party with a code, or §4.1.2.1 an error.
            let answer = match found {
                Ok(verdict) => provider.issue_code(request, verdict).await,
                Err(e) => Err(provider.failure(&request, &e)),
            };
            match answer {
                Ok(location) => Redirect::to(&location).into_response(),
                Err(e) => {
                    e.log();
                    e.into_response()
                }
            }
        }
        Completion::Browser {
            session,
            number,
            result,
        } => {
            let verdict = match result {
                Ok(true) => Verdict::Verified,
                Ok(false) => Verdict::Invalid,
                Err(e) => Verdict::error(e),
            };
            let outcome = Outcome {
                number: Some(number),
                verdict,
                sandbox,
                proof: Proof::NetworkRedirect,
            };
            match state.verifier.keep_result(&session, outcome).await {
                // See Other: reloading the result never replays the callback.
                Ok(id) => Redirect::to(&format!("/?result={}", id.secret())).into_response(),
                Err(e) => {
                    e.log();
                    page_error(PageError::StoreUnavailable)
                }
            }
        }
        Completion::Handoff { watch, number, result } => {
            let verdict = match result {
                Ok(true) => Verdict::Verified,
                Ok(false) => Verdict::Invalid,
                Err(e) => Verdict::error(e),
            };
            let outcome = Outcome {
                number: Some(number),
                verdict,
                sandbox,
                proof: Proof::NetworkRedirect,
            };
            // The verdict is the desktop's; the phone only learns that it is done.
            match state.verifier.finish_handoff(&watch, outcome).await {
                Ok(()) => Redirect::to("/handoff?done").into_response(),
                Err(e) => {
                    e.log();
                    page_error(PageError::StoreUnavailable)
                }
            }
        }
        // A page flow's callback reached the wrong browser: it is a browser, whatever it accepts.
        Completion::Unusable(error @ PageError::State(StateProblem::OtherBrowser)) => page_error(error),
        Completion::Unusable(error) if accepts_html(&headers) => page_error(error),
        Completion::Unusable(error) => VerifyError::from(error).into_response(),
    }
}

/// What a finished verification proved, as the signed tokens carry it.
fn verdict(phone_number: E164, verified: bool, correlator: &Correlator) -> Proved {
    Proved {
        phone_number,
        verified,
        txn: correlator.secret().to_owned(),
        auth_time: unix_now(),
        proof: Proof::NetworkRedirect,
    }
}

/// The API's error shape, marked: the virtual operator's refusals and faults are
/// simulated too. (A live operator's errors keep the documented two-field shape.)
fn sandbox_api_error(error: &VerifyError) -> Response {
    let body = json!({ "error": error.code(), "message": error.to_string(), "sandbox": true });
    (error.status(), Json(body)).into_response()
}

/// Back to the page with one of its fixed error codes.
fn page_error(error: PageError) -> Response {
    Redirect::to(&format!("/?error={}", error.code())).into_response()
}
