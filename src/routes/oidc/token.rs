//! `POST /token` (OIDC Core 1.0 §3.1.3): a form, client authentication per the client's
//! registration, one code once; the answer or an RFC 6749 §5.2 error, never cached.

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};

use super::off;
use crate::{
    oidc::{TokenError, TokenRequest},
    state::AppState,
};

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(provider) = state.oidc.clone() else {
        return off();
    };
    let answer = match read(&headers, &body) {
        Ok((basic, form)) => provider.token(basic, form).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            let headers = response.headers_mut();
            // RFC 6749 §5.1.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => {
            e.log();
            e.into_response()
        }
    }
}

type Basic = Option<(String, String)>;

/// The Basic credentials and the form, each parameter at most once (RFC 6749 §3.2).
fn read(headers: &HeaderMap, body: &[u8]) -> Result<(Basic, TokenRequest), TokenError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(TokenError::InvalidRequest(
            "Send the token request as application/x-www-form-urlencoded (RFC 6749 §4.1.3).".into(),
        ));
    }
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(basic_credentials(value).ok_or_else(|| {
            TokenError::InvalidClient("The Authorization header is not Basic client credentials.".into())
        })?),
    };
    let mut form = TokenRequest::default();
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut form.grant_type,
            "code" => &mut form.code,
            "redirect_uri" => &mut form.redirect_uri,
            "code_verifier" => &mut form.code_verifier,
            "client_id" => &mut form.client_id,
            "client_secret" => &mut form.client_secret,
            "client_assertion_type" => &mut form.client_assertion_type,
            "client_assertion" => &mut form.client_assertion,
            _ => continue,
        };
        if slot.is_some() {
            return Err(TokenError::InvalidRequest(format!("{name} appears more than once.")));
        }
        *slot = Some(value.into_owned());
    }
    Ok((basic, form))
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let header = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("my%20app:s%3Acret+x"))).unwrap();
        assert_eq!(
            basic_credentials(&header),
            Some(("my app".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(basic_credentials(&HeaderValue::from_static("Bearer abc")), None);
    }
}
