//! The virtual operator's id_tokens (src/sandbox/id_token.rs): HS256 by default, RS256
//! and ES256 with keys published as a JWKS, key rotation, and the deliberately wrong
//! tokens chosen with `X-Sandbox-Id-Token`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
use number_verify::sandbox_contract::{
    credentials::{MC_CLIENT_ID, MC_CLIENT_SECRET},
    MC_JWKS_PATH,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{json_of, now, start, Harness};

async fn jwks(h: &Harness) -> (Value, JwkSet) {
    let res = h.client.get(format!("{}{MC_JWKS_PATH}", h.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let raw: Value = res.json().await.unwrap();
    let set: JwkSet = serde_json::from_value(raw.clone()).expect("a JWK set");
    (raw, set)
}

/// The id_token of an authorization made with `X-Sandbox-Id-Token: spec`.
async fn id_token(h: &Harness, spec: &str) -> String {
    let code = h.mc_code(&[("X-Sandbox-Id-Token", spec)]).await;
    h.mc_token(&code).await["id_token"]
        .as_str()
        .expect("id_token")
        .to_owned()
}

/// Header and claims, read without any check.
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (next(), next())
}

fn verify_with_jwks(h: &Harness, set: &JwkSet, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = decode_header(token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().expect("a kid"))
        .expect("the kid is published");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[MC_CLIENT_ID]);
    validation.set_issuer(&[h.base.as_str()]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).map(|d| d.claims)
}

#[tokio::test]
async fn the_jwks_publishes_public_signing_keys_only() {
    let h = start().await;
    let (raw, set) = jwks(&h).await;
    assert_eq!(set.keys.len(), 2, "{raw}");
    for key in raw["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| k.len() >= 16), "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{key} leaks {private}");
        }
    }
    let types: Vec<&str> = raw["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kty"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["RSA", "EC"]);
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_with_the_published_keys() {
    let h = start().await;
    let (_, set) = jwks(&h).await;
    for (spec, alg) in [("rs256", Algorithm::RS256), ("ES256", Algorithm::ES256)] {
        let token = id_token(&h, spec).await;
        assert_eq!(decode_header(&token).unwrap().alg, alg);
        let claims = verify_with_jwks(&h, &set, &token).expect("verifies with the JWKS key");
        assert_eq!(claims["nonce"], "nonce-456");
        assert_eq!(claims["azp"], MC_CLIENT_ID);
        assert!(claims["iat"].as_u64().unwrap() <= now() + 1);
    }
    // The default is still HS256 with the client secret.
    let token = id_token(&h, "").await;
    assert_eq!(decode_header(&token).unwrap().alg, Algorithm::HS256);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[MC_CLIENT_ID]);
    assert!(decode::<Value>(
        &token,
        &DecodingKey::from_secret(MC_CLIENT_SECRET.as_bytes()),
        &validation
    )
    .is_ok());
}

#[tokio::test]
async fn rotation_publishes_the_next_key_and_signs_with_it() {
    let h = start().await;
    let (_, before) = jwks(&h).await;
    let old = id_token(&h, "rs256").await;
    let rotated = id_token(&h, "rs256, rotate").await;
    let old_kid = decode_header(&old).unwrap().kid.unwrap();
    let new_kid = decode_header(&rotated).unwrap().kid.unwrap();
    assert_ne!(old_kid, new_kid);
    assert!(before.find(&new_kid).is_none(), "the next key was not published before");
    let (_, after) = jwks(&h).await;
    assert_eq!(after.keys.len(), 4, "old and new keys, for both types");
    assert!(
        verify_with_jwks(&h, &after, &old).is_ok(),
        "the old key is still published"
    );
    assert!(verify_with_jwks(&h, &after, &rotated).is_ok());
    let later = id_token(&h, "rs256").await;
    assert_eq!(decode_header(&later).unwrap().kid.unwrap(), new_kid);
}

#[tokio::test]
async fn each_defect_is_as_documented() {
    let h = start().await;
    let (_, set) = jwks(&h).await;
    let t = now();

    let (header, claims) = parts(&id_token(&h, "alg-none").await);
    assert_eq!(header["alg"], "none");
    assert_eq!(claims["nonce"], "nonce-456");
    let token = id_token(&h, "alg-none").await;
    assert!(token.ends_with('.'), "no signature");

    assert_eq!(parts(&id_token(&h, "hs384").await).0["alg"], "HS384");
    assert_ne!(parts(&id_token(&h, "wrong-iss").await).1["iss"], h.base.as_str());
    let (_, claims) = parts(&id_token(&h, "wrong-aud").await);
    assert_ne!(claims["aud"], MC_CLIENT_ID);
    assert_ne!(claims["azp"], MC_CLIENT_ID);
    let (_, claims) = parts(&id_token(&h, "multi-aud").await);
    assert_eq!(claims["aud"].as_array().unwrap().len(), 2);
    assert!(claims.get("azp").is_none());
    assert!(parts(&id_token(&h, "expired").await).1["exp"].as_u64().unwrap() + 300 < t);
    assert!(parts(&id_token(&h, "iat-future").await).1["iat"].as_u64().unwrap() > t + 300);
    assert!(parts(&id_token(&h, "no-iat").await).1.get("iat").is_none());
    assert_ne!(parts(&id_token(&h, "wrong-nonce").await).1["nonce"], "nonce-456");

    for spec in ["rs256 bad-signature", "es256 bad-signature"] {
        let token = id_token(&h, spec).await;
        let kid = decode_header(&token).unwrap().kid.unwrap();
        assert!(set.find(&kid).is_some(), "{spec}: a published kid");
        assert!(verify_with_jwks(&h, &set, &token).is_err(), "{spec}: must not verify");
    }
    let token = id_token(&h, "bad-signature").await;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[MC_CLIENT_ID]);
    assert!(decode::<Value>(
        &token,
        &DecodingKey::from_secret(MC_CLIENT_SECRET.as_bytes()),
        &validation
    )
    .is_err());

    let token = id_token(&h, "unknown-kid").await;
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert!(set.find(&header.kid.unwrap()).is_none());
}

#[tokio::test]
async fn a_bad_spec_is_an_invalid_request() {
    let h = start().await;
    for spec in ["rs512", "expired wrong-iss", "rs256 es256"] {
        let res = h
            .client
            .get(h.mc_authorize_url(&[]))
            .header("X-Sandbox-Id-Token", spec)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        let q = crate::harness::query_map(&crate::harness::location(&res));
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_request"),
            "{spec}: {q:?}"
        );
        assert!(q["error_description"].contains("X-Sandbox-Id-Token"), "{q:?}");
    }
    // The cookie says the same.
    let code = h.mc_code(&[("Cookie", "sandbox_id_token=es256")]).await;
    let (status, body) = json_of(h.mc_exchange_raw(&code, &h.redirect_uri).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_header(body["id_token"].as_str().unwrap()).unwrap().alg,
        Algorithm::ES256
    );
}
