//! `POST /code/send` and `POST /code/check` — the one-time code, the last channel of a
//! verification whose network check failed for a reason a code can help with. The ticket
//! comes from that failure: the JSON API's `/callback` error (`fallback.ticket`), or the
//! page's result (a form with the ticket in it).
//!
//! Two shapes, by `Content-Type`:
//! - `application/json` (the mobile-app API): `{"ticket"}` → `{"sent": true, …}`;
//!   `{"ticket", "code"}` → the callback's JSON, verified by code (`amr: ["sms"]` in the
//!   verification token). Refusals are `{"error", "message"}` with their status.
//! - a form (the page, with or without JavaScript): answered with a redirect to the
//!   page's code view (`/?sms=<ticket>`, a refusal as `&note=<code>`), or once verified,
//!   to the result, as a callback would.
//!
//! `POST /code/cancel` gives up: back to the relying party that started it, if one did.
//!
//! Never from another site's page: a browser marked cross-site, or an `Origin` that is
//! not the app's, is refused before anything is read (each send costs an SMS).

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde_json::json;

use crate::{
    http::json_error,
    outcome::Proof,
    state::AppState,
    support::is_token_shaped,
    verification::{CodeRefusal, CodeSent},
};

/// What a request asked, whichever shape it came in.
struct Asked {
    ticket: String,
    code: Option<String>,
    /// A page's form (answered with redirects), or the API's JSON.
    form: bool,
}

pub async fn send(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let asked = match read(&state, &headers, &body) {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let reader = state.sessions.read(&headers).await;
    let sent = state.verifier.send_code(&asked.ticket, reader.as_ref()).await;
    match (sent, asked.form) {
        (Ok(_), true) => to_code_view(&asked.ticket, None),
        (Ok(sent), false) => Json(sent_json(&sent)).into_response(),
        (Err(refusal), true) => to_code_view(&asked.ticket, Some(&refusal)),
        (Err(refusal), false) => refusal_json(&refusal),
    }
}

pub async fn check(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let asked = match read(&state, &headers, &body) {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let reader = state.sessions.read(&headers).await;
    let typed = asked.code.as_deref().unwrap_or("");
    match state.verifier.check_code(&asked.ticket, typed, reader.as_ref()).await {
        Ok((completion, sandbox)) => {
            super::callback::answer(&state, &headers, completion, sandbox, Proof::SmsCode).await
        }
        Err(refusal) if asked.form => to_code_view(&asked.ticket, Some(&refusal)),
        Err(refusal) => refusal_json(&refusal),
    }
}

/// The person gives up on the code: a relying party's verification goes back to it with
/// `access_denied` (RFC 6749 §4.1.2.1); the page's starts again; the API's is told so.
pub async fn cancel(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let asked = match read(&state, &headers, &body) {
        Ok(asked) => asked,
        Err(refused) => return refused,
    };
    let reader = state.sessions.read(&headers).await;
    match state.verifier.cancel_code(&asked.ticket, reader.as_ref()).await {
        Ok(Some(request)) => match &state.oidc {
            Some(provider) => provider.declined(&request).into_response(),
            None => Redirect::to("/").into_response(),
        },
        Ok(None) if asked.form => Redirect::to("/").into_response(),
        Ok(None) => Json(json!({ "cancelled": true })).into_response(),
        Err(refusal) if asked.form => to_code_view(&asked.ticket, Some(&refusal)),
        Err(refusal) => refusal_json(&refusal),
    }
}

/// The request's ticket (and code), or the refusal of a request that is not one.
#[allow(clippy::result_large_err)]
fn read(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Asked, Response> {
    if let Some(reason) = super::login::cross_site(&state.config.public_url, headers) {
        tracing::warn!(reason, "cross-site one-time-code request refused");
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "cross_site",
            "This request came from another site and was refused.",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (ticket, code, form) = if content_type.starts_with("application/json") {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| json_error(StatusCode::BAD_REQUEST, "invalid_json", "The body is not JSON."))?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        (field("ticket"), field("code"), false)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let (mut ticket, mut code) = (None, None);
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "ticket" if ticket.is_none() => ticket = Some(value.into_owned()),
                "code" if code.is_none() => code = Some(value.into_owned()),
                _ => {}
            }
        }
        (ticket, code, true)
    } else {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send JSON (application/json) or a form.",
        ));
    };
    // A ticket is a random token: anything else names none, and never reaches the store.
    let Some(ticket) = ticket.filter(|t| is_token_shaped(t)) else {
        let refusal = CodeRefusal::UnknownTicket;
        tracing::info!(code = refusal.code(), "one-time-code request without a usable ticket");
        return Err(if form {
            Redirect::to("/?error=unknown_state").into_response()
        } else {
            refusal_json(&refusal)
        });
    };
    Ok(Asked { ticket, code, form })
}

fn to_code_view(ticket: &str, refusal: Option<&CodeRefusal>) -> Response {
    let note = match refusal {
        None => String::new(),
        Some(CodeRefusal::WrongCode(left)) => format!("&note=wrong_code&left={left}"),
        Some(refusal) => format!("&note={}", refusal.code()),
    };
    // See Other: a reload shows the view, it never sends or checks again.
    Redirect::to(&format!("/?sms={ticket}{note}")).into_response()
}

fn sent_json(sent: &CodeSent) -> serde_json::Value {
    json!({
        "sent": true,
        "to": sent.to,
        "expires_in": sent.expires_in.as_secs(),
        "resend_after": sent.resend_after.as_secs(),
        "resends_left": sent.resends_left,
    })
}

fn refusal_json(refusal: &CodeRefusal) -> Response {
    let mut body = json!({ "error": refusal.code(), "message": refusal.to_string() });
    match refusal {
        CodeRefusal::WrongCode(left) => body["attempts_left"] = json!(left),
        CodeRefusal::TooSoon(wait) => body["retry_after"] = json!(wait),
        _ => {}
    }
    let mut response = (refusal.status(), Json(body)).into_response();
    if let CodeRefusal::TooSoon(wait) = refusal {
        if let Ok(value) = wait.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}
