//! The Mobile Connect id_token, validated as OpenID Connect Core 1.0 §3.1.3.7 asks:
//!
//! - `alg` is one of [`ACCEPTED_ALGS`]: HS256 is verified with the client secret (the
//!   octets of its UTF-8 form, §10.1), RS256 and ES256 with the operator's key from its
//!   JWKS (`MC_JWKS_URL`, see [`super::jwks`]); `none` and every other `alg` are refused;
//! - `iss` is exactly the operator's issuer: `MC_API_BASE` (with or without its trailing
//!   slash, since the URL parser may add one), which is what the virtual operator issues;
//! - `aud` contains our `client_id`; with several audiences `azp` must be present, and
//!   whenever `azp` is present it must be our `client_id`;
//! - `exp` is in the future and `iat` is present and not in the future, both within
//!   [`LEEWAY_SECS`] of clock skew; `nbf`, if present, has passed;
//! - `nonce` is the one this verification sent.
//!
//! Every refusal is a short reason for the log, naming the claim — never the token or a
//! claim's value.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Clock skew tolerated on `exp`, `iat` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// The only `alg`s accepted. HS256 is the virtual operator's default and what operators
/// that sign with the client secret use; RS256 and ES256 are what operators publish JWKS
/// for. Anything else (`none`, HS384, RS512, PS256, …) is refused.
pub const ACCEPTED_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];

/// What this verification expects of its id_token.
pub struct Expected<'a> {
    /// The issuer values accepted (the configured base with and without a trailing slash).
    pub issuers: &'a [String],
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: u64,
}

/// The protected header's `alg` and `kid`, read before any key is chosen. `Err` says why
/// the token cannot be used at all (not a JWT, or an `alg` we do not accept).
pub fn header(id_token: &str) -> Result<(Algorithm, Option<String>), String> {
    use base64::Engine;

    let mut parts = id_token.split('.');
    let (Some(head), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("id_token is not a JWS compact serialisation (three dot-separated parts)".into());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| "id_token header is not base64url")?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| "id_token header is not a JSON object")?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        Some(_) => return Err("id_token header alg is not a string".into()),
        None => return Err("id_token header has no alg".into()),
    };
    let accepted = ACCEPTED_ALGS.iter().find(|a| format!("{a:?}") == alg).copied();
    let Some(alg) = accepted else {
        // The alg name is chosen by the operator: shown short and printable only.
        let shown: String = alg.chars().filter(|c| c.is_ascii_graphic()).take(16).collect();
        return Err(format!(
            "id_token alg \u{201c}{shown}\u{201d} is not accepted (only HS256, RS256, ES256)"
        ));
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) if kid.len() <= 256 => Some(kid.clone()),
        Some(_) => return Err("id_token header kid is not a string of at most 256 characters".into()),
    };
    Ok((alg, kid))
}

/// Verifies the signature with `key` (for `alg`, as read by [`header`]), then every claim.
pub fn validate(id_token: &str, alg: Algorithm, key: &DecodingKey, expected: &Expected) -> Result<(), String> {
    use jsonwebtoken::errors::ErrorKind;

    // jsonwebtoken checks the signature and that the key's family fits `alg`; the claims
    // are checked below against an explicit `now`, so each refusal names its claim.
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(id_token, key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => "id_token signature does not verify".to_owned(),
            ErrorKind::InvalidAlgorithm => "id_token alg does not fit the key".to_owned(),
            ErrorKind::Json(_) => "id_token payload is not a JSON object".to_owned(),
            ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "id_token is not base64url JSON".to_owned(),
            _ => "id_token cannot be verified".to_owned(),
        })?
        .claims;
    check_claims(&claims, expected)
}

fn check_claims(claims: &Value, expected: &Expected) -> Result<(), String> {
    let leeway = LEEWAY_SECS;
    match claims.get("iss").and_then(Value::as_str) {
        None => return Err("id_token has no iss".into()),
        Some(iss) if !expected.issuers.iter().any(|i| i == iss) => {
            return Err("id_token iss is not this operator's issuer".into())
        }
        Some(_) => {}
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err("id_token has no aud".into()),
    };
    if !audiences.contains(&expected.client_id) {
        return Err("id_token aud does not contain this client_id".into());
    }
    match claims.get("azp") {
        None if audiences.len() > 1 => return Err("id_token has several audiences and no azp".into()),
        None => {}
        Some(azp) if azp.as_str() != Some(expected.client_id) => {
            return Err("id_token azp is not this client_id".into())
        }
        Some(_) => {}
    }

    let exp = numeric_date(claims, "exp")?.ok_or("id_token has no exp")?;
    if expected.now >= exp.saturating_add(leeway) {
        return Err(format!("id_token expired {} s ago", expected.now - exp));
    }
    let iat = numeric_date(claims, "iat")?.ok_or("id_token has no iat")?;
    if iat > expected.now.saturating_add(leeway) {
        return Err(format!("id_token iat is {} s in the future", iat - expected.now));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > expected.now.saturating_add(leeway) {
            return Err("id_token is not valid yet (nbf)".into());
        }
    }

    match claims.get("nonce").and_then(Value::as_str) {
        None => Err("id_token carries no nonce".into()),
        Some(nonce) if nonce != expected.nonce => Err("id_token nonce does not match this verification".into()),
        Some(_) => Ok(()),
    }
}

