//! `POST /login` — the mobile-app API: `{"phone": "+99012345678"}` → `{"url": …}`, JSON
//! only, and never from another site's page.
//!
//! A foreign page can make its visitors' browsers post to any address without CORS
//! (`fetch(url, {mode: 'no-cors'})`), but only with a "simple" body (`text/plain`, a
//! form): each such post would start a flow, spend the visitor's address's budget (one
//! address is many people behind carrier NAT) and cost an operator call. So the body must
//! be `application/json`, which a browser sends cross-site only after a CORS preflight
//! this app never answers, and a caller the browser marks as cross-site is refused. A
//! server-to-server caller sends neither `Origin` nor `Sec-Fetch-Site`.
//!
//! Optional fields: `"protocol"` — `"camara"` (the configured CAMARA profile, the
//! default), `"camara-standard"` or `"mobile-connect"`; `"purpose"` — `"verify"` (the
//! default) or `"share"`, which takes no `phone` and whose callback answers the device's
//! number (standard CAMARA only); `"client_id"` — the app's backend, the audience of the
//! signed verdict (`verification_token`) the callback adds when the OpenID Provider is on.

use std::net::{IpAddr, SocketAddr};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    http::{client_address, json_error},
    protocol::Protocol,
    state::AppState,
    verification::{Origin, StartFailure, StartedVerification},
};

/// The body as sent: each field any JSON value, so that a wrong type is named by field
/// here rather than described by serde, whose message quotes the value (a number).
#[derive(Debug, Default, Deserialize)]
struct RawLogin {
    phone: Option<serde_json::Value>,
    protocol: Option<serde_json::Value>,
    purpose: Option<serde_json::Value>,
    client_id: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
struct LoginRequest {
    phone: Option<String>,
    protocol: Option<String>,
    purpose: Option<String>,
    client_id: Option<String>,
}

/// Why a body was not read: the field it concerns (for the error code) and what to say.
/// Never built from a parser's message, which may quote what was sent.
#[derive(Debug)]
struct Unreadable {
    field: Field,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Phone,
    Protocol,
    Purpose,
    ClientId,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Phone => "phone",
            Field::Protocol => "protocol",
            Field::Purpose => "purpose",
            Field::ClientId => "client_id",
        }
    }

    fn error_code(self) -> &'static str {
        match self {
            Field::Phone => "invalid_phone",
            Field::Protocol => "invalid_protocol",
            Field::Purpose => "invalid_purpose",
            Field::ClientId => "invalid_client_id",
        }
    }
}

const PROTOCOLS: &str = r#"protocol must be "camara", "camara-standard" or "mobile-connect"."#;

