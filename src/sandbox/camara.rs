//! CAMARA Number Verification through Vonage: network enablement, authorization, token,
//! verify (v0.3.1).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{json, Map, Value};
use url::Url;

use super::{
    authorize::{self, has_scope, MAX_PARAM_LEN},
    device::{parse_msisdn, read_conditions},
    error::SandboxError,
    jwt::verify_application_jwt,
    operator::{Api, VirtualOperator},
    respond::{bearer, check_answer, correlated, json as json_response},
    token::{code_grant, redeem, token_response},
    CAMARA_VERIFY_SCOPE,
};
use crate::{phone::E164, support::sha256_hex};

const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";

/// `POST /v0.1/network-enablement` — `{phone_number, scopes, state}` → `auth_url`.
pub(crate) async fn network_enablement(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    verify_application_jwt(&operator, &headers)
        .map_err(|detail| SandboxError::vonage(StatusCode::UNAUTHORIZED, "Invalid credentials supplied", detail))?;
    let (phone, state) = enablement_request(&body)?;
    let internal =
        |detail: &'static str| SandboxError::vonage(StatusCode::INTERNAL_SERVER_ERROR, "Internal Error", detail);
    let Some(redirect_uri) = operator.redirect_uris.first() else {
        tracing::error!(target: "sandbox", "network enablement: no redirect URI is registered");
        return Err(internal("The application has no redirect URI."));
    };
    let Ok(mut auth_url) = Url::parse(&format!("{}/oauth2/auth", operator.public_base)) else {
        tracing::error!(target: "sandbox", "network enablement: public_base is not an absolute URL");
        return Err(internal("The operator's base URL is misconfigured."));
    };
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", &operator.vonage_application_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", &format!("openid {CAMARA_VERIFY_SCOPE}"))
        .append_pair("state", &state)
        .append_pair("login_hint", phone.as_str());
    tracing::info!(target: "sandbox", %phone, "network enablement: auth_url issued");
    Ok(json_response(
        StatusCode::OK,
        json!({
            "scopes": {
                CAMARA_VERIFY_SCOPE: {
                    "auth_url": auth_url.as_str(),
                    "requires_carrier_network": false,
                }
            }
        }),
    ))
}

/// The body of a network enablement: the phone number and the state.
fn enablement_request(body: &[u8]) -> Result<(E164, String), SandboxError> {
    let bad = |detail: String| SandboxError::vonage(StatusCode::BAD_REQUEST, "Bad Request", detail);
    let Ok(Value::Object(value)) = serde_json::from_slice(body) else {
        return Err(bad(
            "The body must be a JSON object: {\"phone_number\", \"scopes\", \"state\"}.".into(),
        ));
    };
    let Some(phone) = value.get("phone_number").and_then(Value::as_str) else {
        return Err(bad("phone_number is missing or not a string.".into()));
    };
    let phone =
        parse_msisdn(phone).map_err(|e| bad(format!("phone_number is not a phone number in E.164 form: {e}")))?;
    check_enablement_scopes(&value).map_err(bad)?;
    match value.get("state").and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= MAX_PARAM_LEN => Ok((phone, s.to_owned())),
        Some(s) if !s.is_empty() => Err(bad("state is too long (at most 512 characters).".into())),
        _ => Err(bad("state is missing or not a non-empty string.".into())),
    }
}

/// `scopes` must list the number verification scope only.
fn check_enablement_scopes(value: &Map<String, Value>) -> Result<(), String> {
    let scopes: Vec<&str> = match value.get("scopes").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or("scopes must be a list of strings.")?,
        _ => return Err("scopes is missing or empty.".into()),
    };
    match scopes.iter().find(|s| **s != CAMARA_VERIFY_SCOPE) {
        Some(other) => {
            let shown: String = other.chars().take(100).collect();
            Err(format!(
                "Unsupported scope \"{shown}\": this operator supports only {CAMARA_VERIFY_SCOPE}."
            ))
        }
        None => Ok(()),
    }
}

