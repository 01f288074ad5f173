//! What the pages' server code reads from the request it answers (leptos_axum provides
//! it as context): headers, the client's address, the browser's session.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{header, request::Parts, HeaderMap, HeaderValue},
};
use leptos::prelude::*;

use crate::{http::client_address, state::AppState, verification::SessionId};

/// The request's headers and the client's address (behind trusted proxies).
pub fn request_client(state: &AppState) -> (HeaderMap, Option<IpAddr>) {
    let parts = use_context::<Parts>();
    let headers = parts.as_ref().map(|p| p.headers.clone()).unwrap_or_default();
    let peer = parts
        .as_ref()
        .and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>())
        .map(|ConnectInfo(peer)| *peer);
    let client = client_address(state.config.trust_proxy, &headers, peer);
    (headers, client)
}

/// The headers of the request being answered.
pub fn request_headers() -> HeaderMap {
    use_context::<Parts>().map(|p| p.headers).unwrap_or_default()
}

/// The browser's session, set as a cookie on this response if it had none.
pub async fn ensure_session(state: &AppState, headers: &HeaderMap) -> SessionId {
    if let Some(existing) = state.sessions.read(headers).await {
        return existing;
    }
    let session = SessionId::random();
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&state.sessions.set_cookie(&session)),
    ) {
        response.append_header(header::SET_COOKIE, value);
    }
    session
}

/// Whether the browser says it is a phone (User-Agent Client Hints, else the "Mobi"
/// token every mobile browser's User-Agent carries): a desktop is offered the handoff
/// up front, a phone only when its own check failed.
pub fn is_phone(headers: &HeaderMap) -> bool {
    let hint = headers.get("sec-ch-ua-mobile").and_then(|v| v.to_str().ok());
    match hint {
        Some(hint) => hint.trim() == "?1",
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.contains("Mobi")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn phones_are_told_by_client_hints_then_the_user_agent() {
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let desktop =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert!(is_phone(&headers(&[("user-agent", android)])));
        assert!(is_phone(&headers(&[("user-agent", iphone)])));
        assert!(!is_phone(&headers(&[("user-agent", desktop)])));
        assert!(!is_phone(&headers(&[])));
        assert!(is_phone(&headers(&[
            ("sec-ch-ua-mobile", "?1"),
            ("user-agent", desktop)
        ])));
        assert!(!is_phone(&headers(&[
            ("sec-ch-ua-mobile", "?0"),
            ("user-agent", android)
        ])));
    }
}