pub async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Both checks come before anything is spent: a refused foreign call costs nothing.
    if let Some(why) = cross_site(&state.config.public_url, &headers) {
        tracing::info!(why, "login: refused a cross-site caller");
        return json_error(
            StatusCode::FORBIDDEN,
            "cross_site",
            "This API is not for other sites' pages: call it from the app or a server.",
        );
    }
    if !is_json(&headers) {
        tracing::info!("login: a body that is not application/json");
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            r#"Send the body as JSON with "Content-Type: application/json", like {"phone": "+99012345678"}."#,
        );
    }
    let peer = connection.map(|Extension(ConnectInfo(peer))| peer);
    let client = client_address(state.config.trust_proxy, &headers, peer);
    // Every start that got this far spends from the address's budget, refused or not.
    if let Err(e) = state.verifier.charge(&Origin::Api, client).await {
        e.log();
        return e.into_response();
    }
    let request = match parse(&body) {
        Ok(request) => request,
        Err(Unreadable { field, message }) => {
            tracing::info!(problem = %message, "login: unreadable body");
            return json_error(StatusCode::BAD_REQUEST, field.error_code(), &message);
        }
    };
    let protocol = match request.protocol.as_deref() {
        None | Some("") => Protocol::Camara,
        Some(p) => match Protocol::parse(p) {
            Some(p) => p,
            None => {
                tracing::info!("login: unknown protocol");
                return json_error(StatusCode::BAD_REQUEST, "invalid_protocol", PROTOCOLS);
            }
        },
    };
    let share = match request.purpose.as_deref().map(str::trim) {
        None | Some("") | Some("verify") => false,
        Some("share") => true,
        Some(_) => {
            tracing::info!("login: unknown purpose");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_purpose",
                r#"purpose must be "verify" (the default: send "phone") or "share" (no "phone": the operator tells the device's number)."#,
            );
        }
    };
    let phone = if share {
        if request.phone.as_deref().is_some_and(|p| !p.trim().is_empty()) {
            tracing::info!("login: a share with a phone number");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_phone",
                r#"A share asks the operator for the device's number: send no "phone" with "purpose": "share"."#,
            );
        }
        None
    } else {
        Some(request.phone.as_deref().unwrap_or(""))
    };
    // The audience of the verification token: the backend the app will forward it to.
    let origin = match request.client_id.as_deref().map(str::trim) {
        None | Some("") => Origin::Api,
        Some(id) if id.len() <= 128 && !id.chars().any(|c| c.is_control() || c.is_whitespace()) => Origin::ApiFor {
            audience: id.to_owned(),
        },
        Some(_) => {
            tracing::info!("login: a malformed client_id");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_id",
                r#""client_id" must be 1–128 visible characters without spaces: your backend's client id."#,
            );
        }
    };
    match start(&state, protocol, phone, origin, client).await {
        Ok(started) => Json(json!({ "url": started.url })).into_response(),
        Err(failure) => {
            failure.error.log();
            let sandbox = state
                .verifier
                .operator_for(protocol)
                .is_ok_and(|operator| state.verifier.sandbox_backed(operator));
            super::callback::api_error(&failure.error, sandbox, failure.fallback.as_ref())
        }
    }
}

/// Starts what was asked: `phone` verified, or with `None` the device's number shared.
async fn start(
    state: &AppState,
    protocol: Protocol,
    phone: Option<&str>,
    origin: Origin,
    client: Option<IpAddr>,
) -> Result<StartedVerification, StartFailure> {
    let operator = state.verifier.operator_for(protocol)?;
    match phone {
        Some(phone) => {
            state
                .verifier
                .start_charged_or_offer(phone, operator, origin, client)
                .await
        }
        None => Ok(state.verifier.start_share_charged(operator, origin, client).await?),
    }
}

/// Why the caller is another site's page, if it is: the browser says so
/// (`Sec-Fetch-Site: cross-site`), or it sent an `Origin` that is not `public_url`'s
/// (`null` included). Neither header: not a browser, or the app's own page.
pub(crate) fn cross_site(public_url: &str, headers: &HeaderMap) -> Option<&'static str> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case(b"cross-site")) {
        return Some("Sec-Fetch-Site: cross-site");
    }
    let origin = headers.get(header::ORIGIN)?;
    let ours = url::Url::parse(public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    match ours {
        Some(ours) if origin.as_bytes().eq_ignore_ascii_case(ours.as_bytes()) => None,
        _ => Some("Origin is not APP_PUBLIC_URL's"),
    }
}

/// `Content-Type: application/json`, parameters (a charset) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

const EXAMPLE: &str = r#"Send JSON like {"phone": "+99012345678"}."#;

/// The JSON body, each field at most once.
fn parse(body: &[u8]) -> Result<LoginRequest, Unreadable> {
    let raw: RawLogin = serde_json::from_slice(body).map_err(|e| unreadable_json(&e))?;
    Ok(LoginRequest {
        phone: string_field(raw.phone, Field::Phone)?,
        protocol: string_field(raw.protocol, Field::Protocol)?,
        purpose: string_field(raw.purpose, Field::Purpose)?,
        client_id: string_field(raw.client_id, Field::ClientId)?,
    })
}

