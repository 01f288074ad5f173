//! The provider's documents and keys: discovery, the JWKS, key rotation without
//! downtime, the mobile-app API's verification token, and two instances on one Redis
//! (authorize on one, token on the other).

use openidconnect::{
    core::{CoreIdTokenVerifier, CoreJsonWebKeySet},
    ClientId, ClientSecret, IssuerUrl, JsonWebKeySetUrl, OAuth2TokenResponse, TokenResponse,
};
use serde_json::{json, Value};

use crate::{
    helpers::{
        browser::Browser,
        local_listener,
        redis::RedisServer,
        rp::{
            param, provider_app, relying_parties, through_the_page, Press, Rp, DEVICE_NUMBER, SHOP_REDIRECT,
            SHOP_SECRET,
        },
        Server, TestApp,
    },
    oidc_flows::userinfo,
};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys");

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn discovery_names_every_endpoint_and_what_the_provider_supports() {
    let app = provider_app(&[]).await;
    let doc = get_json(&app.url("/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], app.base.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
    ] {
        assert_eq!(doc[field], app.url(path), "{field}");
    }
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    for claim in [
        "sub",
        "phone_number",
        "phone_number_verified",
        "amr",
        "auth_time",
        "txn",
    ] {
        assert!(
            doc["claims_supported"].as_array().unwrap().contains(&json!(claim)),
            "{claim}"
        );
    }
    let jwks = get_json(&app.url("/.well-known/jwks.json")).await;
    assert_eq!(jwks["keys"][0]["kid"], "nv-sandbox-oidc-1");
    assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");
}

#[tokio::test]
async fn without_signing_keys_a_live_server_has_no_provider() {
    // Live: no sandbox, an operator of its own (never called here), no OIDC_SIGNING_KEYS.
    let app = TestApp::start(&[
        ("SANDBOX", "off"),
        ("MC_API_BASE", "https://mc.operator.example/api/v1"),
        ("MC_CLIENT_ID", "live-client"),
        ("MC_CLIENT_SECRET", "live-secret"),
    ])
    .await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/authorize?client_id=x",
        "/userinfo",
    ] {
        let response = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

/// A token signed by one key set and checked against another's JWKS (the same issuer).
async fn verify_with(
    jwks_of: &TestApp,
    issuer: &str,
    id_token: &openidconnect::core::CoreIdToken,
) -> Result<(), String> {
    let http = reqwest::Client::new();
    let jwks = CoreJsonWebKeySet::fetch_async(
        &JsonWebKeySetUrl::new(jwks_of.url("/.well-known/jwks.json")).unwrap(),
        &http,
    )
    .await
    .unwrap();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new("shop".into()),
        ClientSecret::new(SHOP_SECRET.into()),
        IssuerUrl::new(issuer.into()).unwrap(),
        jwks,
    )
    .set_allowed_algs([openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    id_token
        .claims(&verifier, |_: Option<&openidconnect::Nonce>| Ok(()))
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn a_token_signed_with_the_previous_key_verifies_while_that_key_is_published() {
    let parties = relying_parties();
    let old = format!("old={KEYS}/mc-id-token-ec-1.pem");
    let rotated = format!("new={KEYS}/oidc-provider-sandbox-1.pem,old={KEYS}/mc-id-token-ec-1.pem");
    let retired = format!("new={KEYS}/oidc-provider-sandbox-1.pem");
    // Yesterday's deployment signs with the old key.
    let before = TestApp::start(&[("RELYING_PARTIES", &parties), ("OIDC_SIGNING_KEYS", &old)]).await;
    let rp = Rp::discover(&before.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), false);
    let back = through_the_page(&mut Browser::new(), &before.base, &login.url, Press::Verify(None)).await;
    let tokens = rp.exchange(&param(&back, "code").unwrap(), None).await.unwrap();
    let id_token = tokens.id_token().unwrap().clone();
    assert_eq!(crate::oidc_flows::payload_header(&id_token.to_string())["kid"], "old");

    // Today's signs with the new key and still publishes the old one.
    let issuer = before.base.clone();
    let after = TestApp::start(&[
        ("RELYING_PARTIES", &parties),
        ("OIDC_SIGNING_KEYS", &rotated),
        ("APP_PUBLIC_URL", &issuer),
    ])
    .await;
    let jwks = get_json(&after.url("/.well-known/jwks.json")).await;
    let kids: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert_eq!(kids, [json!("new"), json!("old")]);
    verify_with(&after, &issuer, &id_token)
        .await
        .expect("the old key is still published");

    // Once the old key is retired, its tokens no longer verify.
    let later = TestApp::start(&[
        ("RELYING_PARTIES", &parties),
        ("OIDC_SIGNING_KEYS", &retired),
        ("APP_PUBLIC_URL", &issuer),
    ])
    .await;
    assert!(verify_with(&later, &issuer, &id_token).await.is_err());
}

/// The mobile-app API's verdict: checked as a backend would, against the JWKS.
fn check_verification_token(app: &TestApp, jwks: &Value, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("verification+jwt"));
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("its key is published");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&app.base]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the verification token does not verify: {e}"))
        .claims
}

#[tokio::test]
async fn the_mobile_app_api_answers_a_signed_verdict_beside_the_fields_it_always_had() {
    let app = provider_app(&[]).await;
    let jwks = get_json(&app.url("/.well-known/jwks.json")).await;
    // With the client_id of the app's backend: the token is for that backend.
    let answer = app
        .tutorial(
            json!({"phone": DEVICE_NUMBER, "protocol": "mobile-connect", "client_id": "shop-backend"}),
            &[],
        )
        .await;
    crate::helpers::assert_sandbox_verdict(&answer, true);
    let token = answer.verification_token.as_deref().expect("a verification_token");
    let claims = check_verification_token(&app, &jwks, token, "shop-backend");
    assert_eq!(claims["phone_number"], DEVICE_NUMBER);
    assert_eq!(claims["phone_number_verified"], true);
    assert_eq!(claims["amr"], json!(["nba"]));
    assert!(claims["jti"].is_string() && claims["txn"].is_string(), "{claims}");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    // Without one, the issuer is its audience; another number is unverified.
    let answer = app
        .tutorial(json!({"phone": "+99012345677", "protocol": "camara"}), &[])
        .await;
    crate::helpers::assert_sandbox_verdict(&answer, false);
    let claims = check_verification_token(&app, &jwks, answer.verification_token.as_deref().unwrap(), &app.base);
    assert_eq!(claims["phone_number_verified"], false);
    // A share: the device's number, verified.
    let answer = app
        .tutorial(json!({"purpose": "share", "protocol": "camara-standard"}), &[])
        .await;
    assert_eq!(answer.body["devicePhoneNumber"], DEVICE_NUMBER, "{answer}");
    let claims = check_verification_token(&app, &jwks, answer.verification_token.as_deref().unwrap(), &app.base);
    assert_eq!(
        (
            claims["phone_number"].as_str(),
            claims["phone_number_verified"].as_bool()
        ),
        (Some(DEVICE_NUMBER), Some(true))
    );
    // A client_id that is not one.
    let refused = app
        .login(json!({"phone": DEVICE_NUMBER, "client_id": "two words"}))
        .await;
    crate::helpers::assert_error(&refused, 400, "invalid_client_id");
    let refused = app.login(json!({"phone": DEVICE_NUMBER, "client_id": 7})).await;
    crate::helpers::assert_error(&refused, 400, "invalid_client_id");
}

#[tokio::test]
async fn a_code_from_one_instance_is_redeemed_once_on_another() {
    let redis = RedisServer::start();
    let url = redis.url();
    let parties = relying_parties();
    let (a_listener, b_listener) = (local_listener().await, local_listener().await);
    let public = format!("http://{}", a_listener.local_addr().unwrap());
    let vars = [
        ("SANDBOX", "on"),
        ("REDIS_URL", url.as_str()),
        ("RELYING_PARTIES", parties.as_str()),
        ("APP_PUBLIC_URL", public.as_str()),
    ];
    let a = TestApp::start_on(a_listener, &vars).await;
    let b = TestApp::start_on(b_listener, &vars).await;
    let rp = Rp::discover(&a.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let back = through_the_page(&mut Browser::new(), &a.base, &login.url, Press::Verify(None)).await;
    let code = param(&back, "code").unwrap();
    let verifier = login.pkce.unwrap().secret().clone();
    let redeem = |app: &TestApp| {
        reqwest::Client::new()
            .post(app.url("/token"))
            .basic_auth("shop", Some(SHOP_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", SHOP_REDIRECT),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
    };
    let on_b = redeem(&b).await.unwrap();
    assert_eq!(on_b.status(), 200);
    let tokens: openidconnect::core::CoreTokenResponse = on_b.json().await.unwrap();
    rp.claims(&tokens, &login.nonce);
    let access = tokens.access_token().secret().clone();
    assert_eq!(userinfo(&a, &access).await.0, 200, "an access token from B works on A");
    // A replay on A: refused, and B's access token revoked everywhere.
    let on_a = redeem(&a).await.unwrap();
    assert_eq!(on_a.status(), 400);
    assert_eq!(on_a.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(userinfo(&b, &access).await.0, 401);
    assert_eq!(userinfo(&a, &access).await.0, 401);
}
