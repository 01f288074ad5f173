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
    let claims = check_signed(operator, assertion, CLIENT_ASSERTION)?;
    check_claims(operator, &claims, issuer, token_endpoint, now, clock_ahead)?;
    remember_jti(operator, &claims, now, CLIENT_ASSERTION)?;
    Ok(operator.camara_client_id.clone())
}

/// Checks the assertion of a JWT-bearer authorization grant (RFC 7523 §2.1, §3; CAMARA
/// ICM): signed with the client's registered key as its client assertions are, `iss` the
/// client, `aud` the token endpoint, `exp` at most [`MAX_LIFETIME_SECS`] after `iat` and
/// after now, a `jti` never seen; records the `jti`. `Ok` is the claims, whose `sub` and
/// `scope` the grant checks; `Err` says which check failed (never echoes the assertion).
pub(crate) fn verify_grant(
    operator: &VirtualOperator,
    assertion: &str,
    issuer: &str,
    token_endpoint: &str,
) -> Result<Value, String> {
    let now = unix_now();
    let claims = check_signed(operator, assertion, GRANT_ASSERTION)?;
    // RFC 7523 §3 item 1: the issuer is the client the operator knows the key of.
    if claims.get("iss").and_then(Value::as_str) != Some(operator.camara_client_id.as_str()) {
        return Err("The assertion's iss must be the registered client id.".into());
    }
    // §3 item 3: the audience is this token endpoint.
    check_aud(&claims, issuer, token_endpoint, GRANT_ASSERTION)?;
    // §3 items 4 and 7, and the CAMARA profile's lifetime.
    check_lifetime(&claims, now, 0, GRANT_ASSERTION)?;
    let exp = claims["exp"].as_u64().unwrap_or(now);
    if exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(format!(
            "The assertion's exp is too far ahead: at most {MAX_LIFETIME_SECS} seconds from now."
        ));
    }
    remember_jti(operator, &claims, now, GRANT_ASSERTION)?;
    Ok(claims)
}

const CLIENT_ASSERTION: &str = "client assertion";
const GRANT_ASSERTION: &str = "assertion";

/// Records the checked assertion's `jti` until the assertion expires; `Err` when it was
/// seen before (RFC 7523 §3 item 7).
fn remember_jti(operator: &VirtualOperator, claims: &Value, now: u64, what: &str) -> Result<(), String> {
    let jti = claims["jti"].as_str().unwrap_or_default();
    let exp = claims["exp"].as_u64().unwrap_or(now);
    // Remembered as long as the assertion could be accepted, then forgotten.
    let keep = Duration::from_secs(exp.saturating_sub(now) + LEEWAY_SECS);
    let key = format!("{}\n{jti}", operator.camara_client_id);
    let first_use = operator
        .assertion_jtis
        .insert_new(key, (), Instant::now() + keep, WhenFull::EvictOldest);
    if first_use != Ok(true) {
        return Err(format!(
            "The {what} was already used (its jti has been seen): sign a new one for every request."
        ));
    }
    Ok(())
}

/// The header and signature: `alg` as the registered key, `kid` (if any) the registered
/// one, the signature by that key. `Ok` is the claims, not yet checked.
fn check_signed(operator: &VirtualOperator, assertion: &str, what: &str) -> Result<Value, String> {
    let (key, alg) = operator
        .camara_client_key
        .as_ref()
        .ok_or("The operator has no valid public key for this client.")?;
    let header =
        decode_header(assertion).map_err(|_| format!("The {what} is not a signed JWT (header.payload.signature)."))?;
    if header.alg != *alg {
        return Err(format!(
            "The {what}'s alg is {:?}; the registered key signs {alg:?} (RS256 and ES256 are supported).",
            header.alg
        ));
    }
    if let Some(kid) = header.kid.as_deref() {
        if kid != operator.camara_client_key_id {
            return Err(format!("The {what}'s kid is not the registered key's id."));
        }
    }
    let mut validation = Validation::new(*alg);
    // The claims are checked below, by this module's own clock (the fault shifts it).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = decode::<Value>(assertion, key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => format!("The {what}'s signature does not verify with the registered key."),
        ErrorKind::InvalidAlgorithm => format!("The {what} must be signed with {alg:?}."),
        _ => format!("The {what} is not a valid JWT."),
    })?;
    match data.claims {
        Value::Object(_) => Ok(data.claims),
        _ => Err(format!("The {what}'s claims are not a JSON object.")),
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
    check_aud(claims, issuer, token_endpoint, CLIENT_ASSERTION)?;
    check_lifetime(claims, now, clock_ahead, CLIENT_ASSERTION)
}

/// `aud` is (or contains) the token endpoint, or the issuer.
fn check_aud(claims: &Value, issuer: &str, token_endpoint: &str, what: &str) -> Result<(), String> {
    let aud_ok = |a: &Value| a.as_str().is_some_and(|a| a == token_endpoint || a == issuer);
    let aud = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(aud_ok),
        Some(a) => aud_ok(a),
        None => false,
    };
    if aud {
        Ok(())
    } else {
        Err(format!(
            "The {what}'s aud must be (or contain) the token endpoint {token_endpoint}."
        ))
    }
}

/// `exp` and `iat` present and sensible, by a clock `clock_ahead` seconds ahead (for
/// `exp`), the lifetime within the CAMARA profile's, and a `jti`.
fn check_lifetime(claims: &Value, now: u64, clock_ahead: u64, what: &str) -> Result<(), String> {
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("The {what} has no exp claim (seconds since the epoch)."))?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("The {what} has no iat claim (seconds since the epoch)."))?;
    if exp + LEEWAY_SECS < now + clock_ahead {
        return Err(format!("The {what} has expired (exp)."));
    }
    if iat > now + LEEWAY_SECS {
        return Err(format!("The {what}'s iat is in the future."));
    }
    if exp < iat {
        return Err(format!("The {what}'s exp is before its iat."));
    }
    if exp - iat > MAX_LIFETIME_SECS {
        return Err(format!(
            "The {what} lives too long: exp - iat must be at most {MAX_LIFETIME_SECS} seconds."
        ));
    }
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN && jti.bytes().all(|b| b.is_ascii_graphic()) => Ok(()),
        _ => Err(format!("The {what} needs a jti claim (a unique id, e.g. a UUID).")),
    }
}
