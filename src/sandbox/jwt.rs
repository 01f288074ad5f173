//! The Vonage application JWT, checked for real: RS256 against the registered
//! application's public key, `application_id`, `iat`, `exp`, `jti`. Reusable until it
//! expires (no `jti` replay rule, as with Vonage).

use axum::http::HeaderMap;
use jsonwebtoken::{decode, errors::ErrorKind, Algorithm, Validation};
use serde_json::Value;

use super::{operator::VirtualOperator, respond::bearer};
use crate::support::unix_now;

/// Clock skew tolerated on `iat` and `exp`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 30;

/// Checks the `Authorization: Bearer <application JWT>` of a request. `Ok` is the
/// application id; `Err` says why it is refused (never echoes the token).
pub(crate) fn verify_application_jwt(operator: &VirtualOperator, headers: &HeaderMap) -> Result<String, &'static str> {
    let token = bearer(headers).ok_or("Send Authorization: Bearer <application JWT>.")?;
    verify(operator, token)
}

pub(crate) fn verify(operator: &VirtualOperator, token: &str) -> Result<String, &'static str> {
    let key = operator
        .vonage_key
        .as_ref()
        .ok_or("The sandbox has no valid public key for its Vonage application.")?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    let data = decode::<Value>(token, key, &validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => "The application JWT has expired.",
        ErrorKind::InvalidSignature => {
            "The application JWT's signature does not verify with the application's public key."
        }
        ErrorKind::InvalidAlgorithm => "The application JWT must be signed with RS256.",
        ErrorKind::MissingRequiredClaim(_) => "The application JWT has no exp claim.",
        ErrorKind::ImmatureSignature => "The application JWT is not valid yet (nbf).",
        ErrorKind::InvalidClaimFormat(_) => "The application JWT has a claim of the wrong type.",
        _ => "The bearer token is not a valid application JWT.",
    })?;
    let claims = data.claims;
    let application_id = claims
        .get("application_id")
        .and_then(Value::as_str)
        .ok_or("The application JWT has no application_id claim.")?;
    if application_id != operator.vonage_application_id {
        return Err("The application JWT's application_id is not a registered application.");
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or("The application JWT has no iat claim (seconds since the epoch).")?;
    if iat > unix_now() + LEEWAY_SECS {
        return Err("The application JWT's iat is in the future.");
    }
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 && jti.bytes().all(|b| b.is_ascii_graphic()) => {}
        _ => return Err("The application JWT needs a jti claim (a unique id, e.g. a UUID)."),
    }
    Ok(application_id.to_owned())
}
