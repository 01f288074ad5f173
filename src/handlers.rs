//! The app's HTTP surface besides the page: `/callback`, the mobile-app API (`/login`),
//! and the server side of the page's server functions. Thin: parse, call
//! `verification`, map the result.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension, Json,
};
use http::request::Parts;
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::{
    api::{Outcome, PageContext, SimulatedDevice, Started, Verdict},
    phone::normalise,
    protocol::Protocol,
    server::AppState,
    verification::{
        store::{TtlStore, WhenFull},
        CallbackParams, Origin, StateProblem, VerifyError, PENDING_TTL,
    },
};

/// The HttpOnly cookie that binds a browser to the verifications it started.
pub const SESSION_COOKIE: &str = "nv_session";
/// Results kept for the page, by random id, for the browser that started them.
pub type OutcomeStore = TtlStore<String, (String, Outcome)>;
pub const OUTCOME_CAP: usize = 10_000;

pub fn new_outcome_store() -> Arc<OutcomeStore> {
    Arc::new(TtlStore::new(PENDING_TTL, OUTCOME_CAP))
}

/// The page's prefix for every failure (SPEC §3).
pub const ERROR_PREFIX: &str = "Error validating phone number.";

// ---------------------------------------------------------------- the page

pub async fn start_from_page(phone: String, protocol: Option<String>) -> Started {
    let state = expect_context::<AppState>();
    let headers = request_headers();
    let client = use_context::<Parts>().and_then(|p| client_ip(&state, &p.headers, &p.extensions));
    let session = ensure_session(&state, &headers);
    let plain_form = accepts_html(&headers);

    let protocol = match protocol.as_deref().filter(|p| !p.is_empty()) {
        None => state.verifier.protocols().first().copied(),
        Some(p) => Protocol::parse(p),
    };
    let result = match protocol {
        Some(protocol) => {
            state
                .verifier
                .start(
                    &phone,
                    protocol,
                    Origin::Browser {
                        session: session.clone(),
                    },
                    client,
                )
                .await
        }
        None => Err(VerifyError::ProtocolUnavailable),
    };
    let started = match result {
        Ok(started) => Started::GoTo(started.url),
        Err(e) => {
            e.log();
            Started::Refused(format!("{ERROR_PREFIX} {e}"))
        }
    };

    if plain_form {
        // No JavaScript: answer the form post with a redirect.
        let target = match &started {
            Started::GoTo(url) => url.clone(),
            Started::Refused(message) => {
                let outcome = Outcome {
                    number: None,
                    verdict: Verdict::Error(message.clone()),
                };
                format!("/?result={}", store_outcome(&state, &session, outcome))
            }
        };
        leptos_axum::redirect(&target);
    }
    started
}

pub async fn outcome_for_page(result: Option<String>, error: Option<String>) -> Option<Outcome> {
    if let Some(text) = error.as_deref().and_then(page_error_text) {
        return Some(Outcome {
            number: None,
            verdict: Verdict::Error(text),
        });
    }
    let id = result?;
    let state = expect_context::<AppState>();
    let headers = request_headers();
    // Only the browser that started a verification sees its result.
    let found = cookie(&headers, SESSION_COOKIE)
        .and_then(|session| state.outcomes.get(&id).filter(|(owner, _)| *owner == session))
        .map(|(_, outcome)| outcome);
    Some(found.unwrap_or_else(|| {
        tracing::info!("result page for an unknown or expired result");
        Outcome {
            number: None,
            verdict: Verdict::Error(format!(
                "{ERROR_PREFIX} This result has expired or belongs to another browser. Please verify again."
            )),
        }
    }))
}

pub async fn page_context() -> PageContext {
    let state = expect_context::<AppState>();
    let headers = request_headers();
    let sandbox = state.config.sandbox.then(|| SimulatedDevice {
        chosen_sim: cookie(&headers, "sandbox_sim")
            .and_then(|v| normalise(&percent_decode(&v)).ok())
            .map(String::from),
        default_sim: state.config.sandbox_default_sim.as_str().to_owned(),
        wifi: cookie(&headers, "sandbox_network").is_some_and(|v| v.eq_ignore_ascii_case("wifi")),
    });
    PageContext {
        protocols: state.verifier.protocols(),
        sandbox,
    }
}

/// The headers of the request a server function is answering (leptos_axum provides them).
fn request_headers() -> HeaderMap {
    use_context::<Parts>().map(|p| p.headers).unwrap_or_default()
}

fn store_outcome(state: &AppState, session: &str, outcome: Outcome) -> String {
    let id = crate::verification::random_token();
    // A full store drops its oldest result rather than this fresh one.
    let _ = state
        .outcomes
        .insert(id.clone(), (session.to_owned(), outcome), WhenFull::EvictOldest);
    id
}

