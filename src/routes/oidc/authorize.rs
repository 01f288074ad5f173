//! `POST /authorize` — the hosted page's forms: the person pressed Verify (or Share, or
//! Cancel). The authorization request travels in hidden fields and is read again here,
//! as strictly as on `GET`; then the verification starts exactly as the page's does, in
//! this browser's session, and its callback answers the relying party.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension,
};

use super::off;
use crate::{
    http::client_address,
    oidc::{error::refusal_page, request},
    pages::authorize::RETRY_ERROR,
    protocol::Protocol,
    routes::login::cross_site,
    state::AppState,
    verification::{Origin, SessionId, VerifyError},
};

pub async fn authorize(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = state.oidc.clone() else {
        return off();
    };
    // Another site's page must not press Verify for the person: the consent is the
    // person's own click on this page.
    if let Some(why) = cross_site(&state.config.public_url, &headers) {
        tracing::info!(why, "authorize: refused a cross-site form post");
        let mut page = refusal_page("This form can only be sent from this service's own page.");
        *page.status_mut() = StatusCode::FORBIDDEN;
        return page;
    }
    let pairs = request::pairs(&String::from_utf8_lossy(&body));
    let authorization = match provider.authorization(&pairs) {
        Ok(authorization) => authorization,
        Err(e) => {
            e.log();
            return e.into_response();
        }
    };
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let share = match field("action") {
        Some("cancel") => {
            let declined = provider.declined(&authorization.request);
            declined.log();
            return declined.into_response();
        }
        Some("share") => true,
        _ => false,
    };
    let (session, set_cookie) = match state.sessions.read(&headers).await {
        Some(session) => (session, None),
        None => {
            let session = SessionId::random();
            let cookie = state.sessions.set_cookie(&session);
            (session, Some(cookie))
        }
    };
    let origin = Origin::RelyingParty {
        session,
        request: Box::new(authorization.request.clone()),
    };
    let peer = connection.map(|Extension(ConnectInfo(peer))| peer);
    let client = client_address(state.config.trust_proxy, &headers, peer);
    let started = async {
        state.verifier.charge(&origin, client).await?;
        if share {
            let operator = state.verifier.operator_for(Protocol::CamaraStandard)?;
            return state
                .verifier
                .start_share_charged(operator, origin.clone(), client)
                .await;
        }
        let protocol = match field("protocol").filter(|p| !p.is_empty()) {
            Some(p) => Protocol::parse(p).ok_or(VerifyError::ProtocolUnavailable)?,
            None => *state
                .verifier
                .protocols()
                .first()
                .ok_or(VerifyError::ProtocolUnavailable)?,
        };
        let operator = state.verifier.operator_for(protocol)?;
        // With a login_hint the number is the relying party's, never what the form says.
        let number = match &authorization.login_hint {
            Some(hint) => hint.as_str().to_owned(),
            None => field("phone").unwrap_or("").to_owned(),
        };
        state
            .verifier
            .start_charged(&number, operator, origin.clone(), client)
            .await
    }
    .await;
    let mut response = match started {
        Ok(started) => Redirect::to(&started.url).into_response(),
        Err(e) => {
            e.log();
            // What the person can fix here is shown here; the rest goes back.
            let retry = match &e {
                VerifyError::InvalidPhone(_) => Some("invalid_phone"),
                VerifyError::RateLimited => Some("rate_limited"),
                VerifyError::ProtocolUnavailable => Some("unavailable"),
                _ => None,
            };
            match retry {
                Some(code) => {
                    let mut again = url::form_urlencoded::Serializer::new(String::new());
                    for (k, v) in &authorization.carried {
                        again.append_pair(k, v);
                    }
                    again.append_pair(RETRY_ERROR, code);
                    Redirect::to(&format!("/authorize?{}", again.finish())).into_response()
                }
                None => {
                    let failure = provider.failure(&authorization.request, &e);
                    failure.log();
                    failure.into_response()
                }
            }
        }
    };
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
