//! The phone-number credential: what a TS.43 wallet answers through the browser's Digital
//! Credentials API (OpenID4VP over `dc_api`), checked before its operator token is used.
//!
//! The answer is an SD-JWT presentation `IssuerJWT~[Disclosure~]*KB-JWT` (SD-JWT, RFC 9901):
//! - the issuer JWT (`typ: dc-authorization+sd-jwt`) is signed by the key of the first
//!   certificate of its `x5c`, which must chain to `TS43_TRUST_ANCHORS` ([`x5c`]); it names
//!   the credential type (`vct`), its expiry, and the holder's key (`cnf.jwk`);
//! - the key-binding JWT (`typ: kb+jwt`) is signed by that holder key and binds the answer
//!   to this request: `aud` is this page's origin, `nonce` the request's, `sd_hash` the
//!   digest of everything before it (RFC 9901 §4.3);
//! - the operator token travels encrypted (`encrypted_credential`, [`jwe`]) to an ephemeral
//!   key this server made for the one request, with the carrier's MCC+MNC beside it
//!   (`carrier_hint`). Wallets put both in the key-binding JWT; a disclosed claim of the
//!   same name is read too.
//!
//! A nonce is used once because the pending verification that holds it is taken once.

pub mod aggregator;
pub mod jwe;
pub mod x5c;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{jwk::Jwk, Algorithm, DecodingKey, Validation};
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use aggregator::{browser_request, Ts43Settings};
pub use jwe::EphemeralKey;
pub use x5c::TrustAnchors;

use crate::support::{constant_time_eq, redacted::Secret};

/// The credential type that verifies a number (CAMARA Operator Token Acquisition; the
/// one a wallet offers for `number-verification/verify`).
pub const VCT_VERIFY: &str = "number-verification/verify/ts43";
/// The credential format the request asks for.
pub const FORMAT: &str = "dc-authorization+sd-jwt";
/// How far a key-binding JWT's `iat` may be from now (RFC 9901 §7.3 leaves the window to
/// the verifier; a person answers the browser's prompt within minutes).
const KB_JWT_WINDOW_SECS: u64 = 5 * 60;
/// The longest presentation read; a real one is a few kilobytes.
const MAX_PRESENTATION: usize = 64 * 1024;

/// Why a credential was refused: each a stable class for logs and the page, never with
/// any of the credential's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential is malformed: {0}")]
    Malformed(&'static str),
    #[error("the credential uses what this server does not accept: {0}")]
    Unsupported(&'static str),
    #[error("the credential's issuer is not trusted: {0}")]
    Untrusted(&'static str),
    #[error("the credential does not verify: {0}")]
    Invalid(&'static str),
}

impl CredentialError {
    /// A stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::Malformed(_) => "credential_malformed",
            CredentialError::Unsupported(_) => "credential_unsupported",
            CredentialError::Untrusted(_) => "credential_untrusted",
            CredentialError::Invalid(_) => "credential_invalid",
        }
    }
}

/// What the presentation must be bound to: this request's nonce and ephemeral key, and
/// the origin of the page that asked.
pub struct Expected<'a> {
    pub nonce: &'a str,
    pub origin: &'a str,
    pub key: &'a EphemeralKey,
}

/// What a verified credential yields: the operator's single-use token for the JWT-bearer
/// grant (`operatortoken:<token>`), and the carrier that issued it.
pub struct OperatorToken {
    pub token: Secret,
    /// MCC+MNC, e.g. `310250`, when the wallet gave it.
    pub carrier_hint: Option<String>,
}

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorToken(…, carrier {:?})", self.carrier_hint)
    }
}

#[derive(Deserialize)]
struct IssuerClaims {
    vct: String,
    cnf: Confirmation,
    #[serde(default, rename = "_sd")]
    sd: Vec<String>,
    #[serde(default, rename = "_sd_alg")]
    sd_alg: Option<String>,
}

#[derive(Deserialize)]
struct Confirmation {
    jwk: Jwk,
}

