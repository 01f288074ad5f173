//! CAMARA Number Verification through Vonage: network enablement, authorization, token,
//! verify (v0.3.1).

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderName, StatusCode},
    response::Response,
};
use serde_json::{json, Value};
use url::Url;

use super::{
    authorize::{self, has_scope, MAX_PARAM_LEN},
    device::{parse_msisdn, read_conditions, Fault},
    jwt::verify_application_jwt,
    mobile_connect::code_grant,
    respond::{bearer, camara_error, json as json_response, malformed_json, oauth_error, vonage_error},
    Protocol, Sandbox, CAMARA_VERIFY_SCOPE,
};
use crate::support::sha256_hex;

/// `POST /v0.1/network-enablement` — `{phone_number, scopes, state}` → `auth_url`.
pub(crate) async fn network_enablement(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let sb = sb.inner();
    let bad = |detail: &str| {
        tracing::info!(target: "sandbox", detail, "network enablement: refused");
        vonage_error(StatusCode::BAD_REQUEST, "Bad Request", detail)
    };
    if let Err(detail) = verify_application_jwt(sb, &headers) {
        tracing::info!(target: "sandbox", detail, "network enablement: unauthorized");
        return vonage_error(StatusCode::UNAUTHORIZED, "Invalid credentials supplied", detail);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        _ => return bad("The body must be a JSON object: {\"phone_number\", \"scopes\", \"state\"}."),
    };
    let Some(phone) = value.get("phone_number").and_then(Value::as_str) else {
        return bad("phone_number is missing or not a string.");
    };
    let phone = match parse_msisdn(phone) {
        Ok(p) => p,
        Err(e) => return bad(&format!("phone_number is not a phone number in E.164 form: {e}")),
    };
    let scopes: Vec<&str> = match value.get("scopes").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => match list.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
            Some(s) => s,
            None => return bad("scopes must be a list of strings."),
        },
        _ => return bad("scopes is missing or empty."),
    };
    if let Some(other) = scopes.iter().find(|s| **s != CAMARA_VERIFY_SCOPE) {
        let shown: String = other.chars().take(100).collect();
        return bad(&format!(
            "Unsupported scope \"{shown}\": this operator supports only {CAMARA_VERIFY_SCOPE}."
        ));
    }
    let state = match value.get("state").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= MAX_PARAM_LEN => s,
        Some(s) if !s.is_empty() => return bad("state is too long (at most 512 characters)."),
        _ => return bad("state is missing or not a non-empty string."),
    };
    let Some(redirect_uri) = sb.redirect_uris.first() else {
        tracing::error!(target: "sandbox", "network enablement: no redirect URI is registered");
        return vonage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            "The application has no redirect URI.",
        );
    };
    let Ok(mut auth_url) = Url::parse(&format!("{}/oauth2/auth", sb.public_base)) else {
        tracing::error!(target: "sandbox", "network enablement: public_base is not an absolute URL");
        return vonage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Error",
            "The operator's base URL is misconfigured.",
        );
    };
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", &sb.vonage_application_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", &format!("openid {CAMARA_VERIFY_SCOPE}"))
        .append_pair("state", state)
        .append_pair("login_hint", phone.as_str());
    tracing::info!(target: "sandbox", %phone, "network enablement: auth_url issued");
    json_response(
        StatusCode::OK,
        json!({
            "scopes": {
                CAMARA_VERIFY_SCOPE: {
                    "auth_url": auth_url.as_str(),
                    "requires_carrier_network": false,
                }
            }
        }),
    )
}

/// `GET /oauth2/auth` — the device navigates to the enablement's `auth_url`.
pub(crate) async fn authorize(State(sb): State<Sandbox>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let sb = sb.inner();
    const P: Protocol = Protocol::Camara;
    let req = match authorize::parse_request(sb, P, query.as_deref()) {
        Ok(req) => req,
        Err(res) => return res,
    };
    let scope = req.get("scope").unwrap_or_default().to_owned();
    if !has_scope(&scope, CAMARA_VERIFY_SCOPE) {
        return req.fail(
            P,
            "invalid_scope",
            &format!("scope must contain {CAMARA_VERIFY_SCOPE}."),
        );
    }
    let nonce = match req.get("nonce") {
        Some(n) if n.len() > MAX_PARAM_LEN => {
            return req.fail(P, "invalid_request", "nonce is too long (at most 512 characters).")
        }
        n => n.map(str::to_owned),
    };
    let login_hint = match req.get("login_hint") {
        None => None,
        Some(hint) => {
            let number = hint.strip_prefix("tel:").unwrap_or(hint);
            match parse_msisdn(number) {
                Ok(n) => Some(n),
                Err(e) => {
                    return req.fail(
                        P,
                        "invalid_request",
                        &format!("login_hint is not a phone number in E.164 form: {e}"),
                    )
                }
            }
        }
    };
    let conditions = match read_conditions(&headers) {
        Ok(c) => c,
        Err(description) => return req.fail(P, "invalid_request", &description),
    };
    let outcome = authorize::decide(sb, &req, P, conditions, login_hint, scope, nonce);
    authorize::start(sb, &req, outcome)
}

