//! The NumberVerification v2.1 API: `verify` and `device-phone-number`, each access
//! token serving one call, every answer echoing the `x-correlator`.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::Response,
};
use serde_json::{json, Value};

use super::{is_phone_number, SCOPE_SHARE, SCOPE_VERIFY};
use crate::{
    phone::E164,
    sandbox::{
        authorize::has_scope,
        device::Fault,
        error::{SandboxError, BEARER_CHALLENGE},
        operator::{Api, TokenGrant, VirtualOperator},
        respond::{bearer, check_answer, correlated},
    },
    support::sha256_hex,
};

const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
const NOT_BY_NETWORK: &str = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK";

/// The two operations of the API.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Verify,
    Share,
}

impl Operation {
    fn scope(self) -> &'static str {
        match self {
            Operation::Verify => SCOPE_VERIFY,
            Operation::Share => SCOPE_SHARE,
        }
    }
}

/// `POST /camara/v2/number-verification/v2/verify`
pub(crate) async fn verify(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    api(&operator, Operation::Verify, &headers, &body).await
}

/// `GET /camara/v2/number-verification/v2/device-phone-number`
pub(crate) async fn device_phone_number(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
) -> Result<Response, SandboxError> {
    api(&operator, Operation::Share, &headers, &[]).await
}

/// The request's `x-correlator`: `Ok(None)` when none is sent; `Err` when it is not
/// CAMARA's `XCorrelator` (`^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$`) or is sent twice.
fn read_correlator(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let mut values = headers.get_all("x-correlator").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let value = value.to_str().map_err(|_| ())?;
    let valid = value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:;./<>{}".contains(&b));
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(())
    }
}