#[derive(Deserialize)]
struct KeyBindingClaims {
    iat: u64,
    aud: String,
    nonce: String,
    sd_hash: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct SealedToken {
    temp_token: String,
    #[serde(default)]
    carrier_hint: Option<String>,
}

/// Verifies a presentation against `anchors` and `expected`, at `now` (Unix seconds).
pub fn verify(
    presentation: &str,
    anchors: &TrustAnchors,
    expected: &Expected<'_>,
    now: u64,
) -> Result<OperatorToken, CredentialError> {
    if presentation.len() > MAX_PRESENTATION {
        return Err(CredentialError::Malformed("the presentation is too long"));
    }
    // RFC 9901 §4: everything up to the last `~` is the SD-JWT; after it, the KB-JWT.
    let Some(split) = presentation.rfind('~') else {
        return Err(CredentialError::Malformed("the presentation has no key-binding JWT"));
    };
    let (sd_jwt, kb_jwt) = (&presentation[..=split], &presentation[split + 1..]);
    let mut parts = sd_jwt[..sd_jwt.len() - 1].split('~');
    let issuer_jwt = parts.next().unwrap_or_default();
    let disclosures: Vec<&str> = parts.collect();
    if kb_jwt.is_empty() {
        return Err(CredentialError::Malformed("the presentation has no key-binding JWT"));
    }

    let issuer = issuer_claims(issuer_jwt, anchors, now)?;
    let disclosed = disclosed_claims(&issuer, &disclosures)?;
    let holder = DecodingKey::from_jwk(&issuer.cnf.jwk)
        .map_err(|_| CredentialError::Malformed("the holder key (cnf.jwk) is not a usable JWK"))?;
    let binding = key_binding(kb_jwt, &holder, sd_jwt, expected, now)?;

    let field = |name: &str| {
        binding
            .rest
            .get(name)
            .or_else(|| disclosed.get(name))
            .and_then(Value::as_str)
    };
    let sealed = field("encrypted_credential").ok_or(CredentialError::Malformed("no encrypted_credential"))?;
    let plaintext = expected.key.decrypt(sealed)?;
    let opened: SealedToken = serde_json::from_slice(&plaintext)
        .map_err(|_| CredentialError::Malformed("the decrypted credential is not {temp_token}"))?;
    if opened.temp_token.is_empty() {
        return Err(CredentialError::Malformed("the operator token is empty"));
    }
    let carrier_hint = field("carrier_hint").map(str::to_owned).or(opened.carrier_hint);
    if carrier_hint.as_deref().is_some_and(|c| !is_mcc_mnc(c)) {
        return Err(CredentialError::Malformed("carrier_hint is not an MCC+MNC"));
    }
    Ok(OperatorToken {
        token: Secret::new(opened.temp_token),
        carrier_hint,
    })
}

/// The issuer JWT: its header (`typ`, ES256, `x5c` to an anchor), then its signature by
/// the chain's leaf, its expiry and its type.
fn issuer_claims(jwt: &str, anchors: &TrustAnchors, now: u64) -> Result<IssuerClaims, CredentialError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| CredentialError::Malformed("the issuer JWT's header"))?;
    if header.typ.as_deref() != Some(FORMAT) {
        return Err(CredentialError::Malformed(
            "the issuer JWT's typ is not dc-authorization+sd-jwt",
        ));
    }
    if header.alg != Algorithm::ES256 {
        return Err(CredentialError::Unsupported("the issuer JWT is not ES256"));
    }
    let x5c = header
        .x5c
        .ok_or(CredentialError::Untrusted("the issuer JWT has no x5c"))?;
    let leaf = decoding_key(&anchors.verify(&x5c, now)?)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_aud = false;
    validation.leeway = 30;
    let claims: IssuerClaims = jsonwebtoken::decode(jwt, &leaf, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => CredentialError::Invalid("the credential has expired"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                CredentialError::Invalid("the issuer JWT's signature does not verify")
            }
            _ => CredentialError::Malformed("the issuer JWT's claims"),
        })?
        .claims;
    if claims.vct != VCT_VERIFY {
        return Err(CredentialError::Invalid(
            "the credential is not a number-verification credential",
        ));
    }
    if claims.sd_alg.as_deref().is_some_and(|alg| alg != "sha-256") {
        return Err(CredentialError::Unsupported("_sd_alg is not sha-256"));
    }
    Ok(claims)
}

