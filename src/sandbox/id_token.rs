//! The virtual operator's Mobile Connect id_tokens: signed HS256 with the client secret
//! (the default), or RS256 / ES256 with a key of its own published at
//! `GET /.well-known/jwks.json` — and, on request, deliberately wrong, so that the app's
//! checks (OIDC Core §3.1.3.7) can be tested over HTTP.
//!
//! **Simulated id_token** — chosen on the authorize request, like the other simulated
//! conditions (docs/reference.md §5), by the header `X-Sandbox-Id-Token` or else the
//! cookie `sandbox_id_token`; it sticks to the code and the token issued for it. The value
//! is a list of words (comma or space separated, case-insensitive):
//!
//! | word | effect |
//! |---|---|
//! | `hs256` (default), `rs256`, `es256` | the signing algorithm |
//! | `rotate` | the operator rotates its RS256/ES256 keys now, for good: the JWKS publishes the next key beside the old one and every later token is signed with it (the app's cached JWKS lacks its `kid`) |
//! | `alg-none` | an unsigned token (`"alg": "none"`) |
//! | `hs384` | signed HS384 with the client secret (an `alg` the app does not accept) |
//! | `wrong-iss` | `iss` is not this operator |
//! | `wrong-aud` | `aud` and `azp` name another client |
//! | `multi-aud` | `aud` lists this client and another, with no `azp` |
//! | `expired` | `exp` 10 minutes ago |
//! | `iat-future` | `iat` 10 minutes ahead |
//! | `no-iat` | no `iat` |
//! | `bad-signature` | signed with another key (HS256: another secret; RS256/ES256: the other key pair, under the published `kid`) |
//! | `wrong-nonce` | `nonce` is not the authorization's |
//! | `unknown-kid` | a `kid` the JWKS never publishes (RS256 unless `es256` is given) |
//!
//! At most one word of the second group. The key pairs are committed test keys
//! (`sandbox-keys/mc-id-token-*.pem`): public on purpose, like the rest of the sandbox.
//!
//! The standard CAMARA v2.1 operator (`camara_v2/`) signs its id_tokens with the same
//! keys, published at `GET /camara/v2/jwks` too: RS256 unless `es256` is given; `hs256`
//! and `hs384` are refused there (no client secret); `wrong-iss` means "not the
//! `/camara/v2` issuer".

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine;
use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::{device::cookie, operator::VirtualOperator};

pub(crate) const HEADER: &str = "x-sandbox-id-token";
pub(crate) const COOKIE: &str = "sandbox_id_token";

/// Issuer that is not this operator (`wrong-iss`).
const OTHER_ISSUER: &str = "https://issuer.invalid/not-this-operator";
/// Client that is not the requester (`wrong-aud`, `multi-aud`).
const OTHER_CLIENT: &str = "nv-sandbox-other-client";
/// A `kid` never published (`unknown-kid`).
const UNPUBLISHED_KID: &str = "nv-sandbox-unpublished-key";

const RSA_PEMS: [&str; 2] = [
    include_str!("../../sandbox-keys/mc-id-token-rsa-1.pem"),
    include_str!("../../sandbox-keys/mc-id-token-rsa-2.pem"),
];
const EC_PEMS: [&str; 2] = [
    include_str!("../../sandbox-keys/mc-id-token-ec-1.pem"),
    include_str!("../../sandbox-keys/mc-id-token-ec-2.pem"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignAlg {
    Hs256,
    Rs256,
    Es256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defect {
    AlgNone,
    Hs384,
    WrongIss,
    WrongAud,
    MultiAud,
    Expired,
    IatFuture,
    NoIat,
    BadSignature,
    WrongNonce,
    UnknownKid,
}

const DEFECTS: [(&str, Defect); 11] = [
    ("alg-none", Defect::AlgNone),
    ("hs384", Defect::Hs384),
    ("wrong-iss", Defect::WrongIss),
    ("wrong-aud", Defect::WrongAud),
    ("multi-aud", Defect::MultiAud),
    ("expired", Defect::Expired),
    ("iat-future", Defect::IatFuture),
    ("no-iat", Defect::NoIat),
    ("bad-signature", Defect::BadSignature),
    ("wrong-nonce", Defect::WrongNonce),
    ("unknown-kid", Defect::UnknownKid),
];

/// How the id_token of one authorization is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Spec {
    /// `None`: HS256, or RS256 for `unknown-kid`.
    pub alg: Option<SignAlg>,
    pub rotate: bool,
    pub defect: Option<Defect>,
}

impl Spec {
    fn alg(&self) -> SignAlg {
        match (self.alg, self.defect) {
            (Some(alg), _) => alg,
            (None, Some(Defect::UnknownKid)) => SignAlg::Rs256,
            (None, _) => SignAlg::Hs256,
        }
    }
}

/// The simulated id_token of an authorize request. `Err` is an `invalid_request`
/// description.
pub(crate) fn read_spec(headers: &HeaderMap) -> Result<Spec, String> {
    let value = match headers.get(HEADER) {
        Some(v) => v
            .to_str()
            .map_err(|_| "The X-Sandbox-Id-Token header must be plain text.".to_owned())?
            .to_owned(),
        None => match cookie(headers, COOKIE) {
            Some(v) => v,
            None => return Ok(Spec::default()),
        },
    };
    parse_spec(&value)
}

fn parse_spec(value: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    for word in value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        let alg = match word.as_str() {
            "hs256" => Some(SignAlg::Hs256),
            "rs256" => Some(SignAlg::Rs256),
            "es256" => Some(SignAlg::Es256),
            _ => None,
        };
        if let Some(alg) = alg {
            if spec.alg.is_some_and(|a| a != alg) {
                return Err("X-Sandbox-Id-Token / sandbox_id_token names two algorithms.".into());
            }
            spec.alg = Some(alg);
        } else if word == "rotate" {
            spec.rotate = true;
        } else if let Some((_, defect)) = DEFECTS.iter().find(|(name, _)| *name == word) {
            if spec.defect.is_some() {
                return Err("X-Sandbox-Id-Token / sandbox_id_token names more than one defect.".into());
            }
            spec.defect = Some(*defect);
        } else {
            let defects: Vec<&str> = DEFECTS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "Unknown X-Sandbox-Id-Token / sandbox_id_token word; expected hs256, rs256, es256, rotate, or one of: {}.",
                defects.join(", ")
            ));
        }
    }
    Ok(spec)
}

