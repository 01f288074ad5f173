//! Request helpers for the app's HTTP edge: cookies (parsed by the `cookie` crate), the
//! session cookie, `Accept`, the client's address, JSON error bodies.

use std::net::{IpAddr, SocketAddr};

use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use cookie::{Cookie, SameSite};
use serde_json::json;

use crate::verification::{SessionId, VerifyError};

/// The HttpOnly cookie that binds a browser to the verifications it started.
pub const SESSION_COOKIE: &str = "nv_session";

/// The (percent-decoded) value of cookie `name`, from any `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
}

/// The browser's session, if its cookie carries one of ours.
pub fn session(headers: &HeaderMap) -> Option<SessionId> {
    cookie(headers, SESSION_COOKIE).and_then(|v| SessionId::parse(&v))
}

/// The `Set-Cookie` value that gives a browser its session: HttpOnly, SameSite=Lax (the
/// operator's redirect back is a top-level navigation), Secure under https.
pub fn session_cookie(session: &SessionId, secure: bool) -> String {
    Cookie::build((SESSION_COOKIE, session.secret()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
        .to_string()
}

/// Whether the client asked for a page (a browser navigating) rather than data.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The client's IP address, for the rate limit: the TCP peer, or behind a trusted
/// reverse proxy (`TRUST_PROXY`) the address it appended to `X-Forwarded-For`.
pub fn client_address(trust_proxy: bool, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if trust_proxy {
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

/// `{"error": code, "message": message}` with `status`: the JSON API's error shape.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

pub fn api_error(error: &VerifyError) -> Response {
    json_error(error.status(), error.code(), &error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cookies_are_found_in_any_header_and_decoded() {
        let h = headers(&[
            (header::COOKIE, "a=1; sandbox_sim=%2B99012345678"),
            (header::COOKIE, "sandbox_network=\"wifi\""),
        ]);
        assert_eq!(cookie(&h, "sandbox_sim").as_deref(), Some("+99012345678"));
        assert_eq!(cookie(&h, "sandbox_network").as_deref(), Some("wifi"));
        assert_eq!(cookie(&h, "a").as_deref(), Some("1"));
        assert_eq!(cookie(&h, "nope"), None);
    }

    #[test]
    fn only_our_session_ids_are_sessions() {
        let id = SessionId::random();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={}", id.secret())).unwrap(),
        );
        assert_eq!(session(&h), Some(id.clone()));
        let forged = headers(&[(header::COOKIE, "nv_session=ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")]);
        assert_eq!(session(&forged), None);

        let set = session_cookie(&id, true);
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!session_cookie(&id, false).contains("Secure"));
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let h = headers(&[("x-forwarded-for".parse().unwrap(), "203.0.113.9, 198.51.100.4")]);
        assert_eq!(client_address(false, &h, Some(peer)), Some(peer.ip()));
        assert_eq!(
            client_address(true, &h, Some(peer)),
            Some("198.51.100.4".parse().unwrap())
        );
        assert_eq!(client_address(true, &HeaderMap::new(), Some(peer)), Some(peer.ip()));
    }

    #[test]
    fn html_is_asked_for_by_browsers_only() {
        assert!(accepts_html(&headers(&[(
            header::ACCEPT,
            "text/html,application/xhtml+xml"
        )])));
        assert!(!accepts_html(&headers(&[(header::ACCEPT, "application/json")])));
        assert!(!accepts_html(&HeaderMap::new()));
    }
}