/// RFC 9901 §7.1: every disclosure's digest is among the issuer's `_sd`, at most once;
/// its name and value become a claim.
fn disclosed_claims(issuer: &IssuerClaims, disclosures: &[&str]) -> Result<Map<String, Value>, CredentialError> {
    let mut claims = Map::new();
    let mut seen = std::collections::BTreeSet::new();
    for disclosure in disclosures {
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(disclosure.as_bytes()));
        if !issuer.sd.contains(&digest) || !seen.insert(digest) {
            return Err(CredentialError::Invalid("a disclosure is not one the issuer signed"));
        }
        let decoded: Value = URL_SAFE_NO_PAD
            .decode(disclosure)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(CredentialError::Malformed("a disclosure does not decode"))?;
        let Some([_salt, Value::String(name), value]) = decoded.as_array().map(Vec::as_slice) else {
            return Err(CredentialError::Malformed("a disclosure is not [salt, name, value]"));
        };
        if name == "_sd" || name == "..." || claims.contains_key(name) {
            return Err(CredentialError::Malformed(
                "a disclosure names a reserved or repeated claim",
            ));
        }
        claims.insert(name.clone(), value.clone());
    }
    Ok(claims)
}

/// RFC 9901 §7.3: the key-binding JWT is signed by the holder key, its `sd_hash` is the
/// digest of the SD-JWT it follows, and it is for this origin, this nonce, and now.
fn key_binding(
    jwt: &str,
    holder: &DecodingKey,
    sd_jwt: &str,
    expected: &Expected<'_>,
    now: u64,
) -> Result<KeyBindingClaims, CredentialError> {
    let header =
        jsonwebtoken::decode_header(jwt).map_err(|_| CredentialError::Malformed("the key-binding JWT's header"))?;
    if header.typ.as_deref() != Some("kb+jwt") {
        return Err(CredentialError::Malformed("the key-binding JWT's typ is not kb+jwt"));
    }
    if header.alg != Algorithm::ES256 {
        return Err(CredentialError::Unsupported("the key-binding JWT is not ES256"));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims: KeyBindingClaims = jsonwebtoken::decode(jwt, holder, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                CredentialError::Invalid("the key-binding JWT is not signed by the holder key")
            }
            _ => CredentialError::Malformed("the key-binding JWT's claims"),
        })?
        .claims;
    let sd_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(sd_jwt.as_bytes()));
    if !constant_time_eq(claims.sd_hash.as_bytes(), sd_hash.as_bytes()) {
        return Err(CredentialError::Invalid("sd_hash does not match the presentation"));
    }
    if claims.aud != expected.origin {
        return Err(CredentialError::Invalid("the key-binding JWT is for another origin"));
    }
    if !constant_time_eq(claims.nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(CredentialError::Invalid(
            "the key-binding JWT answers another request (nonce)",
        ));
    }
    if claims.iat.abs_diff(now) > KB_JWT_WINDOW_SECS {
        return Err(CredentialError::Invalid("the key-binding JWT was not made now"));
    }
    Ok(claims)
}

fn decoding_key(key: &VerifyingKey) -> Result<DecodingKey, CredentialError> {
    let point = key.to_encoded_point(false);
    let encode = |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.map(|c| c.to_vec()).unwrap_or_default());
    DecodingKey::from_ec_components(&encode(point.x()), &encode(point.y()))
        .map_err(|_| CredentialError::Unsupported("the issuer's key"))
}

/// Three-digit MCC and two- or three-digit MNC.
fn is_mcc_mnc(value: &str) -> bool {
    (5..=6).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
