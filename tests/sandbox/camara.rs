//! CAMARA through Vonage (docs/reference.md §2.2 and §5): network enablement with the
//! application JWT, authorize, token, verify, and every refusal in between.

use number_verify::sandbox_contract::credentials::MC_CLIENT_ID as SANDBOX_MC_CLIENT_ID;
use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use crate::harness::{
    app_jwt, assert_camara_error, assert_oauth_error, assert_oauth_error_hint, assert_refusal_page, bad_app_jwts,
    json_of, sha256_hex, start, Pairs, VERIFY_SCOPE,
};

#[tokio::test]
async fn camara_full_flows_and_virtual_operator_rule() {
    let h = start().await;

    // Even last digit: the device is on that number.
    let token = h.camara_access_token("+99012345678", &[]).await;
    let (status, body) = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
    for (check, verified) in [
        // `+` optional (v0.3.1).
        (json!({ "phoneNumber": "99012345678" }), true),
        // Hashed, with and without the +; hex case does not matter.
        (json!({ "hashedPhoneNumber": sha256_hex("+99012345678") }), true),
        (json!({ "hashedPhoneNumber": sha256_hex("99012345678") }), true),
        (
            json!({ "hashedPhoneNumber": sha256_hex("+99012345678").to_uppercase() }),
            true,
        ),
        (json!({ "phoneNumber": "+99012345676" }), false),
        (json!({ "hashedPhoneNumber": sha256_hex("+99012345676") }), false),
    ] {
        let (_, body) = h.verify(&token, check.clone()).await;
        assert_eq!(body["devicePhoneNumberVerified"], json!(verified), "{check}");
    }

    // Token response shape.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let token = h.camara_token(landing.code()).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(token.get("id_token").is_none());

    // Odd last digit: the device is on another number.
    assert!(!h.camara_verified("+99012345677", &[], "+99012345677").await);
    // Last two digits 99: the operator fails.
    let landing = h.follow(&h.auth_url("+99011111199").await, &[]).await;
    assert!(landing.hops >= 2);
    landing.assert_error("server_error", "99");
    assert_eq!(landing.params["state"], "vg-state-1");
}

#[tokio::test]
async fn camara_application_jwt_is_checked() {
    let h = start().await;
    let body = json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE], "state": "s" }).to_string();

    let (status, value) = json_of(h.enable_raw(None, &body).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(value["type"].as_str().unwrap().contains("unauthorized"), "{value}");
    assert!(value["title"].is_string() && value["detail"].is_string());

    for (what, jwt) in bad_app_jwts() {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "enablement, {what}: {value}");
        assert!(value["detail"].is_string(), "{what}: {value}");
        let (status, value) = h.camara_exchange(Some(&jwt), "x", &h.redirect_uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token, {what}: {value}");
        assert_eq!(value["error"], "invalid_client", "{what}");
    }
    // Specific reasons are given.
    for (what, hint) in [
        ("expired", "expired"),
        ("forged", "signature"),
        ("no jti", "jti"),
        ("wrong application_id", "application_id"),
        ("iat in the future", "iat"),
        ("HS256", "RS256"),
    ] {
        let jwt = bad_app_jwts().into_iter().find(|(w, _)| *w == what).unwrap().1;
        let (_, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert!(value["detail"].as_str().unwrap().contains(hint), "{what}: {value}");
    }
    // The same JWT is reusable until it expires (no jti replay rule).
    let jwt = app_jwt();
    for _ in 0..3 {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert_eq!(status, StatusCode::OK, "{value}");
    }
}

#[tokio::test]
async fn camara_enablement_bad_requests() {
    let h = start().await;
    let jwt = app_jwt();
    for (body, hint) in [
        ("", "JSON object"),
        ("[1,2]", "JSON object"),
        (r#"{"scopes": ["x"], "state": "s"}"#, "phone_number"),
        (
            &json!({ "phone_number": "hello", "scopes": [VERIFY_SCOPE], "state": "s" }).to_string(),
            "phone_number",
        ),
        (
            &json!({ "phone_number": "+99012345678", "state": "s" }).to_string(),
            "scopes",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [], "state": "s" }).to_string(),
            "scopes",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": ["dpv:Other#sim-swap"], "state": "s" }).to_string(),
            "Unsupported scope",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE] }).to_string(),
            "state",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE], "state": "x".repeat(600) }).to_string(),
            "state",
        ),
    ] {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert!(value["type"].as_str().unwrap().contains("bad-request"), "{value}");
        assert!(value["detail"].as_str().unwrap().contains(hint), "{body}: {value}");
    }
}