/// `POST /oauth2/token` — application JWT; form `code, redirect_uri, grant_type`.
pub(crate) async fn token(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let sb = sb.inner();
    let fail = |status: StatusCode, error: &'static str, description: &str| {
        tracing::info!(target: "sandbox", error, description, "vonage token: refused");
        oauth_error(status, error, description)
    };
    let application_id = match verify_application_jwt(sb, &headers) {
        Ok(id) => id,
        Err(d) => return fail(StatusCode::UNAUTHORIZED, "invalid_client", d),
    };
    let (code, redirect_uri) = match code_grant(query.as_deref(), &body) {
        Ok(grant) => grant,
        Err((status, error, description)) => return fail(status, error, description),
    };
    let (code, redirect_uri) = (code.as_str(), redirect_uri.as_str());
    match authorize::redeem(sb, Protocol::Camara, &application_id, code, redirect_uri) {
        Ok((grant, expires_at)) => authorize::token_response(sb, code, grant, expires_at).await,
        Err(d) => fail(StatusCode::BAD_REQUEST, "invalid_grant", d),
    }
}

/// `POST /camara/number-verification/v031/verify` — exactly one of `phoneNumber` or
/// `hashedPhoneNumber`.
pub(crate) async fn verify(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let sb = sb.inner();
    let correlator = headers.get("x-correlator").filter(|v| v.len() <= 256).cloned();
    let with_correlator = |mut res: Response| {
        if let Some(c) = &correlator {
            res.headers_mut()
                .insert(HeaderName::from_static("x-correlator"), c.clone());
        }
        res
    };
    let fail = |status: StatusCode, code: &'static str, message: &str| {
        tracing::info!(target: "sandbox", code, reason = message, "verify: refused");
        with_correlator(camara_error(status, code, message))
    };
    let Some(token) = bearer(&headers) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request not authenticated: send Authorization: Bearer <access_token>.",
        );
    };
    let Some(grant) = sb.tokens.get(&token.to_owned()) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request not authenticated due to missing, invalid, or expired credentials.",
        );
    };
    if grant.protocol != Protocol::Camara || !has_scope(&grant.scope, CAMARA_VERIFY_SCOPE) {
        return fail(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Client does not have sufficient permissions to perform this action: the token lacks the number-verification-verify-read scope.",
        );
    }
    const INVALID: &str = "INVALID_ARGUMENT";
    if body.iter().all(u8::is_ascii_whitespace) {
        return fail(
            StatusCode::BAD_REQUEST,
            INVALID,
            "A JSON body with phoneNumber or hashedPhoneNumber is required.",
        );
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body) else {
        return fail(StatusCode::BAD_REQUEST, INVALID, "The body must be a JSON object.");
    };
    let verified = match (map.get("phoneNumber"), map.get("hashedPhoneNumber")) {
        (Some(_), Some(_)) => {
            return fail(
                StatusCode::BAD_REQUEST,
                INVALID,
                "Give exactly one of phoneNumber and hashedPhoneNumber, not both.",
            )
        }
        (None, None) => {
            return fail(
                StatusCode::BAD_REQUEST,
                INVALID,
                "Give exactly one of phoneNumber and hashedPhoneNumber.",
            )
        }
        (Some(number), None) => {
            let Some(digits) = number.as_str().and_then(e164_digits) else {
                return fail(
                    StatusCode::BAD_REQUEST,
                    INVALID,
                    "phoneNumber must be in E.164 form: country code and number, digits only, optionally prefixed with +.",
                );
            };
            format!("+{digits}") == grant.sim.as_str()
        }
        (None, Some(hash)) => {
            let Some(hash) = hash
                .as_str()
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            else {
                return fail(
                    StatusCode::BAD_REQUEST,
                    INVALID,
                    "hashedPhoneNumber must be 64 hex characters (SHA-256 of the E.164 number).",
                );
            };
            let hash = hash.to_ascii_lowercase();
            let sim = grant.sim.as_str();
            hash == sha256_hex(sim) || hash == sha256_hex(sim.trim_start_matches('+'))
        }
    };
    tracing::info!(target: "sandbox", sim = %grant.sim, verified, "verify: answered");
    let body = json!({ "devicePhoneNumberVerified": verified });
    let res = match grant.fault {
        Some(Fault::Check500) => {
            tracing::info!(target: "sandbox", "verify: simulated fault check-500");
            camara_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Server error (simulated fault check-500).",
            )
        }
        Some(Fault::CheckMalformed) => {
            tracing::info!(target: "sandbox", "verify: simulated fault check-malformed");
            malformed_json(&body.to_string())
        }
        Some(Fault::CheckSlow) => {
            tracing::info!(target: "sandbox", delay_ms = grant.delay.as_millis() as u64, "verify: simulated fault check-slow");
            tokio::time::sleep(grant.delay).await;
            json_response(StatusCode::OK, body)
        }
        _ => json_response(StatusCode::OK, body),
    };
    with_correlator(res)
}

/// The digits of an E.164 number with an optional `+` (`^\+?[1-9][0-9]{4,14}$`).
fn e164_digits(s: &str) -> Option<&str> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let ok = (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    ok.then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_digits_accepts_optional_plus() {
        assert_eq!(e164_digits("+99012345678"), Some("99012345678"));
        assert_eq!(e164_digits("99012345678"), Some("99012345678"));
        assert_eq!(e164_digits("+0990"), None);
        assert_eq!(e164_digits("+44 7700"), None);
        assert_eq!(e164_digits("+1234567890123456"), None);
        assert_eq!(e164_digits(""), None);
    }
}
