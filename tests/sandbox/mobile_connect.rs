//! Mobile Connect device-initiated (docs/reference.md §2.1 and §5): authorize, token,
//! premium info, and every refusal in between.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use number_verify::sandbox_contract::credentials::{
    MC_CLIENT_ID as SANDBOX_MC_CLIENT_ID, MC_CLIENT_SECRET as SANDBOX_MC_CLIENT_SECRET,
    VONAGE_APPLICATION_ID as SANDBOX_VONAGE_APPLICATION_ID,
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::harness::{
    assert_oauth_error, assert_oauth_error_hint, assert_refusal_page, json_of, location, sha256_hex, start, Overrides,
    Pairs, GSMA_HASH, GSMA_NUMBER,
};

#[tokio::test]
async fn mc_full_flow_default_sim() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let token = h.mc_token(&code).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3599);
    let access_token = token["access_token"].as_str().unwrap();
    assert!(access_token.len() >= 32);

    // The id_token is a signed JWT carrying the request's nonce.
    let id_token = token["id_token"].as_str().expect("id_token");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[SANDBOX_MC_CLIENT_ID]);
    validation.set_issuer(&[h.base.as_str()]);
    let claims = decode::<Value>(
        id_token,
        &DecodingKey::from_secret(SANDBOX_MC_CLIENT_SECRET.as_bytes()),
        &validation,
    )
    .expect("id_token verifies with the client secret")
    .claims;
    assert_eq!(claims["nonce"], "nonce-456");
    assert!(claims["sub"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && !s.contains("99012345678")));
    assert!(claims["iat"].as_u64().is_some() && claims["exp"].as_u64() > claims["iat"].as_u64());
    // …and not with another key.
    assert!(decode::<Value>(id_token, &DecodingKey::from_secret(b"another secret"), &validation).is_err());

    // The default SIM is +99012345678: verified; +99012345677 not.
    let (status, body) = h.premium(access_token, &sha256_hex("+99012345678")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true), "{body}");
    assert_eq!(body["sub"], claims["sub"]);
    let (status, body) = h.premium(access_token, &sha256_hex("+99012345677")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(false), "{body}");
    // The hash of the number without its + is not the GSMA form: no match.
    let (_, body) = h.premium(access_token, &sha256_hex("99012345678")).await;
    assert_eq!(body["device_msisdn_verified"], json!(false));
    // The path without its trailing slash works too.
    let res = h
        .client
        .post(format!("{}/premiuminfo/v1", h.base))
        .bearer_auth(access_token)
        .json(&json!({ "mc_claims": { "device_msisdn_hash": sha256_hex("+99012345678") } }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["device_msisdn_verified"], json!(true));
}

#[tokio::test]
async fn mc_gsma_hash_vector() {
    assert_eq!(sha256_hex(GSMA_NUMBER), GSMA_HASH);
    let h = start().await;
    let token = h.mc_access_token(&[("X-Sandbox-Msisdn", GSMA_NUMBER)]).await;
    let (status, body) = h.premium(&token, GSMA_HASH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true), "{body}");
}

#[tokio::test]
async fn mc_authorize_refuses_unknown_client_or_redirect_without_redirecting() {
    let h = start().await;
    let cases: Vec<(&str, Overrides)> = vec![
        (
            "unregistered redirect_uri",
            vec![("redirect_uri", Some("https://evil.example/callback"))],
        ),
        ("missing redirect_uri", vec![("redirect_uri", None)]),
        ("unknown client_id", vec![("client_id", Some("someone-else"))]),
        ("missing client_id", vec![("client_id", None)]),
    ];
    for (what, overrides) in cases {
        let res = h.client.get(h.mc_authorize_url(&overrides)).send().await.unwrap();
        assert!(res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_refusal_page(res, what, "<h1>Invalid authorization request</h1>").await;
    }
}

#[tokio::test]
async fn mc_authorize_error_redirects() {
    let h = start().await;
    let cases: Vec<(Overrides, &str, &str)> = vec![
        (vec![("response_type", None)], "invalid_request", "response_type"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
            "response_type=code",
        ),
        (vec![("scope", None)], "invalid_request", "scope"),
        (vec![("scope", Some("openid"))], "invalid_scope", "mc_vm_match_hash"),
        (vec![("scope", Some("mc_vm_match_hash"))], "invalid_scope", "openid"),
        (vec![("nonce", None)], "invalid_request", "nonce"),
        (vec![("version", None)], "invalid_request", "version"),
        (vec![("version", Some("2.0"))], "invalid_request", "version"),
        (vec![("acr_values", None)], "invalid_request", "acr_values"),
        (vec![("acr_values", Some("9"))], "invalid_request", "acr_values"),
        (
            vec![("client_id", Some(SANDBOX_VONAGE_APPLICATION_ID))],
            "unauthorized_client",
            "other API",
        ),
    ];
    for (overrides, error, hint) in cases {
        let q = h.authorize_error(&h.mc_authorize_url(&overrides)).await;
        assert_eq!(q["error"], error, "{overrides:?}: {q:?}");
        assert!(q["error_description"].contains(hint), "{overrides:?}: {q:?}");
        assert_eq!(q["state"], "state-123");
    }
    // A missing state: the error comes back without one.
    let q = h.authorize_error(&h.mc_authorize_url(&[("state", None)])).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("state"));
    assert!(!q.contains_key("state"));
    // A repeated parameter.
    let q = h
        .authorize_error(&format!("{}&nonce=again", h.mc_authorize_url(&[])))
        .await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("nonce"));
    // The second registered redirect URI is honoured.
    let landing = h
        .follow(
            &h.mc_authorize_url(&[("redirect_uri", Some(h.other_redirect_uri.as_str()))]),
            &[],
        )
        .await;
    assert!(landing.params.contains_key("code"));
    // The hop is single use.
    let res = h.client.get(h.mc_authorize_url(&[])).send().await.unwrap();
    let hop = location(&res);
    assert!(hop.starts_with(&format!("{}/hop/", h.base)), "{hop}");
    assert_eq!(h.client.get(&hop).send().await.unwrap().status(), StatusCode::FOUND);
    let again = h.client.get(&hop).send().await.unwrap();
    assert_refusal_page(again, "hop reused", "Authorization expired").await;
}