/// The browser's session id, set as a cookie on this response if it had none.
fn ensure_session(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(existing) = cookie(headers, SESSION_COOKIE).filter(|v| v.len() == 32) {
        return existing;
    }
    let session = crate::verification::random_token();
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax{secure}");
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&value),
    ) {
        response.append_header(header::SET_COOKIE, value);
    }
    session
}

// ---------------------------------------------------------------- /callback

/// The one redirect URI of both protocols.
pub async fn callback(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    // Unparseable queries are treated as carrying no state: there is no record to ask.
    let params: CallbackParams = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let browser_session = cookie(&headers, SESSION_COOKIE);
    let completed = state.verifier.complete(params, browser_session.as_deref()).await;
    if let Err(e) = &completed.result {
        if completed.origin.is_none() {
            e.log();
        }
    }

    match (completed.origin, completed.result) {
        (Some(Origin::Api), Ok(verified)) => Json(json!({ "devicePhoneNumberVerified": verified })).into_response(),
        (Some(Origin::Api), Err(e)) => api_error(&e),
        (Some(Origin::Browser { session }), result) => {
            if browser_session.as_deref() != Some(session.as_str()) {
                // Started elsewhere: this browser gets no record of it.
                return Redirect::to("/?error=other_browser").into_response();
            }
            let verdict = match result {
                Ok(true) => Verdict::Verified,
                Ok(false) => Verdict::Invalid,
                Err(e) => Verdict::Error(format!("{ERROR_PREFIX} {e}")),
            };
            let outcome = Outcome {
                number: completed.number.map(String::from),
                verdict,
            };
            // See Other: reloading the result never replays the callback.
            Redirect::to(&format!("/?result={}", store_outcome(&state, &session, outcome))).into_response()
        }
        (None, Err(e)) if accepts_html(&headers) => {
            let code = match e {
                VerifyError::InvalidState(StateProblem::Expired) => "expired",
                VerifyError::InvalidState(StateProblem::Replayed) => "replayed",
                VerifyError::InvalidState(StateProblem::Missing) => "no_state",
                _ => "unknown_state",
            };
            Redirect::to(&format!("/?error={code}")).into_response()
        }
        (None, Err(e)) => api_error(&e),
        (None, Ok(_)) => api_error(&VerifyError::InvalidState(StateProblem::Unknown)),
    }
}

/// The page's text for a `/?error=` code: fixed texts only, so a crafted link cannot
/// put words on the page.
pub fn page_error_text(code: &str) -> Option<String> {
    let problem = match code {
        "expired" => VerifyError::InvalidState(StateProblem::Expired),
        "replayed" => VerifyError::InvalidState(StateProblem::Replayed),
        "no_state" => VerifyError::InvalidState(StateProblem::Missing),
        "unknown_state" => VerifyError::InvalidState(StateProblem::Unknown),
        "other_browser" => VerifyError::OtherBrowser,
        _ => return None,
    };
    Some(format!("{ERROR_PREFIX} {problem}"))
}

// ---------------------------------------------------------------- /login

#[derive(Debug, Default, Deserialize)]
struct LoginRequest {
    phone: Option<String>,
    protocol: Option<String>,
}

/// `POST /login` — the mobile-app API: `{"phone": "+99012345678"}` → `{"url": …}`.
/// Also takes the same fields form-encoded, as the tutorial's Android app posts them.
pub async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let client = client_address(&state, &headers, connection.map(|Extension(ConnectInfo(peer))| peer));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Result<LoginRequest, String> = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let request = match parsed {
        Ok(r) => r,
        Err(reason) => {
            tracing::info!(%reason, "login: unreadable body");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_phone",
                "Send JSON like {\"phone\": \"+99012345678\"} (or the same field form-encoded).",
            );
        }
    };
    let protocol = match request.protocol.as_deref() {
        None | Some("") => Protocol::Camara,
        Some(p) => match Protocol::parse(p) {
            Some(p) => p,
            None => {
                tracing::info!("login: unknown protocol");
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_protocol",
                    "protocol must be \"camara\" or \"mobile-connect\".",
                );
            }
        },
    };
    match state
        .verifier
        .start(request.phone.as_deref().unwrap_or(""), protocol, Origin::Api, client)
        .await
    {
        Ok(started) => Json(json!({ "url": started.url })).into_response(),
        Err(e) => {
            e.log();
            api_error(&e)
        }
    }
}

// ---------------------------------------------------------------- helpers

pub fn api_error(error: &VerifyError) -> Response {
    json_error(error.status(), error.code(), &error.to_string())
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// The client's IP address, for the rate limit: the TCP peer, or behind a trusted
/// reverse proxy (`TRUST_PROXY`) the address it appended to `X-Forwarded-For`.
fn client_address(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if state.config.trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|p| p.ip())
}

fn client_ip(state: &AppState, headers: &HeaderMap, extensions: &http::Extensions) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    client_address(state, headers, peer)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// Cookie values carry E.164's `+` as `%2B`; nothing else in them is encoded.
fn percent_decode(value: &str) -> String {
    value.replace("%2B", "+").replace("%2b", "+")
}