#[tokio::test]
async fn camara_authorize_errors() {
    let h = start().await;
    let auth_url = h.auth_url("+99012345678").await;
    let with = |name: &str, value: Option<&str>| {
        let mut url = Url::parse(&auth_url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
            if let Some(v) = value {
                q.append_pair(name, v);
            }
        }
        url.to_string()
    };

    for url in [
        with("redirect_uri", Some("https://evil.example/cb")),
        with("client_id", Some("nobody")),
    ] {
        let res = h.client.get(&url).send().await.unwrap();
        assert_refusal_page(res, &url, "Invalid authorization request").await;
    }
    for (url, error, hint) in [
        (
            with("scope", Some("openid")),
            "invalid_scope",
            "number-verification-verify-read",
        ),
        (
            with("client_id", Some(SANDBOX_MC_CLIENT_ID)),
            "unauthorized_client",
            "other API",
        ),
        (with("response_type", None), "invalid_request", "response_type"),
        (
            with("login_hint", Some("tel:not-a-number")),
            "invalid_request",
            "login_hint",
        ),
    ] {
        let q = h.authorize_error(&url).await;
        assert_eq!(q["error"], error, "{q:?}");
        assert!(q["error_description"].contains(hint), "{q:?}");
        assert_eq!(q["state"], "vg-state-1");
    }
    // login_hint with a tel: prefix works; without any login_hint the default SIM is used.
    for (login_hint, number) in [(Some("tel:+99012345670"), "+99012345670"), (None, "+99012345678")] {
        let landing = h.follow(&with("login_hint", login_hint), &[]).await;
        let token = h.camara_token(landing.code()).await;
        let (_, body) = h
            .verify(
                token["access_token"].as_str().unwrap(),
                json!({ "phoneNumber": number }),
            )
            .await;
        assert_eq!(body["devicePhoneNumberVerified"], json!(true), "{login_hint:?}");
    }
}

#[tokio::test]
async fn camara_token_errors() {
    let h = start().await;
    let jwt = app_jwt();
    let redirect = h.redirect_uri.as_str();
    let landing = h.camara_landing("+99012345678", &[]).await;
    let code = landing.code();

    // Refusals that leave the code good.
    let cases: Vec<(Option<&str>, Pairs, StatusCode, &str)> = vec![
        (
            None,
            vec![
                ("code", code),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(&jwt),
            vec![
                ("code", code),
                ("redirect_uri", redirect),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some(&jwt),
            vec![("redirect_uri", redirect), ("grant_type", "authorization_code")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(&jwt),
            vec![
                ("code", "nope"),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (jwt, form, status, error) in cases {
        let got = json_of(h.camara_token_raw(jwt, &form).await).await;
        assert_oauth_error(&got, status, error);
    }

    // Works once, then a replay is refused and revokes the token.
    let token = h.camara_token(code).await;
    let access = token["access_token"].as_str().unwrap();
    let got = h.camara_exchange(Some(&jwt), code, redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
    let got = h.verify(access, json!({ "phoneNumber": "+99012345678" })).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Redirect URI mismatch.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let got = h
        .camara_exchange(Some(&jwt), landing.code(), &h.other_redirect_uri)
        .await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");

    // A Mobile Connect code is not a CAMARA code.
    let mc_code = h.mc_code(&[]).await;
    let got = h.camara_exchange(Some(&jwt), &mc_code, redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn camara_verify_errors() {
    let h = start().await;
    let good = json!({ "phoneNumber": "+99012345678" }).to_string();

    let got = json_of(h.verify_raw(None, Some(&good)).await).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(got.1["status"], 401);
    assert!(got.1["message"].is_string());
    let got = json_of(h.verify_raw(Some("unknown"), Some(&good)).await).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // A Mobile Connect token lacks the verify scope.
    let mc = h.mc_access_token(&[]).await;
    let (status, body) = json_of(h.verify_raw(Some(&mc), Some(&good)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({ "status": 403, "code": "PERMISSION_DENIED", "message": body["message"] })
    );

    let token = h.camara_access_token("+99012345678", &[]).await;
    let hash = sha256_hex("+99012345678");
    let both = json!({ "phoneNumber": "+99012345678", "hashedPhoneNumber": hash }).to_string();
    for (body, hint) in [
        (None, "required"),
        (Some("{not json"), "JSON object"),
        (Some("\"+99012345678\""), "JSON object"),
        (Some("{}"), "exactly one"),
        (Some(both.as_str()), "not both"),
        (Some(r#"{"phoneNumber": "+44 7700 900123"}"#), "E.164"),
        (Some(r#"{"phoneNumber": "hello"}"#), "E.164"),
        (Some(r#"{"phoneNumber": 99012345678}"#), "E.164"),
        (Some(r#"{"hashedPhoneNumber": "abc"}"#), "64 hex"),
        (Some(r#"{"hashedPhoneNumber": null}"#), "64 hex"),
    ] {
        let (status, value) = json_of(h.verify_raw(Some(&token), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {value}");
        assert_eq!(value["status"], 400);
        assert_eq!(value["code"], "INVALID_ARGUMENT");
        assert!(value["message"].as_str().unwrap().contains(hint), "{body:?}: {value}");
    }
    // x-correlator is echoed.
    let res = h
        .client
        .post(format!("{}/camara/number-verification/v031/verify", h.base))
        .bearer_auth(&token)
        .header("x-correlator", "corr-1")
        .json(&json!({ "phoneNumber": "+99012345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-correlator"], "corr-1");
}