/// One published key pair: the private half signs, the JWK (with its `kid`) is published.
struct KeyPair {
    key: EncodingKey,
    jwk: Jwk,
}

impl KeyPair {
    fn load(pem: &str, alg: Algorithm) -> Result<Self, String> {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .map_err(|e| e.to_string())?;
        let mut jwk = Jwk::from_encoding_key(&key, alg).map_err(|e| e.to_string())?;
        // The RFC 7638 thumbprint: a stable kid that names exactly this key.
        jwk.common.key_id = Some(jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256));
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(Self { key, jwk })
    }

    fn kid(&self) -> &str {
        self.jwk.common.key_id.as_deref().unwrap_or_default()
    }
}

/// The operator's signing keys: the client secret (HS256) and two generations of RSA and
/// P-256 key pairs; the second is published and used once a `rotate` has happened.
pub(crate) struct Signing {
    secret: String,
    /// `None` when a committed key does not load: RS256/ES256 tokens then fail with
    /// `server_error` (logged at start-up).
    rsa: Option<[KeyPair; 2]>,
    ec: Option<[KeyPair; 2]>,
    rotated: AtomicBool,
}

impl Signing {
    pub(crate) fn new(client_secret: &str) -> Self {
        let load = |pems: [&str; 2], alg: Algorithm| -> Option<[KeyPair; 2]> {
            match (KeyPair::load(pems[0], alg), KeyPair::load(pems[1], alg)) {
                (Ok(a), Ok(b)) => Some([a, b]),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(target: "sandbox", ?alg, "the id_token signing key does not load ({e}); {alg:?} id_tokens will fail");
                    None
                }
            }
        };
        Self {
            secret: client_secret.to_owned(),
            rsa: load(RSA_PEMS, Algorithm::RS256),
            ec: load(EC_PEMS, Algorithm::ES256),
            rotated: AtomicBool::new(false),
        }
    }

    fn generation(&self) -> usize {
        usize::from(self.rotated.load(Ordering::SeqCst))
    }

    /// The published keys: the first generation, and the second once rotated.
    pub(crate) fn jwks(&self) -> Value {
        let published = self.generation() + 1;
        let keys: Vec<&Jwk> = [self.rsa.as_ref(), self.ec.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|pairs| pairs.iter().take(published).map(|p| &p.jwk))
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` as `spec` asks (its defect already applied to the claims).
    pub(crate) fn sign(&self, spec: &Spec, claims: &Value) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        match spec.defect {
            Some(Defect::AlgNone) => {
                let head = b64.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
                return Ok(format!("{head}.{}.", b64.encode(claims.to_string())));
            }
            Some(Defect::Hs384) => {
                let key = EncodingKey::from_secret(self.secret.as_bytes());
                return jsonwebtoken::encode(&Header::new(Algorithm::HS384), claims, &key).map_err(|e| e.to_string());
            }
            _ => {}
        }
        let bad_signature = spec.defect == Some(Defect::BadSignature);
        let (alg, pairs) = match spec.alg() {
            SignAlg::Hs256 => {
                let secret = if bad_signature {
                    format!("{}-not-the-secret", self.secret)
                } else {
                    self.secret.clone()
                };
                let key = EncodingKey::from_secret(secret.as_bytes());
                return jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).map_err(|e| e.to_string());
            }
            SignAlg::Rs256 => (Algorithm::RS256, self.rsa.as_ref()),
            SignAlg::Es256 => (Algorithm::ES256, self.ec.as_ref()),
        };
        let pairs = pairs.ok_or_else(|| format!("no {alg:?} key loaded"))?;
        if spec.rotate && !self.rotated.swap(true, Ordering::SeqCst) {
            tracing::info!(target: "sandbox", "id_token: signing keys rotated (the JWKS now publishes the next keys)");
        }
        let current = &pairs[self.generation()];
        // A bad signature: the other generation's key, under the current (published) kid.
        let signer = if bad_signature {
            &pairs[1 - self.generation()]
        } else {
            current
        };
        let mut header = Header::new(alg);
        header.kid = Some(if spec.defect == Some(Defect::UnknownKid) {
            UNPUBLISHED_KID.to_owned()
        } else {
            current.kid().to_owned()
        });
        jsonwebtoken::encode(&header, claims, &signer.key).map_err(|e| e.to_string())
    }
}

/// The claims of an id_token for `client_id`, with `spec`'s defect applied.
pub(crate) fn claims(
    spec: &Spec,
    issuer: &str,
    client_id: &str,
    sub: &str,
    nonce: Option<&str>,
    now: u64,
    ttl: u64,
) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "aud": client_id,
        "azp": client_id,
        "sub": sub,
        "nonce": nonce,
        "iat": now,
        "auth_time": now,
        "exp": now + ttl,
        "acr": "2",
        "amr": ["SIM_OK"],
    });
    match spec.defect {
        Some(Defect::WrongIss) => claims["iss"] = json!(OTHER_ISSUER),
        Some(Defect::WrongAud) => {
            claims["aud"] = json!(OTHER_CLIENT);
            claims["azp"] = json!(OTHER_CLIENT);
        }
        Some(Defect::MultiAud) => {
            claims["aud"] = json!([client_id, OTHER_CLIENT]);
            if let Some(c) = claims.as_object_mut() {
                c.remove("azp");
            }
        }
        Some(Defect::Expired) => {
            claims["iat"] = json!(now.saturating_sub(1200));
            claims["auth_time"] = json!(now.saturating_sub(1200));
            claims["exp"] = json!(now.saturating_sub(600));
        }
        Some(Defect::IatFuture) => claims["iat"] = json!(now + 600),
        Some(Defect::NoIat) => {
            if let Some(c) = claims.as_object_mut() {
                c.remove("iat");
            }
        }
        Some(Defect::WrongNonce) => claims["nonce"] = json!("not-the-nonce-of-this-authorization"),
        _ => {}
    }
    claims
}

/// `GET /.well-known/jwks.json` — the operator's public signing keys.
pub(crate) async fn jwks(State(operator): State<Arc<VirtualOperator>>) -> Response {
    tracing::info!(target: "sandbox", "jwks: served");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        operator.signing.jwks().to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_nonsense() {
        assert_eq!(parse_spec("").unwrap(), Spec::default());
        assert_eq!(
            parse_spec("ES256, rotate").unwrap(),
            Spec {
                alg: Some(SignAlg::Es256),
                rotate: true,
                defect: None
            }
        );
        assert_eq!(parse_spec("unknown-kid").unwrap().alg(), SignAlg::Rs256);
        assert_eq!(parse_spec("expired").unwrap().alg(), SignAlg::Hs256);
        assert!(parse_spec("rs256 es256").unwrap_err().contains("two algorithms"));
        assert!(parse_spec("expired wrong-iss").unwrap_err().contains("more than one"));
        assert!(parse_spec("bogus").unwrap_err().contains("alg-none"));
    }

    #[test]
    fn the_jwks_grows_on_rotation_and_tokens_follow() {
        let signing = Signing::new("secret");
        let kids = |s: &Signing| -> Vec<String> {
            s.jwks()["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(kids(&signing).len(), 2, "one RSA and one EC key");
        let claims = json!({"sub": "s"});
        let rs = Spec {
            alg: Some(SignAlg::Rs256),
            ..Spec::default()
        };
        let before = jsonwebtoken::decode_header(signing.sign(&rs, &claims).unwrap()).unwrap();
        assert!(kids(&signing).contains(&before.kid.unwrap()));
        let rotate = Spec { rotate: true, ..rs };
        let after = jsonwebtoken::decode_header(signing.sign(&rotate, &claims).unwrap()).unwrap();
        let after_kid = after.kid.unwrap();
        assert_eq!(kids(&signing).len(), 4, "old and new keys are published");
        assert!(kids(&signing).contains(&after_kid));
        let later = jsonwebtoken::decode_header(signing.sign(&rs, &claims).unwrap()).unwrap();
        assert_eq!(later.kid.unwrap(), after_kid, "the new key signs from now on");
    }
}
