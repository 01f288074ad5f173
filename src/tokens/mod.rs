//! The tokens this service signs as an OpenID Provider: id_tokens for relying parties,
//! access tokens for `/userinfo`, and the verification token of the mobile-app API.
//!
//! Keys come from `OIDC_SIGNING_KEYS` (the sandbox key in sandbox mode): the first signs,
//! all are published at `jwks_uri`, so a key can be rotated without downtime — add the
//! new key first once it has been published for a while, keep the old one until every
//! token it signed has expired. Verification checks a token against every published key.

pub mod claims;

use jsonwebtoken::{
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
    Algorithm, DecodingKey, Header, Validation,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::operators::SigningKey;

pub use claims::{AccessClaims, IdTokenClaims, Subject, Verdict, VerificationClaims};

/// Every token lives five minutes: long enough for a relying party to redeem and check
/// it, short enough that a leaked one is soon worthless.
pub const TOKEN_LIFETIME_SECS: u64 = 5 * 60;

/// `typ` of the access tokens (RFC 9068 §2.1), so one is never taken for an id_token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of the mobile-app API's verification token: never an id_token or access token.
pub const VERIFICATION_TOKEN_TYP: &str = "verification+jwt";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing key {kid} cannot be published as a JWK: {reason}")]
    Unpublishable { kid: String, reason: String },
    #[error("two signing keys share the key id {0}")]
    DuplicateKid(String),
    #[error("no signing key")]
    NoKey,
    #[error("signing failed: {0}")]
    Signing(String),
    /// A token this service did not sign, or no longer accepts (expired, wrong `typ`).
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

struct PublishedKey {
    kid: String,
    key: SigningKey,
    jwk: Jwk,
    decoding: DecodingKey,
}

/// The provider's signing keys, current first.
pub struct TokenKeys {
    keys: Vec<PublishedKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| (&k.kid, k.key.alg())).collect();
        f.debug_struct("TokenKeys").field("keys", &kids).finish()
    }
}

impl TokenKeys {
    /// `(kid, key)` pairs, the one that signs first.
    pub fn new(keys: Vec<(String, SigningKey)>) -> Result<Self, TokenError> {
        if keys.is_empty() {
            return Err(TokenError::NoKey);
        }
        let mut published: Vec<PublishedKey> = Vec::with_capacity(keys.len());
        for (kid, key) in keys {
            if published.iter().any(|p| p.kid == kid) {
                return Err(TokenError::DuplicateKid(kid));
            }
            let unpublishable = |reason: String| TokenError::Unpublishable {
                kid: kid.clone(),
                reason,
            };
            let mut jwk = key.public_jwk().map_err(|e| unpublishable(e.to_string()))?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(match key.alg() {
                Algorithm::ES256 => KeyAlgorithm::ES256,
                _ => KeyAlgorithm::RS256,
            });
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| unpublishable(e.to_string()))?;
            published.push(PublishedKey {
                kid,
                key,
                jwk,
                decoding,
            });
        }
        Ok(Self { keys: published })
    }

    /// The JWK Set published at `jwks_uri`: every key, public halves only.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// The algorithms the keys sign with (discovery's
    /// `id_token_signing_alg_values_supported`).
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs = Vec::new();
        for key in &self.keys {
            let alg = match key.key.alg() {
                Algorithm::ES256 => "ES256",
                _ => "RS256",
            };
            if !algs.contains(&alg) {
                algs.push(alg);
            }
        }
        algs
    }

    /// The key id that signs now.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// `claims` signed with the current key, its `kid` and `typ` in the header.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, TokenError> {
        let current = &self.keys[0];
        let mut header: Header = current.key.header();
        header.kid = Some(current.kid.clone());
        header.typ = Some(typ.to_owned());
        current
            .key
            .sign(&header, claims)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// A token this service signed with any published key, of type `typ`, issued by
    /// `issuer`, unexpired: its claims. The audience is the caller's to check.
    pub fn verify<C: DeserializeOwned>(&self, token: &str, typ: &str, issuer: &str) -> Result<C, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.typ.as_deref() != Some(typ) {
            return Err(TokenError::Invalid("not a token of this kind".into()));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.iter().find(|k| k.kid == kid))
            .ok_or_else(|| TokenError::Invalid("signed by no key published here".into()))?;
        let mut validation = Validation::new(key.key.alg());
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss"]);
        jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox_contract::oidc;

    fn keys() -> TokenKeys {
        let current = SigningKey::ec_or_rsa_from_pem(oidc::SIGNING_KEY).unwrap();
        let rsa = SigningKey::ec_or_rsa_from_pem(crate::sandbox_contract::credentials::VONAGE_PRIVATE_KEY).unwrap();
        TokenKeys::new(vec![("a".into(), current), ("b".into(), rsa)]).unwrap()
    }

    #[test]
    fn every_key_is_published_with_its_kid_and_only_its_public_half() {
        let keys = keys();
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "a");
        assert_eq!(jwks["keys"][0]["kty"], "EC");
        assert_eq!(jwks["keys"][0]["alg"], "ES256");
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");
        assert_eq!(jwks["keys"][1]["kty"], "RSA");
        assert!(jwks["keys"][1].get("d").is_none(), "{jwks}");
        assert_eq!(keys.algorithms(), ["ES256", "RS256"]);
    }

    #[test]
    fn a_signed_token_verifies_by_kid_and_type_only() {
        let keys = keys();
        let claims = serde_json::json!({"iss": "https://i.example", "exp": crate::support::unix_now() + 60});
        let token = keys.sign(ACCESS_TOKEN_TYP, &claims).unwrap();
        let read: serde_json::Value = keys.verify(&token, ACCESS_TOKEN_TYP, "https://i.example").unwrap();
        assert_eq!(read, claims);
        assert!(keys
            .verify::<serde_json::Value>(&token, VERIFICATION_TOKEN_TYP, "https://i.example")
            .is_err());
        assert!(keys
            .verify::<serde_json::Value>(&token, ACCESS_TOKEN_TYP, "https://other.example")
            .is_err());
        let same = SigningKey::ec_or_rsa_from_pem(crate::sandbox_contract::oidc::SIGNING_KEY).unwrap();
        assert!(matches!(
            TokenKeys::new(vec![("a".into(), same.clone()), ("a".into(), same)]),
            Err(TokenError::DuplicateKid(_))
        ));
    }
}
