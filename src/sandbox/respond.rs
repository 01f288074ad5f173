//! Response shapes of the operator APIs, and small request helpers.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};
use url::Url;

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

/// An OAuth 2.0 error (RFC 6749 §5.2): `{error, error_description}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = json(status, json!({ "error": error, "error_description": description }));
    if status == StatusCode::UNAUTHORIZED {
        let challenge = if error == "invalid_token" {
            format!("Bearer realm=\"sandbox\", error=\"{error}\"")
        } else {
            "Basic realm=\"sandbox\"".to_owned()
        };
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    res
}

/// A Vonage API error (RFC 7807 style): `{type, title, detail, instance}`.
pub(crate) fn vonage_error(status: StatusCode, title: &str, detail: &str) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::INTERNAL_SERVER_ERROR => "internal-error",
        _ => "bad-request",
    };
    json(
        status,
        json!({
            "type": format!("https://developer.vonage.com/api-errors#{kind}"),
            "title": title,
            "detail": detail,
            "instance": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

/// A CAMARA error: `{status, code, message}`.
pub(crate) fn camara_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        json!({ "status": status.as_u16(), "code": code, "message": message }),
    )
}

/// A short HTML page for errors that must not redirect (unknown client or redirect URI).
pub(crate) fn html_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · virtual operator</title></head>\
         <body><h1>{t}</h1><p>{m}</p><p>(Number Verify virtual operator — sandbox)</p></body></html>\n",
        t = escape_html(title),
        m = escape_html(message),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A `302 Found` to `location`.
pub(crate) fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "The redirect address is not a valid header value.",
        ),
    }
}

/// A `302` to `redirect_uri` with `params` added to its query.
pub(crate) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            found(url.as_str())
        }
        Err(_) => html_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot redirect",
            "The registered redirect URI is not an absolute URL.",
        ),
    }
}

/// The error redirect of an authorization: `?error=…&error_description=…&state=…`.
pub(crate) fn error_redirect(redirect_uri: &str, error: &str, description: &str, state: Option<&str>) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect_with(redirect_uri, &params)
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
    fn redirect_keeps_existing_query() {
        let res = error_redirect("http://x.test/cb?a=1", "access_denied", "no SIM", Some("s 1"));
        let loc = res.headers().get(header::LOCATION).unwrap().to_str().unwrap();
        assert_eq!(
            loc,
            "http://x.test/cb?a=1&error=access_denied&error_description=no+SIM&state=s+1"
        );
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