/// `GET /oauth2/auth` — the device navigates to the enablement's `auth_url`.
pub(crate) async fn authorize(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, SandboxError> {
    let req = authorize::parse_request(&operator, Api::VonageCamara, query.as_deref())?;
    let scope = req.get("scope").unwrap_or_default().to_owned();
    if !has_scope(&scope, CAMARA_VERIFY_SCOPE) {
        return Err(req.refuse("invalid_scope", format!("scope must contain {CAMARA_VERIFY_SCOPE}.")));
    }
    let nonce = req.nonce()?;
    let login_hint = match req.get("login_hint") {
        None => None,
        Some(hint) => {
            let number = hint.strip_prefix("tel:").unwrap_or(hint);
            let number = parse_msisdn(number).map_err(|e| {
                req.refuse(
                    "invalid_request",
                    format!("login_hint is not a phone number in E.164 form: {e}"),
                )
            })?;
            Some(number)
        }
    };
    let conditions = read_conditions(&headers).map_err(|d| req.refuse("invalid_request", d))?;
    let outcome = authorize::decide(&operator, &req, Api::VonageCamara, conditions, login_hint, scope, nonce);
    authorize::start(&operator, &req, outcome)
}

/// `POST /oauth2/token` — application JWT; form `code, redirect_uri, grant_type`.
pub(crate) async fn token(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let application_id = verify_application_jwt(&operator, &headers).map_err(SandboxError::invalid_client)?;
    let (code, redirect_uri) = code_grant(query.as_deref(), &body)?;
    let (grant, expires_at) = redeem(&operator, Api::VonageCamara, &application_id, &code, &redirect_uri)?;
    token_response(&operator, &code, grant, expires_at).await
}

/// `POST /camara/number-verification/v031/verify` — exactly one of `phoneNumber` or
/// `hashedPhoneNumber`. Every answer echoes a sent `x-correlator`.
pub(crate) async fn verify(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let correlator = headers.get("x-correlator").filter(|v| v.len() <= 256).cloned();
    correlated(check_number(&operator, &headers, &body).await, correlator)
}

async fn check_number(operator: &VirtualOperator, headers: &HeaderMap, body: &[u8]) -> Result<Response, SandboxError> {
    let unauthenticated =
        |message: &'static str| SandboxError::camara(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message);
    let token = bearer(headers)
        .ok_or_else(|| unauthenticated("Request not authenticated: send Authorization: Bearer <access_token>."))?;
    let grant = operator
        .tokens
        .get(token)
        .ok_or_else(|| unauthenticated("Request not authenticated due to missing, invalid, or expired credentials."))?;
    if grant.api != Api::VonageCamara || !has_scope(&grant.scope, CAMARA_VERIFY_SCOPE) {
        return Err(SandboxError::camara(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Client does not have sufficient permissions to perform this action: the token lacks the number-verification-verify-read scope.",
        ));
    }
    let verified = number_matches(body, &grant.sim)
        .map_err(|message| SandboxError::camara(StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message))?;
    tracing::info!(target: "sandbox", sim = %grant.sim, verified, "verify: answered");
    let answer = json!({ "devicePhoneNumberVerified": verified });
    check_answer(&grant, answer, || {
        SandboxError::camara(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Server error (simulated fault check-500).",
        )
    })
    .await
}

/// Whether the verify body's number (or its hash, of the number with or without its `+`)
/// is `sim`. `Err` is an `INVALID_ARGUMENT` message.
fn number_matches(body: &[u8], sim: &E164) -> Result<bool, &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("A JSON body with phoneNumber or hashedPhoneNumber is required.");
    }
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err("The body must be a JSON object.");
    };
    match (map.get("phoneNumber"), map.get("hashedPhoneNumber")) {
        (Some(_), Some(_)) => Err("Give exactly one of phoneNumber and hashedPhoneNumber, not both."),
        (None, None) => Err("Give exactly one of phoneNumber and hashedPhoneNumber."),
        (Some(number), None) => {
            let digits = number.as_str().and_then(e164_digits).ok_or(
                "phoneNumber must be in E.164 form: country code and number, digits only, optionally prefixed with +.",
            )?;
            Ok(format!("+{digits}") == sim.as_str())
        }
        (None, Some(hash)) => {
            let hash = hash
                .as_str()
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or("hashedPhoneNumber must be 64 hex characters (SHA-256 of the E.164 number).")?
                .to_ascii_lowercase();
            let sim = sim.as_str();
            Ok(hash == sha256_hex(sim) || hash == sha256_hex(sim.trim_start_matches('+')))
        }
    }
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