/// A field that must be a string (or absent, or null), named with the type it had.
fn string_field(value: Option<serde_json::Value>, field: Field) -> Result<Option<String>, Unreadable> {
    use serde_json::Value;
    let found = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => return Ok(Some(s)),
        Some(Value::Bool(_)) => "true or false",
        Some(Value::Number(_)) => "a number",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    };
    let message = match field {
        Field::Phone => format!(r#""phone" must be a string like "+99012345678", not {found}."#),
        Field::Protocol => {
            format!(r#""protocol" must be the string "camara", "camara-standard" or "mobile-connect", not {found}."#)
        }
        Field::Purpose => format!(r#""purpose" must be the string "verify" or "share", not {found}."#),
        Field::ClientId => format!(r#""client_id" must be a string (your backend's client id), not {found}."#),
    };
    Err(Unreadable { field, message })
}

/// serde names a repeated field ("duplicate field `phone`") without its value; any other
/// message of its may quote the body, so it is replaced by the category alone.
fn duplicate(message: &str) -> Option<Field> {
    match message.strip_prefix("duplicate field `")?.split('`').next()? {
        "phone" => Some(Field::Phone),
        "protocol" => Some(Field::Protocol),
        "purpose" => Some(Field::Purpose),
        "client_id" => Some(Field::ClientId),
        _ => None,
    }
}

fn repeated(field: Field) -> Unreadable {
    Unreadable {
        field,
        message: format!(r#""{}" appears more than once; send it once. {EXAMPLE}"#, field.name()),
    }
}

fn unreadable_json(e: &serde_json::Error) -> Unreadable {
    use serde_json::error::Category;
    if let Some(field) = duplicate(&e.to_string()) {
        return repeated(field);
    }
    let problem = match e.classify() {
        Category::Eof if e.line() == 1 && e.column() == 0 => "The body is empty.",
        Category::Eof => "The body is cut short.",
        Category::Syntax | Category::Io => "The body is not valid JSON.",
        Category::Data => "The body is not a JSON object with a \"phone\" field.",
    };
    Unreadable {
        field: Field::Phone,
        message: format!("{problem} {EXAMPLE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<LoginRequest, Unreadable> {
        parse(body.as_bytes())
    }

    #[test]
    fn only_json_from_no_other_site() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            map
        };
        let ours = "https://verify.example.com";
        assert_eq!(cross_site(ours, &headers(&[])), None);
        assert_eq!(
            cross_site(ours, &headers(&[("origin", "https://verify.example.com")])),
            None
        );
        assert_eq!(cross_site(ours, &headers(&[("sec-fetch-site", "same-origin")])), None);
        assert!(cross_site(ours, &headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(ours, &headers(&[("origin", "null")])).is_some());
        assert!(cross_site(ours, &headers(&[("origin", "https://verify.example.com.evil")])).is_some());
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!is_json(&headers(&[])));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_and_its_value_never_quoted() {
        let e = json(r#"{"phone": 447700900123}"#).unwrap_err();
        assert_eq!(e.field, Field::Phone);
        assert!(e.message.contains(r#""phone" must be a string"#), "{}", e.message);
        assert!(!e.message.contains("447700900123"), "{}", e.message);

        let e = json(r#"{"phone": "+99012345678", "protocol": 7}"#).unwrap_err();
        assert_eq!(e.field, Field::Protocol);
        assert!(e.message.contains("not a number"), "{}", e.message);
    }

    #[test]
    fn repeated_and_broken_bodies_say_what_is_wrong() {
        let e = json(r#"{"phone": "+99012345678", "phone": "+447700900123"}"#).unwrap_err();
        assert!(e.message.contains("appears more than once"), "{}", e.message);
        assert!(!e.message.contains("447700900123"), "{}", e.message);
        assert!(json("").unwrap_err().message.starts_with("The body is empty."));
        assert!(json(r#"{"phone": "+4477"#)
            .unwrap_err()
            .message
            .starts_with("The body is cut short."));
        assert!(json(r#"["+447700900123"]"#)
            .unwrap_err()
            .message
            .contains("not a JSON object"));
        let ok = json(r#"{"phone": "+99012345678", "protocol": null}"#).unwrap();
        assert_eq!(ok.phone.as_deref(), Some("+99012345678"));
        assert_eq!(ok.protocol, None);
    }
}
