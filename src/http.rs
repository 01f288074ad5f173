//! Request helpers for the app's HTTP edge: cookies (parsed by the `cookie` crate), the
//! signed session cookie, `Accept`, the client's address, JSON error bodies.

use std::net::{IpAddr, SocketAddr};

use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use cookie::Cookie;
use serde_json::json;

use crate::verification::VerifyError;

/// How the page's shell hands its script nonce to the server's edge, which writes the
/// CSP and removes this header: the policy needs the configuration, the nonce the render.
pub const NONCE_HEADER: &str = "x-nv-script-nonce";

/// The HttpOnly cookie that binds a browser to the verifications it started; under https
/// [`SECURE_SESSION_COOKIE`].
pub const SESSION_COOKIE: &str = "nv_session";
/// Under https: the `__Host-` prefix makes browsers refuse it unless it is Secure, for
/// Path=/ and without Domain, so no subdomain or plain-http page can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-nv_session";

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

/// Whether the client asked for a page (a browser navigating) rather than data.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// The client's IP address, for the rate limit: the TCP peer, or behind a trusted
/// reverse proxy (`TRUST_PROXY`) the address it appended to `X-Forwarded-For`. Behind
/// proxies the edge has already resolved the client (`server::client`, which also reads
/// `TRUSTED_PROXIES` and RFC 7239 `Forwarded`) and handed it on as both the peer and the
/// one `X-Forwarded-For` entry, so either reading gives the same address.
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

/// A refused or failed verification, in the JSON API's error shape: its status, its
/// code and the person's message. Here, not beside the error: `verification` using this
/// module, which uses it, would be an import loop.
impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        json_error(self.status(), self.code(), &self.to_string())
    }
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

    #[tokio::test]
    async fn a_verification_error_is_the_api_error_shape() {
        let response = VerifyError::RateLimited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "rate_limited", "message": VerifyError::RateLimited.to_string()})
        );
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
