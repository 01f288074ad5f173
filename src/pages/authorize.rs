//! The hosted page of the OpenID Provider (`GET /authorize`): a relying party sent the
//! person here to have a number confirmed. Plain HTML forms, so it works the same with
//! JavaScript on and off; they post to `POST /authorize` (`routes::oidc::authorize`),
//! which runs the operator's check exactly as the page does.
//!
//! A request that cannot go back to anyone (unknown client, unregistered redirect URI)
//! is a 400 page; any other bad request goes back to the relying party with its error
//! (RFC 6749 §4.1.2.1), before anything is shown.

use leptos::prelude::*;

use crate::{
    components::{phone_field::PhoneField, protocol_choice::ProtocolChoice},
    oidc::request,
    protocol::Protocol,
    state::AppState,
};

/// `?nv_error=` after a refused start: the page's own fixed texts (a crafted link can
/// choose only among them).
pub const RETRY_ERROR: &str = "nv_error";

fn retry_message(code: &str) -> Option<&'static str> {
    match code {
        "invalid_phone" => {
            Some("That does not look like a phone number. Type it with its country code, like +44 7700 900123.")
        }
        "rate_limited" => Some("Too many verifications at once. Please wait a minute and try again."),
        "unavailable" => Some("That verification method is not available here."),
        _ => None,
    }
}

#[component]
pub fn AuthorizePage() -> impl IntoView {
    let state = use_context::<AppState>();
    let parts = use_context::<axum::http::request::Parts>();
    let response = use_context::<leptos_axum::ResponseOptions>();
    let set_status = |status: axum::http::StatusCode| {
        if let Some(response) = &response {
            response.set_status(status);
        }
    };
    let (Some(state), Some(parts)) = (state, parts) else {
        return view! { <p>"Page not found."</p> }.into_any();
    };
    let Some(provider) = state.oidc.clone() else {
        set_status(axum::http::StatusCode::NOT_FOUND);
        return view! { <p>"Page not found."</p> }.into_any();
    };
    let pairs = request::pairs(parts.uri.query().unwrap_or(""));
    let authorization = match provider.authorization(&pairs) {
        Ok(authorization) => authorization,
        Err(e) => {
            e.log();
            return match e.location() {
                Some(location) => {
                    // Always a redirect, whatever the client accepts: the relying party's
                    // error goes back to it (leptos_axum::redirect would answer 200 to a
                    // client that does not ask for HTML).
                    if let (Some(response), Ok(value)) = (&response, axum::http::HeaderValue::from_str(&location)) {
                        response.insert_header(axum::http::header::LOCATION, value);
                    }
                    set_status(axum::http::StatusCode::FOUND);
                    view! { <p>"Returning to the app…"</p> }.into_any()
                }
                None => {
                    set_status(axum::http::StatusCode::BAD_REQUEST);
                    view! {
                        <h1>"This sign-in link does not work"</h1>
                        <section class="card">
                            <p class="result error" role="alert">{e.to_string()}</p>
                            <p>"Go back to the app that sent you here and try again."</p>
                        </section>
                    }
                    .into_any()
                }
            };
        }
    };
    let retry = pairs
        .iter()
        .find(|(k, _)| k == RETRY_ERROR)
        .and_then(|(_, v)| retry_message(v));
    let name = authorization.client.name.clone();
    let hidden = move || {
        authorization
            .carried
            .iter()
            .map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone() /> })
            .collect_view()
    };
    let can_share = state.verifier.operator_for(Protocol::CamaraStandard).is_ok();
    let protocols = state.verifier.protocols();
    let error = retry.map(|m| view! { <p class="result error" role="alert">{m}</p> });
    let cancel = {
        let hidden = hidden.clone();
        view! {
            <form method="post" action="/authorize" class="cancel-form">
                {hidden()}
                <button type="submit" name="action" value="cancel" class="secondary">"Cancel"</button>
            </form>
        }
    };
    let consent = format!(
        "Your mobile operator will confirm whether this number belongs to the SIM in this phone. {name} receives the number and the result."
    );
    let body = match authorization.login_hint {
        Some(number) => {
            let shown = number.as_str().to_owned();
            view! {
                <p class="ask" data-testid="ask">
                    <strong>{name.clone()}</strong>
                    " wants to confirm that this phone has number "
                    <strong>{shown.clone()}</strong>
                    "."
                </p>
                {error}
                <form method="post" action="/authorize" class="verify-form">
                    {hidden()}
                    <label for="phone">"Phone number"</label>
                    <input id="phone" name="phone" type="tel" value=shown readonly />
                    <ProtocolChoice protocols />
                    <button type="submit" name="action" value="verify">"Verify"</button>
                    <p class="consent">{consent}</p>
                </form>
            }
            .into_any()
        }
        None if can_share => view! {
            <p class="ask" data-testid="ask">
                <strong>{name.clone()}</strong>
                " asks for this phone's number."
            </p>
            {error}
            <form method="post" action="/authorize" class="verify-form">
                {hidden()}
                <button type="submit" name="action" value="share">"Share this phone's number"</button>
                <p class="consent">
                    {format!("Your mobile operator tells {name} the number of the SIM in this phone.")}
                </p>
            </form>
            <details class="type-instead">
                <summary>"Type a number instead"</summary>
                <form method="post" action="/authorize" class="verify-form">
                    {hidden()}
                    <PhoneField />
                    <ProtocolChoice protocols />
                    <button type="submit" name="action" value="verify">"Verify"</button>
                    <p class="consent">{consent}</p>
                </form>
            </details>
        }
        .into_any(),
        None => view! {
            <p class="ask" data-testid="ask">
                <strong>{name.clone()}</strong>
                " wants to confirm your phone number."
            </p>
            {error}
            <form method="post" action="/authorize" class="verify-form">
                {hidden()}
                <PhoneField />
                <ProtocolChoice protocols />
                <button type="submit" name="action" value="verify">"Verify"</button>
                <p class="consent">{consent}</p>
            </form>
        }
        .into_any(),
    };
    view! {
        <h1>"Confirm your phone number"</h1>
        <section class="card">{body} {cancel}</section>
    }
    .into_any()
}
