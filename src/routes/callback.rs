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
    verification::{
        callback_query, reason::Reason, Answer, Completion, Fallback, PageError, StateProblem, VerifyError,
    },
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
    answer(&state, &headers, completion, sandbox, Proof::NetworkRedirect).await
}

/// How a finished verification answers whoever started it — the same whichever channel
/// proved it (`proof`): JSON for the API, a code for a relying party, the result page
/// for a browser, the desktop's verdict for a handoff.
pub(crate) async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    completion: Completion,
    sandbox: bool,
    proof: Proof,
) -> Response {
    match completion {
        Completion::Api {
            result: Ok(answer),
            asked,
            correlator,
            audience,
            ..
        } => {
            let (mut body, verdict) = match (&answer, asked) {
                (Answer::Verified(verified), asked) => (
                    json!({ "devicePhoneNumberVerified": verified, "sandbox": sandbox }),
                    asked.map(|number| verdict(number, *verified, &correlator, proof)),
                ),
                (Answer::Shared(number), _) => (
                    json!({ "devicePhoneNumber": number.as_str(), "sandbox": sandbox }),
                    Some(verdict(number.clone(), true, &correlator, proof)),
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
        Completion::Api {
            result: Err(e),
            fallback,
            ..
        } => api_error(&e, sandbox, fallback.as_ref()),
        // The network could not answer, and the relying party accepts a code: the code
        // view offers it (and a way back to the relying party).
        // (The failure was logged where it happened, in the verifier.)
        Completion::RelyingParty {
            result: Err(_),
            fallback: Some(fallback),
            ..
        } => Redirect::to(&format!("/?sms={}", fallback.ticket)).into_response(),
        Completion::RelyingParty {
            request,
            result,
            asked,
            correlator,
            ..
        } => {
            let Some(provider) = &state.oidc else {
                tracing::warn!("a relying party's flow completed where the OpenID Provider is off");
                return page_error(PageError::State(StateProblem::Unknown));
            };
            let found = match (result, asked) {
                (Ok(Answer::Verified(verified)), Some(number)) => Ok(verdict(number, verified, &correlator, proof)),
                (Ok(Answer::Shared(number)), _) => Ok(verdict(number, true, &correlator, proof)),
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
            fallback,
        } => {
            let reason = result.as_ref().err().and_then(Reason::of).map(|r| r.code().to_owned());
            let verdict = match result {
                Ok(true) => Verdict::Verified,
                Ok(false) => Verdict::Invalid,
                Err(e) => Verdict::error(e),
            };
            let outcome = Outcome {
                number: Some(number),
                verdict,
                sandbox,
                proof,
                fallback: fallback.map(|f| f.ticket),
                reason,
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
            let reason = result.as_ref().err().and_then(Reason::of).map(|r| r.code().to_owned());
            let verdict = match result {
                Ok(true) => Verdict::Verified,
                Ok(false) => Verdict::Invalid,
                Err(e) => Verdict::error(e),
            };
            let outcome = Outcome {
                number: Some(number),
                verdict,
                sandbox,
                proof,
                fallback: None,
                reason,
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
        Completion::Unusable(error) if accepts_html(headers) => page_error(error),
        Completion::Unusable(error) => VerifyError::from(error).into_response(),
    }
}

/// What a finished verification proved, as the signed tokens carry it.
fn verdict(phone_number: E164, verified: bool, correlator: &Correlator, proof: Proof) -> Proved {
    Proved {
        phone_number,
        verified,
        txn: correlator.secret().to_owned(),
        auth_time: unix_now(),
        proof,
    }
}

/// The API's error shape (`error`, `message`), with the failure's stable `reason` when
/// it has one, the one-time code it may still be answered by (`fallback`), and marked
/// when the virtual operator's refusals and faults are simulated.
pub(crate) fn api_error(error: &VerifyError, sandbox: bool, fallback: Option<&Fallback>) -> Response {
    let mut body = json!({ "error": error.code(), "message": error.to_string() });
    if let Some(reason) = Reason::of(error) {
        body["reason"] = json!(reason.code());
    }
    if let Some(fallback) = fallback {
        body["fallback"] = json!({
            "channel": "sms",
            "ticket": fallback.ticket,
            "send": "/code/send",
            "check": "/code/check",
        });
    }
    if sandbox {
        body["sandbox"] = json!(true);
    }
    (error.status(), Json(body)).into_response()
}

/// Back to the page with one of its fixed error codes.
fn page_error(error: PageError) -> Response {
    Redirect::to(&format!("/?error={}", error.code())).into_response()
}
