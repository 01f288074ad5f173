//! The operator's signing keys (JWKS, RFC 7517) for RS256/ES256 id_tokens: fetched from
//! `MC_JWKS_URL` (Mobile Connect) or the discovered `jwks_uri` (standard CAMARA) through
//! the operator HTTP client, cached, and fetched again when a token
//! names a `kid` the cache does not hold (the operator rotated its keys) — at most once
//! per [`REFETCH_INTERVAL`], so tokens with made-up `kid`s cannot make us hammer the
//! operator. The cache is also renewed after [`MAX_AGE`].

use std::time::{Duration, Instant};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
    Algorithm, DecodingKey,
};
use serde_json::Value;
use url::Url;

use super::{read_bounded, status_failure, OperatorFailure};

/// At most one fetch for an unknown `kid` per this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again before use.
pub const MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// A JWKS larger than this is refused (a few keys take a few kilobytes).
pub const MAX_BYTES: usize = 64 * 1024;
/// Keys kept from one JWKS; the rest are ignored.
pub const MAX_KEYS: usize = 32;

/// How one operator's JWKS is named in failures and logs.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The step of fetching the keys.
    pub jwks: &'static str,
    /// The step of checking an id_token with them.
    pub id_token: &'static str,
    /// What configures the URL, for the refusal when there is none.
    pub url_variable: &'static str,
}

pub const MOBILE_CONNECT: Names = Names {
    jwks: "Mobile Connect JWKS",
    id_token: "Mobile Connect id_token",
    url_variable: "MC_JWKS_URL",
};

pub struct JwksCache {
    http: reqwest::Client,
    names: Names,
    /// `None`: `MC_JWKS_URL` is not set, so only HS256 id_tokens can be verified.
    url: Option<Url>,
    /// Held across a fetch, so concurrent verifications wait for one fetch.
    cache: tokio::sync::Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: Vec<Jwk>,
    fetched_at: Option<Instant>,
    /// When a fetch was last made because of an unknown `kid`.
    refetched_at: Option<Instant>,
}

impl JwksCache {
    pub fn new(http: reqwest::Client, url: Option<Url>, names: Names) -> Self {
        Self {
            http,
            names,
            url,
            cache: tokio::sync::Mutex::new(Cached::default()),
        }
    }