/// A NumericDate claim (seconds since the epoch; RFC 7519 allows fractions).
fn numeric_date(claims: &Value, name: &str) -> Result<Option<u64>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        {
            Some(n) => Ok(Some(n)),
            None => Err(format!("id_token {name} is not a number of seconds")),
        },
    }
}

/// Who checks an operator's id_tokens: its issuer values, our client id, and what may
/// sign them.
pub struct Checker {
    pub step: &'static str,
    pub issuers: Vec<String>,
    pub client_id: String,
    /// The client secret HS256 id_tokens are signed with (OIDC Core §10.1); `None` for a
    /// client that shares no secret with the operator (`private_key_jwt`), which then
    /// refuses HS256.
    pub hs256_secret: Option<crate::support::redacted::Secret>,
}

impl Checker {
    /// OIDC Core §3.1.3.7: the signature — HS256 with the client secret, RS256/ES256 with
    /// the operator's JWKS key — then `iss`, `aud`/`azp`, `exp`, `iat` and the `nonce`
    /// this verification was started with.
    pub async fn check(
        &self,
        jwks: &super::jwks::JwksCache,
        token: &str,
        nonce: &super::Nonce,
    ) -> Result<(), super::OperatorFailure> {
        let refused = |reason: String| super::OperatorFailure::Refused {
            step: self.step,
            reason,
        };
        let (alg, kid) = header(token).map_err(refused)?;
        let key = match (alg, &self.hs256_secret) {
            (Algorithm::HS256, Some(secret)) => DecodingKey::from_secret(secret.secret().as_bytes()),
            (Algorithm::HS256, None) => {
                return Err(refused(
                    "id_token is HS256, but a private_key_jwt client shares no secret with the operator".into(),
                ))
            }
            _ => jwks.key(alg, kid.as_deref()).await?,
        };
        let expected = Expected {
            issuers: &self.issuers,
            client_id: &self.client_id,
            nonce: nonce.secret(),
            now: jsonwebtoken::get_current_timestamp(),
        };
        validate(token, alg, &key, &expected).map_err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://mc.example/api";
    const RSA_1: &str = include_str!("../../sandbox-keys/mc-id-token-rsa-1.pem");
    const RSA_2: &str = include_str!("../../sandbox-keys/mc-id-token-rsa-2.pem");
    const EC_1: &str = include_str!("../../sandbox-keys/mc-id-token-ec-1.pem");

    fn issuers() -> Vec<String> {
        vec![ISSUER.to_owned(), format!("{ISSUER}/")]
    }

    fn good_claims() -> Value {
        json!({
            "iss": ISSUER, "aud": "client-1", "azp": "client-1", "sub": "s",
            "nonce": "n-1", "iat": NOW - 5, "exp": NOW + 300,
        })
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        claims
    }

    fn hs256(claims: &Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn check_hs256(token: &str) -> Result<(), String> {
        let (alg, _) = header(token)?;
        let issuers = issuers();
        let expected = Expected {
            issuers: &issuers,
            client_id: "client-1",
            nonce: "n-1",
            now: NOW,
        };
        validate(token, alg, &DecodingKey::from_secret(b"s3cret"), &expected)
    }

    #[test]
    fn a_good_hs256_token_passes() {
        assert_eq!(check_hs256(&hs256(&good_claims(), "s3cret")), Ok(()));
        // The issuer with the slash the URL parser may add, and an audience list with azp.
        let claims = with(good_claims(), "iss", json!(format!("{ISSUER}/")));
        let claims = with(claims, "aud", json!(["client-1", "other"]));
        assert_eq!(check_hs256(&hs256(&claims, "s3cret")), Ok(()));
        // Within the leeway on each side.
        let claims = with(good_claims(), "exp", json!(NOW - LEEWAY_SECS + 1));
        let claims = with(claims, "iat", json!(NOW + LEEWAY_SECS));
        assert_eq!(check_hs256(&hs256(&claims, "s3cret")), Ok(()));
    }

    #[test]
    fn each_claim_is_checked_and_named() {
        let cases: Vec<(Value, &str)> = vec![
            (with(good_claims(), "iss", Value::Null), "no iss"),
            (with(good_claims(), "iss", json!("https://evil.example")), "iss is not"),
            (with(good_claims(), "aud", Value::Null), "no aud"),
            (with(good_claims(), "aud", json!("someone")), "aud does not contain"),
            (
                with(good_claims(), "aud", json!(["someone", "else"])),
                "aud does not contain",
            ),
            (
                with(with(good_claims(), "aud", json!(["client-1", "x"])), "azp", Value::Null),
                "several audiences and no azp",
            ),
            (with(good_claims(), "azp", json!("someone")), "azp is not"),
            (with(good_claims(), "exp", Value::Null), "no exp"),
            (with(good_claims(), "exp", json!(NOW - LEEWAY_SECS)), "expired"),
            (with(good_claims(), "exp", json!("tomorrow")), "exp is not a number"),
            (with(good_claims(), "iat", Value::Null), "no iat"),
            (with(good_claims(), "iat", json!(NOW + LEEWAY_SECS + 1)), "iat is"),
            (with(good_claims(), "nbf", json!(NOW + 3600)), "nbf"),
            (with(good_claims(), "nonce", Value::Null), "no nonce"),
            (with(good_claims(), "nonce", json!("n-2")), "nonce does not match"),
        ];
        for (claims, reason) in cases {
            let err = check_hs256(&hs256(&claims, "s3cret")).expect_err(&claims.to_string());
            assert!(err.contains(reason), "{claims}: {err}");
            assert!(!err.contains("n-1") && !err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn a_wrong_secret_is_a_bad_signature() {
        let err = check_hs256(&hs256(&good_claims(), "other")).unwrap_err();
        assert!(err.contains("signature"), "{err}");
    }

    #[test]
    fn algs_other_than_the_three_are_refused_before_any_key() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let payload = URL_SAFE_NO_PAD.encode(good_claims().to_string());
        for alg in ["none", "None", "HS384", "HS512", "RS512", "PS256", "ES384", "EdDSA"] {
            let head = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
            let token = format!("{head}.{payload}.c2ln");
            let err = header(&token).unwrap_err();
            assert!(err.contains("not accepted") && err.contains(alg), "{alg}: {err}");
        }
        let head = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
        assert!(header(&format!("{head}.{payload}.")).unwrap_err().contains("no alg"));
        for garbage in ["", "garbage", "a.b", "a.b.c.d", "!!.e30.x"] {
            assert!(header(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn the_header_gives_alg_and_kid() {
        let mut head = Header::new(Algorithm::RS256);
        head.kid = Some("k-1".into());
        let token = encode(
            &head,
            &good_claims(),
            &EncodingKey::from_rsa_pem(RSA_1.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(header(&token), Ok((Algorithm::RS256, Some("k-1".into()))));
    }

    fn public(pem: &str, alg: Algorithm) -> DecodingKey {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        DecodingKey::from_jwk(&jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).unwrap()).unwrap()
    }

    fn sign(pem: &str, alg: Algorithm, claims: &Value) -> String {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        encode(&Header::new(alg), claims, &key).unwrap()
    }

    #[test]
    fn rs256_and_es256_verify_with_their_public_key_only() {
        let issuers = issuers();
        let expected = Expected {
            issuers: &issuers,
            client_id: "client-1",
            nonce: "n-1",
            now: NOW,
        };
        for (pem, alg) in [(RSA_1, Algorithm::RS256), (EC_1, Algorithm::ES256)] {
            let token = sign(pem, alg, &good_claims());
            assert_eq!(header(&token).unwrap().0, alg);
            assert_eq!(validate(&token, alg, &public(pem, alg), &expected), Ok(()));
            // The claims are checked on this path too.
            let stale = sign(pem, alg, &with(good_claims(), "exp", json!(NOW - 3600)));
            assert!(validate(&stale, alg, &public(pem, alg), &expected)
                .unwrap_err()
                .contains("expired"));
        }
        let by_other_key = sign(RSA_2, Algorithm::RS256, &good_claims());
        let err = validate(
            &by_other_key,
            Algorithm::RS256,
            &public(RSA_1, Algorithm::RS256),
            &expected,
        )
        .unwrap_err();
        assert!(err.contains("signature"), "{err}");
        // An RSA key cannot verify an ES256 token, nor a secret an RS256 one.
        let es = sign(EC_1, Algorithm::ES256, &good_claims());
        assert!(validate(&es, Algorithm::ES256, &public(RSA_1, Algorithm::RS256), &expected).is_err());
        let rs = sign(RSA_1, Algorithm::RS256, &good_claims());
        assert!(validate(&rs, Algorithm::RS256, &DecodingKey::from_secret(b"s3cret"), &expected).is_err());
    }
}
