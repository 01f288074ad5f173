//! The virtual operator's successful answers, and small request helpers.

use axum::{
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use url::Url;

use super::{device::Fault, error::SandboxError, operator::TokenGrant};

/// JSON with `Cache-Control: no-store` (tokens and verification results are never cached).
pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A `302 Found` to `location`.
pub(crate) fn found(location: &str) -> Result<Response, SandboxError> {
    let location = HeaderValue::from_str(location).map_err(|_| {
        SandboxError::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "The redirect address is not a valid header value.",
        )
    })?;
    let headers = [
        (header::LOCATION, location),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((StatusCode::FOUND, headers).into_response())
}

/// A `302` to `redirect_uri` with `params` added to its query.
pub(crate) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Result<Response, SandboxError> {
    let mut url = Url::parse(redirect_uri).map_err(|_| {
        SandboxError::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "The registered redirect URI is not an absolute URL.",
        )
    })?;
    url.query_pairs_mut().extend_pairs(params);
    found(url.as_str())
}

/// `body` cut in half, with a JSON content type and 200 (the `*-malformed` faults).
pub(crate) fn malformed_json(body: &str) -> Response {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let body = &body[..cut];
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_owned(),
    )
        .into_response()
}

/// A check's answer (premiuminfo, verify, device-phone-number) as its token's fault has
/// it: the protocol's server error, truncated JSON, or the answer after a delay.
pub(crate) async fn check_answer(
    grant: &TokenGrant,
    answer: Value,
    server_error: impl FnOnce() -> SandboxError,
) -> Result<Response, SandboxError> {
    match grant.fault {
        Some(Fault::Check500) => {
            tracing::info!(target: "sandbox", "check: simulated fault check-500");
            Err(server_error())
        }
        Some(Fault::CheckMalformed) => {
            tracing::info!(target: "sandbox", "check: simulated fault check-malformed");
            Ok(malformed_json(&answer.to_string()))
        }
        Some(Fault::CheckSlow) => {
            let delay_ms = grant.delay.as_millis() as u64;
            tracing::info!(target: "sandbox", delay_ms, "check: simulated fault check-slow");
            tokio::time::sleep(grant.delay).await;
            Ok(json(StatusCode::OK, answer))
        }
        _ => Ok(json(StatusCode::OK, answer)),
    }
}

/// Echoes `correlator` as `x-correlator` on a CAMARA answer, an error or not.
pub(crate) fn correlated(
    answer: Result<Response, SandboxError>,
    correlator: Option<HeaderValue>,
) -> Result<Response, SandboxError> {
    match answer {
        Ok(mut res) => {
            if let Some(correlator) = correlator {
                res.headers_mut()
                    .insert(HeaderName::from_static("x-correlator"), correlator);
            }
            Ok(res)
        }
        Err(error) => Err(error.with_correlator(correlator)),
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Parses an `application/x-www-form-urlencoded` string into pairs.
pub(crate) fn form_pairs(s: &str) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(s).ok()
}

/// Query parameters as a map; `Err(name)` when a parameter is repeated (RFC 6749 §3.1).
pub(crate) fn unique_params(pairs: Vec<(String, String)>) -> Result<std::collections::HashMap<String, String>, String> {
    let mut map = std::collections::HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(k);
        }
        map.insert(k, v);
    }
    Ok(map)
}

pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parses() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer   abc "));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn repeated_params_are_refused() {
        let pairs = form_pairs("a=1&b=2&a=3").unwrap();
        assert_eq!(unique_params(pairs), Err("a".to_owned()));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