    /// The key that verifies an id_token signed with `alg` (RS256 or ES256) under `kid`.
    pub async fn key(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, OperatorFailure> {
        let refused = |reason: String| OperatorFailure::Refused {
            step: self.names.id_token,
            reason,
        };
        let Some(url) = &self.url else {
            return Err(refused(format!(
                "id_token is signed with {alg:?}, which needs the operator's keys, and {} is not set",
                self.names.url_variable
            )));
        };
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched_at.is_none_or(|at| at.elapsed() >= MAX_AGE);
        if stale {
            self.fetch(url, &mut cache).await?;
        }
        match find(&cache.keys, alg, kid) {
            Found::Key(key) => return Ok(key),
            Found::Unusable(reason) => return Err(refused(reason)),
            Found::Missing(_) if stale || kid.is_none() => {}
            Found::Missing(_) => {
                // An unknown kid: the operator may have rotated its keys since we fetched.
                if let Some(at) = cache.refetched_at.filter(|at| at.elapsed() < REFETCH_INTERVAL) {
                    return Err(refused(format!(
                        "id_token kid is not in the operator's JWKS, which was fetched again {} s ago \
                         (at most once per {} s)",
                        at.elapsed().as_secs(),
                        REFETCH_INTERVAL.as_secs()
                    )));
                }
                cache.refetched_at = Some(Instant::now());
                tracing::info!(alg = ?alg, step = self.names.id_token, "id_token kid unknown: fetching the operator's JWKS again");
                self.fetch(url, &mut cache).await?;
            }
        }
        match find(&cache.keys, alg, kid) {
            Found::Key(key) => Ok(key),
            Found::Unusable(reason) | Found::Missing(reason) => Err(refused(reason)),
        }
    }

    async fn fetch(&self, url: &Url, cache: &mut Cached) -> Result<(), OperatorFailure> {
        let response = super::send(self.names.jwks, self.http.get(url.clone())).await?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(status_failure(self.names.jwks, status, response).await);
        }
        let malformed = |reason: &str| OperatorFailure::Malformed {
            step: self.names.jwks,
            reason: reason.into(),
        };
        let body = read_bounded(self.names.jwks, response, MAX_BYTES).await?;
        let keys = parse(&body).map_err(|reason| malformed(&reason))?;
        tracing::info!(keys = keys.len(), step = self.names.jwks, "fetched the operator's JWKS");
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

/// The keys of a JWKS document that parse; one odd key (a type we do not know) does not
/// spoil the others.
fn parse(body: &[u8]) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let list = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
    Ok(list
        .iter()
        .take(MAX_KEYS)
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect())
}

enum Found {
    Key(DecodingKey),
    /// The key named by `kid` exists but may not verify this `alg`.
    Unusable(String),
    Missing(String),
}

/// The key for `alg` named by `kid`; without a `kid`, the one key that fits `alg` (OIDC
/// Core §10.1 lets an operator with a single key omit it).
fn find(keys: &[Jwk], alg: Algorithm, kid: Option<&str>) -> Found {
    let jwk = match kid {
        Some(kid) => match keys.iter().find(|k| k.common.key_id.as_deref() == Some(kid)) {
            Some(jwk) => jwk,
            None => return Found::Missing("id_token kid is not in the operator's JWKS".into()),
        },
        None => {
            let fitting: Vec<&Jwk> = keys.iter().filter(|k| fits(k, alg).is_ok()).collect();
            match fitting.as_slice() {
                [one] => *one,
                [] => return Found::Missing(format!("the operator's JWKS has no {alg:?} key")),
                _ => {
                    return Found::Unusable(format!(
                        "id_token has no kid and the operator's JWKS has {} {alg:?} keys",
                        fitting.len()
                    ))
                }
            }
        }
    };
    if let Err(reason) = fits(jwk, alg) {
        return Found::Unusable(reason);
    }
    match DecodingKey::from_jwk(jwk) {
        Ok(key) => Found::Key(key),
        Err(_) => Found::Unusable("the operator's JWKS key for this kid does not decode".into()),
    }
}

/// Whether `jwk` may verify a signature made with `alg`: a signing key (`use`, if given),
/// declared for this `alg` (if it says), of the right type and curve.
fn fits(jwk: &Jwk, alg: Algorithm) -> Result<(), String> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return Err("the operator's JWKS key for this kid is not a signing key (use)".into());
    }
    if let Some(declared) = jwk.common.key_algorithm {
        // KeyAlgorithm and Algorithm spell the same names (RS256, ES256, …).
        if format!("{declared:?}") != format!("{alg:?}") {
            return Err(format!(
                "the operator's JWKS key for this kid is for {declared:?}, the id_token is {alg:?}"
            ));
        }
    }
    let right_type = match (alg, &jwk.algorithm) {
        (Algorithm::RS256, AlgorithmParameters::RSA(_)) => true,
        (Algorithm::ES256, AlgorithmParameters::EllipticCurve(ec)) => ec.curve == EllipticCurve::P256,
        _ => false,
    };
    if !right_type {
        return Err(format!("the operator's JWKS key for this kid is not a {alg:?} key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    fn jwk(pem: &str, alg: Algorithm, kid: &str) -> Value {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&key, alg).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    fn keys(list: Vec<Value>) -> Vec<Jwk> {
        parse(json!({ "keys": list }).to_string().as_bytes()).unwrap()
    }

    const RSA: &str = include_str!("../../sandbox-keys/mc-id-token-rsa-1.pem");
    const EC: &str = include_str!("../../sandbox-keys/mc-id-token-ec-1.pem");

    #[test]
    fn keys_are_found_by_kid_and_must_fit_the_alg() {
        let set = keys(vec![
            jwk(RSA, Algorithm::RS256, "r1"),
            jwk(EC, Algorithm::ES256, "e1"),
            json!({"kty": "weird", "kid": "w"}),
        ]);
        assert_eq!(set.len(), 2, "the unknown key type is skipped");
        assert!(matches!(find(&set, Algorithm::RS256, Some("r1")), Found::Key(_)));
        assert!(matches!(find(&set, Algorithm::ES256, Some("e1")), Found::Key(_)));
        assert!(matches!(find(&set, Algorithm::RS256, Some("nope")), Found::Missing(_)));
        // A kid naming a key of the other type is refused, not tried.
        let Found::Unusable(reason) = find(&set, Algorithm::ES256, Some("r1")) else {
            panic!("an RSA key must not verify ES256")
        };
        assert!(reason.contains("RS256"), "{reason}");
        // Without kid: the one key that fits.
        assert!(matches!(find(&set, Algorithm::ES256, None), Found::Key(_)));
        let two = keys(vec![jwk(RSA, Algorithm::RS256, "r1"), jwk(RSA, Algorithm::RS256, "r2")]);
        assert!(matches!(find(&two, Algorithm::RS256, None), Found::Unusable(_)));
    }

    #[test]
    fn encryption_keys_and_symmetric_keys_are_never_used() {
        let mut enc = jwk(RSA, Algorithm::RS256, "r1");
        enc["use"] = json!("enc");
        let oct = json!({"kty": "oct", "kid": "o", "k": "c2VjcmV0", "alg": "HS256"});
        let set = keys(vec![enc, oct]);
        assert!(matches!(find(&set, Algorithm::RS256, Some("r1")), Found::Unusable(_)));
        assert!(matches!(find(&set, Algorithm::RS256, Some("o")), Found::Unusable(_)));
    }

    #[test]
    fn documents_that_are_not_a_jwks_are_refused() {
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"kids": []}"#).is_err());
        assert_eq!(parse(br#"{"keys": []}"#).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn without_a_jwks_url_rs256_is_refused_naming_the_variable() {
        let cache = JwksCache::new(reqwest::Client::new(), None, MOBILE_CONNECT);
        let err = cache.key(Algorithm::RS256, Some("k")).await.unwrap_err();
        assert!(err.to_string().contains("MC_JWKS_URL"), "{err}");
    }
}