/// One API call: checks in CAMARA's order — `x-correlator`, authentication (401),
/// permissions (403), the body (400) — then answers and spends the token. Refusals
/// leave the token as it was.
async fn api(
    operator: &VirtualOperator,
    operation: Operation,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SandboxError> {
    let correlator = read_correlator(headers)
        .map_err(|()| {
            SandboxError::camara(
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                "The x-correlator header is not valid: at most 256 characters of [a-zA-Z0-9-_:;./<>{}].",
            )
        })?
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let answer = answer(operator, operation, headers, body, &correlator).await;
    correlated(answer, HeaderValue::from_str(&correlator).ok())
}

fn unauthenticated(message: &'static str) -> SandboxError {
    SandboxError::camara(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message).with_challenge(BEARER_CHALLENGE)
}

async fn answer(
    operator: &VirtualOperator,
    operation: Operation,
    headers: &HeaderMap,
    body: &[u8],
    correlator: &str,
) -> Result<Response, SandboxError> {
    let token = bearer(headers)
        .ok_or_else(|| unauthenticated("Request not authenticated: send Authorization: Bearer <access token>."))?
        .to_owned();
    let grant = authorized(operator, operation, &token)?;
    let answer = match operation {
        Operation::Verify => {
            let (verified, given) = verified(body, &grant.sim)
                .map_err(|message| SandboxError::camara(StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message))?;
            tracing::info!(target: "sandbox", x_correlator = %correlator, sim = %grant.sim, given, verified, "camara v2 verify: answered");
            json!({ "devicePhoneNumberVerified": verified })
        }
        Operation::Share => {
            tracing::info!(target: "sandbox", x_correlator = %correlator, sim = %grant.sim, "camara v2 device-phone-number: answered");
            json!({ "devicePhoneNumber": grant.sim.as_str() })
        }
    };
    // Spent by this call; a concurrent call with the same token lost the race.
    if operator.tokens.take_with_expiry(&token).is_none() {
        return Err(unauthenticated(
            "Request not authenticated: the access token was already used (each token serves one call). A new authentication is required.",
        ));
    }
    check_answer(&grant, answer, || {
        SandboxError::camara(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Server error (simulated fault check-500).",
        )
    })
    .await
}

/// The live standard CAMARA token's grant, if it allows `operation`.
fn authorized(operator: &VirtualOperator, operation: Operation, token: &String) -> Result<TokenGrant, SandboxError> {
    let grant = operator.tokens.get(token).filter(|g| g.api == Api::CamaraV2).ok_or_else(|| {
        unauthenticated("Request not authenticated: the access token is unknown, revoked or already used (each token serves one call). A new authentication is required.")
    })?;
    if grant.expires_at.is_some_and(|at| Instant::now() >= at) {
        return Err(unauthenticated(
            "Request not authenticated: the access token has expired. A new authentication is required.",
        ));
    }
    if !has_scope(&grant.scope, operation.scope()) {
        let message = format!(
            "Client does not have sufficient permissions to perform this action: the access token lacks the {} scope.",
            operation.scope()
        );
        return Err(SandboxError::camara(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            message,
        ));
    }
    if grant.fault == Some(Fault::NotNetworkAuth) {
        return Err(SandboxError::camara(
            StatusCode::FORBIDDEN,
            NOT_BY_NETWORK,
            "Client must authenticate via the mobile network to use this service",
        ));
    }
    Ok(grant)
}

/// CAMARA's `HashedPhoneNumber`: `^[a-fA-F0-9]{64}$`.
fn is_hashed_phone_number(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The verify body, checked against CAMARA's `NumberVerificationRequestBody` (exactly
/// one of `phoneNumber` with its `+`, or `hashedPhoneNumber`), and matched with `sim`:
/// whether it matches, and which property was given (for the log; never the value).
/// `Err` is an `INVALID_ARGUMENT` message.
fn verified(body: &[u8], sim: &E164) -> Result<(bool, &'static str), &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "A request body is required: {\"phoneNumber\": \"+<E.164>\"} or {\"hashedPhoneNumber\": \"<SHA-256 hex>\"}.",
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err("The request body is not valid JSON.");
    };
    let Value::Object(map) = value else {
        return Err("The request body must be a JSON object with phoneNumber or hashedPhoneNumber.");
    };
    let (phone, hashed) = (map.get("phoneNumber"), map.get("hashedPhoneNumber"));
    if phone.is_some() && hashed.is_some() {
        return Err("Give either phoneNumber or hashedPhoneNumber, not both.");
    }
    match map.len() {
        0 => return Err("The request body is empty: give phoneNumber or hashedPhoneNumber."),
        1 => {}
        _ => return Err("The request body must have exactly one property: phoneNumber or hashedPhoneNumber."),
    }
    match (phone, hashed) {
        (Some(phone), _) => match phone.as_str().filter(|p| is_phone_number(p)) {
            Some(phone) => Ok((phone == sim.as_str(), "phoneNumber")),
            None => Err(
                "phoneNumber must be a phone number in E.164 format with its leading +, e.g. +99012345678 (^\\+[1-9][0-9]{4,14}$).",
            ),
        },
        (_, Some(hash)) => match hash.as_str().filter(|h| is_hashed_phone_number(h)) {
            Some(hash) => Ok((hash.eq_ignore_ascii_case(&sha256_hex(sim.as_str())), "hashedPhoneNumber")),
            None => Err(
                "hashedPhoneNumber must be the SHA-256 hash of the E.164 phone number with its +, as 64 hexadecimal characters.",
            ),
        },
        (None, None) => Err("Unknown property: the request body takes phoneNumber or hashedPhoneNumber."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::normalise;

    #[test]
    fn correlators() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("x-correlator", HeaderValue::from_static(v));
            read_correlator(&h)
        };
        assert_eq!(read_correlator(&HeaderMap::new()), Ok(None));
        assert_eq!(
            with("b4333c46-49c0-4f62-80d7-f0ef930f1c46").unwrap().as_deref(),
            Some("b4333c46-49c0-4f62-80d7-f0ef930f1c46")
        );
        assert_eq!(with("a_b:c;d.e/f<g>{h}").unwrap().as_deref(), Some("a_b:c;d.e/f<g>{h}"));
        assert_eq!(with("").unwrap().as_deref(), Some(""));
        assert!(with("has space").is_err());
        assert!(with("quote\"").is_err());
        let mut h = HeaderMap::new();
        h.insert("x-correlator", HeaderValue::from_str(&"a".repeat(257)).unwrap());
        assert!(read_correlator(&h).is_err());
        h.insert("x-correlator", HeaderValue::from_str(&"a".repeat(256)).unwrap());
        assert!(read_correlator(&h).is_ok());
        h.append("x-correlator", HeaderValue::from_static("b"));
        assert!(read_correlator(&h).is_err(), "sent twice");
    }

    #[test]
    fn verify_bodies() {
        let sim = normalise("+99012345678").unwrap();
        let hash = sha256_hex("+99012345678");
        let body = |v: Value| v.to_string().into_bytes();
        let check = |v: Value| verified(&body(v), &sim).map(|(verified, _)| verified);
        assert_eq!(
            verified(&body(json!({"phoneNumber": "+99012345678"})), &sim),
            Ok((true, "phoneNumber"))
        );
        assert_eq!(check(json!({"phoneNumber": "+99012345670"})), Ok(false));
        assert_eq!(
            verified(&body(json!({"hashedPhoneNumber": hash})), &sim),
            Ok((true, "hashedPhoneNumber"))
        );
        assert_eq!(check(json!({"hashedPhoneNumber": hash.to_uppercase()})), Ok(true));
        // v2 hashes "+E.164" only.
        assert_eq!(
            check(json!({"hashedPhoneNumber": sha256_hex("99012345678")})),
            Ok(false)
        );
        for bad in [
            "",
            "  ",
            "{",
            "[]",
            "\"+99012345678\"",
            "{}",
            r#"{"additional_property": "foo_value"}"#,
            r#"{"phoneNumber": "+99012345678", "extra": 1}"#,
            r#"{"phoneNumber": "99012345678"}"#,
            r#"{"phoneNumber": 99012345678}"#,
            r#"{"hashedPhoneNumber": "abc"}"#,
        ] {
            assert!(verified(bad.as_bytes(), &sim).is_err(), "{bad}");
        }
        let both = body(json!({"phoneNumber": "+99012345678", "hashedPhoneNumber": hash}));
        assert!(verified(&both, &sim).unwrap_err().contains("not both"));
    }
}
