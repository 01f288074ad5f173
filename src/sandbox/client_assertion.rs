//! Standard CAMARA client authentication: `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9,
//! CAMARA ICM), checked for real against the registered client's public key.
//!
//! Each check has its own refusal text, so that a client author sees which one failed.
//! Unlike the Vonage application JWT, an assertion is single use: its `jti` is remembered
//! until the assertion expires (in a bounded store: under a flood of more than the cap
//! of assertions within their lifetime, the `jti`s closest to expiry are forgotten early).

use std::time::{Duration, Instant};

use jsonwebtoken::{decode, decode_header, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::operator::VirtualOperator;
use crate::support::{ttl_map::WhenFull, unix_now};

/// RFC 7523's client assertion type.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 30;
/// The longest lifetime (`exp - iat`) the CAMARA profile allows.
pub(crate) const MAX_LIFETIME_SECS: u64 = 300;
/// How far ahead the clock is that judges `exp` under the `client-assertion-expired` fault.
pub(crate) const FAULT_CLOCK_AHEAD_SECS: u64 = 600;
/// Longest accepted `jti` (it is stored until the assertion expires).
const MAX_JTI_LEN: usize = 256;

/// The registered client key, from its public PEM: P-256 signs ES256, RSA signs RS256.
pub(crate) fn registered_key(pem: &str) -> Option<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Some((key, Algorithm::ES256));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Some((key, Algorithm::RS256));
    }
    tracing::error!(
        target: "sandbox",
        "the standard CAMARA client's public key does not parse (P-256 or RSA PEM expected); every client assertion will be refused"
    );
    None
}

/// Checks a client assertion sent to the token endpoint `token_endpoint` of the issuer
/// `issuer`, and records its `jti`. `clock_ahead` shifts the clock that judges `exp`
/// (the `client-assertion-expired` fault). `Ok` is the client id; `Err` says which check
/// failed (never echoes the assertion).
pub(crate) fn verify(
    operator: &VirtualOperator,
    assertion: &str,
    issuer: &str,
    token_endpoint: &str,
    clock_ahead: u64,
) -> Result<String, String> {
    let now = unix_now();
    let claims = check_signed(operator, assertion)?;
    check_claims(operator, &claims, issuer, token_endpoint, now, clock_ahead)?;
    let jti = claims["jti"].as_str().unwrap_or_default();
    let exp = claims["exp"].as_u64().unwrap_or(now);
    // Remembered as long as the assertion could be accepted, then forgotten.
    let keep = Duration::from_secs(exp.saturating_sub(now) + LEEWAY_SECS);
    let key = format!("{}\n{jti}", operator.camara_client_id);
    let first_use = operator
        .assertion_jtis
        .insert_new(key, (), Instant::now() + keep, WhenFull::EvictOldest);
    if first_use != Ok(true) {
        return Err(
            "The client assertion was already used (its jti has been seen): sign a new one for every request.".into(),
        );
    }
    Ok(operator.camara_client_id.clone())
}

/// The header and signature: `alg` as the registered key, `kid` (if any) the registered
/// one, the signature by that key. `Ok` is the claims, not yet checked.
fn check_signed(operator: &VirtualOperator, assertion: &str) -> Result<Value, String> {
    let (key, alg) = operator
        .camara_client_key
        .as_ref()
        .ok_or("The operator has no valid public key for this client.")?;
    let header = decode_header(assertion)
        .map_err(|_| "The client assertion is not a signed JWT (header.payload.signature).".to_owned())?;
    if header.alg != *alg {
        return Err(format!(
            "The client assertion's alg is {:?}; the registered key signs {alg:?} (RS256 and ES256 are supported).",
            header.alg
        ));
    }
    if let Some(kid) = header.kid.as_deref() {
        if kid != operator.camara_client_key_id {
            return Err("The client assertion's kid is not the registered key's id.".into());
        }
    }
    let mut validation = Validation::new(*alg);
    // The claims are checked below, by this module's own clock (the fault shifts it).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = decode::<Value>(assertion, key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => {
            "The client assertion's signature does not verify with the registered key.".to_owned()
        }
        ErrorKind::InvalidAlgorithm => format!("The client assertion must be signed with {alg:?}."),
        _ => "The client assertion is not a valid JWT.".to_owned(),
    })?;
    match data.claims {
        Value::Object(_) => Ok(data.claims),
        _ => Err("The client assertion's claims are not a JSON object.".into()),
    }
}

fn check_claims(
    operator: &VirtualOperator,
    claims: &Value,
    issuer: &str,
    token_endpoint: &str,
    now: u64,
    clock_ahead: u64,
) -> Result<(), String> {
    let client_id = operator.camara_client_id.as_str();
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    if iss != Some(client_id) || sub != Some(client_id) {
        return Err("The client assertion's iss and sub must both be the registered client id.".into());
    }
    let aud_ok = |a: &Value| a.as_str().is_some_and(|a| a == token_endpoint || a == issuer);
    let aud = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(aud_ok),
        Some(a) => aud_ok(a),
        None => false,
    };
    if !aud {
        return Err(format!(
            "The client assertion's aud must be (or contain) the token endpoint {token_endpoint}."
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or("The client assertion has no exp claim (seconds since the epoch).")?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or("The client assertion has no iat claim (seconds since the epoch).")?;
    if exp + LEEWAY_SECS < now + clock_ahead {
        return Err("The client assertion has expired (exp).".into());
    }
    if iat > now + LEEWAY_SECS {
        return Err("The client assertion's iat is in the future.".into());
    }
    if exp < iat {
        return Err("The client assertion's exp is before its iat.".into());
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(format!(
            "The client assertion lives too long: exp - iat must be at most {MAX_LIFETIME_SECS} seconds."
        ));
    }
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN && jti.bytes().all(|b| b.is_ascii_graphic()) => Ok(()),
        _ => Err("The client assertion needs a jti claim (a unique id, e.g. a UUID).".into()),
    }
}
