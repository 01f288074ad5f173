//! Faults chosen by header or cookie: an unavailable operator, and token or check faults
//! that stick to the code or token they were chosen for.

use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::harness::{app_jwt, assert_camara_error, assert_malformed, assert_oauth_error, sha256_hex, start};

#[tokio::test]
async fn fault_unavailable_and_unknown() {
    let h = start().await;
    for headers in [
        [("X-Sandbox-Fault", "unavailable")],
        [("Cookie", "sandbox_fault=unavailable")],
    ] {
        let landing = h.follow(&h.mc_authorize_url(&[]), &headers).await;
        assert_eq!(landing.error().0, "temporarily_unavailable");
        let landing = h.follow(&h.auth_url("+99012345678").await, &headers).await;
        assert_eq!(landing.error().0, "temporarily_unavailable");
    }
    let landing = h
        .follow(&h.mc_authorize_url(&[]), &[("X-Sandbox-Fault", "explode")])
        .await;
    let (error, description) = landing.error();
    assert_eq!(error, "invalid_request");
    assert!(
        description.contains("token-500") && description.contains("check-malformed"),
        "{description}"
    );
    let landing = h
        .follow(&h.mc_authorize_url(&[]), &[("X-Sandbox-Delay-Ms", "soon")])
        .await;
    assert_eq!(landing.error().0, "invalid_request");
}

#[tokio::test]
async fn token_faults_stick_to_the_code() {
    let h = start().await;
    let redirect = h.redirect_uri.as_str();
    // Mobile Connect, chosen by header.
    let code = h.mc_code(&[("X-Sandbox-Fault", "token-500")]).await;
    let got = h.mc_exchange(&code, redirect).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");

    let code = h.mc_code(&[("X-Sandbox-Fault", "token-malformed")]).await;
    let res = h.mc_exchange_raw(&code, redirect).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let text = res.text().await.unwrap();
    assert!(
        !text.is_empty() && serde_json::from_str::<Value>(&text).is_err(),
        "{text}"
    );

    let code = h
        .mc_code(&[("X-Sandbox-Fault", "token-slow"), ("X-Sandbox-Delay-Ms", "300")])
        .await;
    let started = Instant::now();
    let (status, body) = h.mc_exchange(&code, redirect).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].is_string());

    // CAMARA, chosen by cookie.
    let jwt = Some(app_jwt());
    let jwt = jwt.as_deref();
    let landing = h
        .camara_landing("+99012345678", &[("Cookie", "sandbox_fault=token-500")])
        .await;
    let got = h.camara_exchange(jwt, landing.code(), redirect).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");

    let landing = h
        .camara_landing("+99012345678", &[("Cookie", "sandbox_fault=token-malformed")])
        .await;
    assert_malformed(h.camara_exchange_raw(jwt, landing.code(), redirect).await).await;

    let landing = h
        .camara_landing(
            "+99012345678",
            &[("Cookie", "sandbox_fault=token-slow; sandbox_delay_ms=300")],
        )
        .await;
    let started = Instant::now();
    let (status, _) = h.camara_exchange(jwt, landing.code(), redirect).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn check_faults_stick_to_the_token() {
    let h = start().await;
    let hash = sha256_hex("+99012345678");

    // Mobile Connect premium info.
    let token = h.mc_access_token(&[("X-Sandbox-Fault", "check-500")]).await;
    let got = h.premium(&token, &hash).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    let token = h.mc_access_token(&[("X-Sandbox-Fault", "check-malformed")]).await;
    let res = h
        .premium_raw(
            Some(&token),
            &json!({ "mc_claims": { "device_msisdn_hash": hash } }).to_string(),
        )
        .await;
    assert_malformed(res).await;
    let token = h
        .mc_access_token(&[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "300")])
        .await;
    let started = Instant::now();
    let (status, body) = h.premium(&token, &hash).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true));

    // CAMARA verify.
    let token = h
        .camara_access_token("+99012345678", &[("X-Sandbox-Fault", "check-500")])
        .await;
    let got = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert_camara_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
    assert_eq!(got.1["status"], 500);
    let token = h
        .camara_access_token("+99012345678", &[("Cookie", "sandbox_fault=check-malformed")])
        .await;
    let res = h
        .verify_raw(Some(&token), Some(r#"{"phoneNumber": "+99012345678"}"#))
        .await;
    assert_malformed(res).await;
    let token = h
        .camara_access_token(
            "+99012345678",
            &[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "300")],
        )
        .await;
    let started = Instant::now();
    let (status, body) = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["devicePhoneNumberVerified"], json!(true));

    // A check fault does not touch the token endpoint, and vice versa.
    let code = h.mc_code(&[("X-Sandbox-Fault", "check-500")]).await;
    assert!(h.mc_token(&code).await["access_token"].is_string());
}