#[tokio::test]
async fn mc_token_client_authentication() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", h.redirect_uri.as_str()),
    ];

    let got = json_of(h.mc_token_raw("wrong-secret", &form).await).await;
    assert_oauth_error_hint(&got, StatusCode::UNAUTHORIZED, "invalid_client", "secret");

    // The same form, with the client authenticated otherwise (or not at all).
    let token_request = || {
        h.client
            .post(format!("{}/deviceinitiated/v1/token", h.base))
            .form(&form)
    };
    let res = token_request().send().await.unwrap();
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_client");

    let res = token_request()
        .basic_auth("someone-else", Some(SANDBOX_MC_CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_client");

    let res = token_request()
        .header(header::AUTHORIZATION, "Basic %%%not-base64")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["error"], "invalid_client");

    // Refused client authentication did not burn the code.
    let token = h.mc_token(&code).await;
    assert!(token["access_token"].is_string());
}

#[tokio::test]
async fn mc_token_grant_errors() {
    let h = start().await;
    let ok_code = h.mc_code(&[]).await;
    let redirect = h.redirect_uri.as_str();

    // Bad forms, refused before the code is looked at: it stays good.
    let cases: Vec<(Pairs, &str, Option<&str>)> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("code", &ok_code),
                ("redirect_uri", redirect),
            ],
            "unsupported_grant_type",
            None,
        ),
        (
            vec![("code", &ok_code), ("redirect_uri", redirect)],
            "invalid_request",
            Some("grant_type"),
        ),
        (
            vec![("grant_type", "authorization_code"), ("redirect_uri", redirect)],
            "invalid_request",
            Some("code"),
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", &ok_code)],
            "invalid_request",
            Some("redirect_uri"),
        ),
    ];
    for (form, error, hint) in cases {
        let got = json_of(h.mc_token_raw(SANDBOX_MC_CLIENT_SECRET, &form).await).await;
        match hint {
            Some(hint) => assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, error, hint),
            None => assert_oauth_error(&got, StatusCode::BAD_REQUEST, error),
        }
    }
    let got = h.mc_exchange("made-up", redirect).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "unknown");

    // Redirect URI mismatch (another registered one): invalid_grant, and the code is burnt.
    let code = h.mc_code(&[]).await;
    let got = h.mc_exchange(&code, &h.other_redirect_uri).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");

    // Replay: the second exchange fails and revokes the first token.
    let token = h.mc_token(&ok_code).await;
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(h.premium(access, &sha256_hex("+99012345678")).await.0, StatusCode::OK);
    let got = h.mc_exchange(&ok_code, redirect).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");
    let (status, body) = h.premium(access, &sha256_hex("+99012345678")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");

    // A CAMARA code is not a Mobile Connect code.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let got = h.mc_exchange(landing.code(), redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn mc_token_params_in_query_string() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let mut url = Url::parse(&format!("{}/deviceinitiated/v1/token", h.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &h.redirect_uri);
    let res = h
        .client
        .post(url)
        .basic_auth(SANDBOX_MC_CLIENT_ID, Some(SANDBOX_MC_CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string() && body["id_token"].is_string());
}

#[tokio::test]
async fn mc_premium_info_errors() {
    let h = start().await;
    let good = json!({ "mc_claims": { "device_msisdn_hash": sha256_hex("+99012345678") } }).to_string();

    let res = h.premium_raw(None, &good).await;
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let got = json_of(h.premium_raw(Some("unknown-token"), &good).await).await;
    assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_token");

    let token = h.mc_access_token(&[]).await;
    for (body, hint) in [
        ("", "JSON"),
        ("{not json", "JSON"),
        ("{}", "device_msisdn_hash"),
        (r#"{"mc_claims": {}}"#, "device_msisdn_hash"),
        (r#"{"mc_claims": {"device_msisdn_hash": 42}}"#, "device_msisdn_hash"),
        (r#"{"mc_claims": {"device_msisdn_hash": "abc"}}"#, "64 lowercase hex"),
        (
            &json!({ "mc_claims": { "device_msisdn_hash": GSMA_HASH.to_uppercase() } }).to_string(),
            "lowercase",
        ),
        (
            r#"{"mc_claims": {"device_msisdn_hash": "+99012345678"}}"#,
            "64 lowercase hex",
        ),
    ] {
        let (status, value) = json_of(h.premium_raw(Some(&token), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert_eq!(value["error"], "invalid_request");
        assert!(
            value["error_description"].as_str().unwrap().contains(hint),
            "{body}: {value}"
        );
    }

    // A CAMARA token has no mc_vm_match_hash scope.
    let camara = h.camara_access_token("+99012345678", &[]).await;
    let got = json_of(h.premium_raw(Some(&camara), &good).await).await;
    assert_oauth_error(&got, StatusCode::FORBIDDEN, "insufficient_scope");
}
