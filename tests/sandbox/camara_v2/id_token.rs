//! The id_token of the token response: its claims and signature, and key rotation.

use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
use number_verify::sandbox_contract::credentials::CAMARA_CLIENT_ID;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{now, start, Harness, V2Auth, V2_NONCE};

async fn v2_jwks(h: &Harness) -> JwkSet {
    let res = h.client.get(format!("{}/jwks", h.issuer())).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The id_token's claims, checked against the JWKS: signature, `iss` = the issuer, `aud`
/// = the client, `exp`.
fn checked(h: &Harness, set: &JwkSet, id_token: &str) -> Result<Value, String> {
    let header = decode_header(id_token).map_err(|e| e.to_string())?;
    let jwk = set
        .find(header.kid.as_deref().ok_or("no kid")?)
        .ok_or("kid not published")?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[CAMARA_CLIENT_ID]);
    validation.set_issuer(&[h.issuer()]);
    decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

async fn id_token_with(h: &Harness, headers: &[(&str, &str)], overrides: &[(&str, Option<&str>)]) -> Value {
    h.v2_token(&V2Auth {
        headers,
        overrides,
        ..V2Auth::default()
    })
    .await
}

#[tokio::test]
async fn the_token_response_and_its_id_token() {
    let h = start().await;
    let set = v2_jwks(&h).await;
    let body = id_token_with(&h, &[], &[]).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "openid number-verification:verify");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32), "{body}");
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(
        decode_header(id_token).unwrap().alg,
        Algorithm::RS256,
        "RS256 by default"
    );
    let claims = checked(&h, &set, id_token).expect("verifies with the published key");
    assert_eq!(claims["nonce"], V2_NONCE);
    assert_eq!(claims["azp"], CAMARA_CLIENT_ID);
    assert_eq!(claims["amr"], json!(["network"]));
    let sub = claims["sub"].as_str().unwrap();
    assert!(
        !sub.contains("99012345678") && sub.len() >= 16,
        "pairwise, not the number: {sub}"
    );
    let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert!(iat <= now() + 1 && exp == iat + 300, "{claims}");

    // ES256 on request; no nonce sent, none in the token.
    let body = id_token_with(&h, &[("X-Sandbox-Id-Token", "es256")], &[("nonce", None)]).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(decode_header(id_token).unwrap().alg, Algorithm::ES256);
    let claims = checked(&h, &set, id_token).expect("verifies");
    assert!(claims.get("nonce").is_none(), "{claims}");

    // Not obtained by network authentication.
    let body = id_token_with(&h, &[("X-Sandbox-Fault", "not-network-auth")], &[]).await;
    let claims = checked(&h, &set, body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["amr"], json!(["pwd"]));

    // Defects: each one fails the check it is for.
    for (defect, error) in [
        ("wrong-iss", "InvalidIssuer"),
        ("expired", "ExpiredSignature"),
        ("wrong-aud", "InvalidAudience"),
        ("bad-signature", "InvalidSignature"),
        ("unknown-kid", "kid not published"),
    ] {
        let body = id_token_with(&h, &[("X-Sandbox-Id-Token", defect)], &[]).await;
        let got = checked(&h, &set, body["id_token"].as_str().unwrap());
        assert!(got.as_ref().is_err_and(|e| e.contains(error)), "{defect}: {got:?}");
    }
    let body = id_token_with(&h, &[("X-Sandbox-Id-Token", "wrong-nonce")], &[]).await;
    let claims = checked(&h, &set, body["id_token"].as_str().unwrap()).unwrap();
    assert_ne!(claims["nonce"], V2_NONCE);
}

#[tokio::test]
async fn rotation_publishes_the_next_key() {
    let h = start().await;
    let before = v2_jwks(&h).await;
    let old = id_token_with(&h, &[], &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = id_token_with(&h, &[("X-Sandbox-Id-Token", "rotate")], &[]).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_kid = decode_header(&rotated).unwrap().kid.unwrap();
    assert_ne!(decode_header(&old).unwrap().kid.unwrap(), new_kid);
    assert!(before.find(&new_kid).is_none(), "not published before the rotation");
    assert!(checked(&h, &before, &rotated).is_err());
    let after = v2_jwks(&h).await;
    assert_eq!(after.keys.len(), 4, "old and new keys, RSA and EC");
    assert!(checked(&h, &after, &rotated).is_ok());
    assert!(checked(&h, &after, &old).is_ok(), "the old key stays published");
}
