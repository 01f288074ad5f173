//! The signature on every POST this service makes to an integrator's own endpoint (signed
//! events, the one-time-code hook): `Authorization: Bearer <JWT>`, HS256 under a shared
//! secret (RFC 7518 §3.2), with claims `iat`, `exp`, `jti` and `payload_hash`, the
//! lowercase hex SHA-256 of the exact body bytes. A receiver checks the MAC, `exp`, that
//! `payload_hash` matches what it read, and remembers `jti`s for their lifetime to refuse
//! a replay.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long a signature is good for: long enough for a slow receiver, short enough that
/// a captured request is soon useless.
pub const SIGNATURE_TTL: Duration = Duration::from_secs(5 * 60);

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BodyClaims {
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub payload_hash: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a valid HS256 JWT under this secret: {0}")]
    Invalid(String),
    #[error("payload_hash does not match the body")]
    BodyChanged,
}

/// The `Authorization` header value for `body` under `secret`.
pub fn authorization(body: &[u8], secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
    let iat = super::unix_now();
    let claims = BodyClaims {
        iat,
        exp: iat + SIGNATURE_TTL.as_secs(),
        jti: super::random_token(),
        payload_hash: payload_hash(body),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )?;
    Ok(format!("Bearer {token}"))
}

/// What a receiver does: the claims of a valid signature over exactly `body`.
pub fn verify(authorization: Option<&str>, body: &[u8], secret: &[u8]) -> Result<BodyClaims, SignatureError> {
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(SignatureError::Missing)?;
    // HS256 only: a receiver must never let the token choose its algorithm (RFC 8725 §3.1).
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat"]);
    validation.leeway = 30;
    let claims = jsonwebtoken::decode::<BodyClaims>(token, &DecodingKey::from_secret(secret), &validation)
        .map_err(|e| SignatureError::Invalid(e.to_string()))?
        .claims;
    let expected = payload_hash(body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        claims.payload_hash.as_bytes(),
        expected.as_bytes(),
    )) {
        return Err(SignatureError::BodyChanged);
    }
    Ok(claims)
}

/// Lowercase hex SHA-256 of the body bytes.
pub fn payload_hash(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signature_covers_exactly_its_body() {
        let body = br#"{"id":"1"}"#;
        let header = authorization(body, SECRET).unwrap();
        let claims = verify(Some(&header), body, SECRET).unwrap();
        assert_eq!(claims.payload_hash, payload_hash(body));
        assert_eq!(claims.exp - claims.iat, SIGNATURE_TTL.as_secs());
        assert_eq!(claims.jti.len(), 32);
        assert_eq!(
            verify(Some(&header), br#"{"id":"2"}"#, SECRET),
            Err(SignatureError::BodyChanged)
        );
        assert!(matches!(
            verify(Some(&header), body, b"another secret, another secret!!"),
            Err(SignatureError::Invalid(_))
        ));
        assert_eq!(verify(None, body, SECRET), Err(SignatureError::Missing));
        assert_eq!(verify(Some("Basic x"), body, SECRET), Err(SignatureError::Missing));
    }

    #[test]
    fn another_algorithm_is_refused() {
        let claims = BodyClaims {
            iat: crate::support::unix_now(),
            exp: crate::support::unix_now() + 60,
            jti: "j".into(),
            payload_hash: payload_hash(b"x"),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(matches!(
            verify(Some(&format!("Bearer {token}")), b"x", SECRET),
            Err(SignatureError::Invalid(_))
        ));
    }
}
