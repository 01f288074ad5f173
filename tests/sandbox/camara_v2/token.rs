//! The token endpoint: PKCE, single-use codes bound to their client, every check of the
//! client assertion, and the token faults.

use number_verify::sandbox_contract::credentials::{CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY_ID, CAMARA_CLIENT_PRIVATE_KEY};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{FORGED_RSA_KEY, OTHER_EC_KEY};
use crate::harness::{
    app_jwt, assert_malformed, assert_oauth_error, assert_oauth_error_hint, assertion_claims, es256_assertion, json_of,
    jwt_with, now, signed_assertion, start, Pkce, V2Auth, V2Op, ASSERTION_TYPE,
};

#[tokio::test]
async fn pkce_is_checked() {
    let h = start().await;
    let auth = V2Auth::default();

    // Another verifier: refused, and the code is spent.
    let (code, pkce) = h.v2_code(&auth).await;
    let other = Pkce::new();
    let got = h.v2_exchange(&code, Some(&other.verifier), &h.client_assertion()).await;
    assert_oauth_error_hint(
        &got,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "PKCE verification failed",
    );
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");

    // No verifier for a challenged authorization; a verifier not of RFC 7636's form.
    let (code, _) = h.v2_code(&auth).await;
    let got = h.v2_exchange(&code, None, &h.client_assertion()).await;
    assert_oauth_error_hint(
        &got,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_verifier is missing",
    );
    let (code, _) = h.v2_code(&auth).await;
    let got = h.v2_exchange(&code, Some("short"), &h.client_assertion()).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "PKCE");

    // Without a challenge: no verifier is right, a verifier is wrong.
    let no_pkce = [("code_challenge", None), ("code_challenge_method", None)];
    let unchallenged = V2Auth {
        overrides: &no_pkce,
        ..V2Auth::default()
    };
    let (code, pkce) = h.v2_code(&unchallenged).await;
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "PKCE");
    let (code, _) = h.v2_code(&unchallenged).await;
    let (status, body) = h.v2_exchange(&code, None, &h.client_assertion()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn codes_are_single_use_and_bound() {
    let h = start().await;
    let auth = V2Auth::default();
    let redirect = h.redirect_uri.clone();

    // Once; a replay is refused and revokes the token it gave.
    let (code, pkce) = h.v2_code(&auth).await;
    let (status, body) = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");
    let res = h
        .v2_call(
            V2Op::Verify,
            Some(access),
            Some(r#"{"phoneNumber": "+99012345678"}"#),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Bound to the redirect URI; unknown codes; another protocol's code.
    let (code, pkce) = h.v2_code(&auth).await;
    let assertion = h.client_assertion();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", h.other_redirect_uri.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    let got = json_of(h.v2_token_raw(&form).await).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");
    let got = h.v2_exchange("no-such-code", None, &h.client_assertion()).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
    let mc_code = h.mc_code(&[]).await;
    let got = h.v2_exchange(&mc_code, None, &h.client_assertion()).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "another client");

    // The request's own shape.
    let (code, pkce) = h.v2_code(&auth).await;
    for (grant_type, drop, status, error) in [
        (
            "client_credentials",
            "",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        ("authorization_code", "code", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "authorization_code",
            "redirect_uri",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let assertion = h.client_assertion();
        let form: Vec<(&str, &str)> = [
            ("grant_type", grant_type),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ]
        .into_iter()
        .filter(|(k, _)| *k != drop)
        .collect();
        let got = json_of(h.v2_token_raw(&form).await).await;
        assert_oauth_error(&got, status, error);
    }
    // None of those spent the code.
    let (status, body) = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_client_assertion_check_refuses_with_invalid_client() {
    let h = start().await;
    let aud = h.token_endpoint();
    let claims = || assertion_claims(&aud);
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let t = now();
    let mut lifetime = claims();
    lifetime["exp"] = json!(t + 301);
    let mut expired = claims();
    expired["iat"] = json!(t - 400);
    expired["exp"] = json!(t - 100);
    let mut future = claims();
    future["iat"] = json!(t + 120);
    future["exp"] = json!(t + 180);
    let mut rs256 = claims();
    rs256["jti"] = json!("rs256");

    // A good assertion, used once (for a code that does not exist) and then again.
    let replayed = h.client_assertion();
    let got = h.v2_exchange("no-such-code", None, &replayed).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "signed with another key",
            es256_assertion(&claims(), Some(CAMARA_CLIENT_KEY_ID), OTHER_EC_KEY),
            "signature",
        ),
        (
            "RS256, not the registered key's ES256",
            jwt_with(rs256, FORGED_RSA_KEY),
            "alg",
        ),
        (
            "another kid",
            es256_assertion(&claims(), Some("nv-sandbox-camara-key-2"), CAMARA_CLIENT_PRIVATE_KEY),
            "kid",
        ),
        (
            "aud another token endpoint",
            signed_assertion(&with("aud", json!("https://op.example/token"))),
            "aud",
        ),
        (
            "aud a list without the token endpoint",
            signed_assertion(&with("aud", json!(["https://op.example/token"]))),
            "aud",
        ),
        ("no aud", signed_assertion(&without("aud")), "aud"),
        (
            "iss another client",
            signed_assertion(&with("iss", json!("someone-else"))),
            "iss",
        ),
        (
            "sub another client",
            signed_assertion(&with("sub", json!("someone-else"))),
            "sub",
        ),
        ("exp - iat > 300", signed_assertion(&lifetime), "300"),
        ("expired", signed_assertion(&expired), "expired"),
        ("iat in the future", signed_assertion(&future), "future"),
        ("no exp", signed_assertion(&without("exp")), "exp"),
        ("no iat", signed_assertion(&without("iat")), "iat"),
        ("no jti", signed_assertion(&without("jti")), "jti"),
        ("a reused jti", replayed, "already used"),
        ("not a JWT", "not.a.jwt".into(), "JWT"),
    ];
    let (code, pkce) = h.v2_code(&V2Auth::default()).await;
    for (what, assertion, hint) in cases {
        let (status, body) = h.v2_exchange(&code, Some(&pkce.verifier), &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{what}: {body}"
        );
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(hint), "{what}: {body}");
    }
    // Missing or mistyped client authentication, a client_id that is not the assertion's.
    let assertion = h.client_assertion();
    let redirect = h.redirect_uri.as_str();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let forms: Vec<Vec<(&str, &str)>> = vec![
        base.to_vec(),
        [&base[..], &[("client_assertion_type", ASSERTION_TYPE)]].concat(),
        [
            &base[..],
            &[
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ],
        ]
        .concat(),
        [
            &base[..],
            &[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
                ("client_id", "someone-else"),
            ],
        ]
        .concat(),
    ];
    for form in forms {
        let got = json_of(h.v2_token_raw(&form).await).await;
        assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // None of the refusals spent the code; accepted variants: no kid, aud a list, aud
    // the issuer, client_id given.
    let mut issuer_aud = claims();
    issuer_aud["aud"] = json!(h.issuer());
    let accepted = [
        es256_assertion(&claims(), None, CAMARA_CLIENT_PRIVATE_KEY),
        signed_assertion(&with("aud", json!(["https://op.example/token", aud.as_str()]))),
        signed_assertion(&issuer_aud),
    ];
    for assertion in &accepted {
        let got = h.v2_exchange("no-such-code", None, assertion).await;
        assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let assertion = h.client_assertion();
    let form = [
        &base[..],
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("client_id", CAMARA_CLIENT_ID),
        ],
    ]
    .concat();
    let (status, body) = json_of(h.v2_token_raw(&form).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn fault_client_assertion_expired() {
    let h = start().await;
    let faulty = V2Auth {
        headers: &[("X-Sandbox-Fault", "client-assertion-expired")],
        ..V2Auth::default()
    };
    let (code, pkce) = h.v2_code(&faulty).await;
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_oauth_error_hint(
        &got,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client assertion has expired",
    );
    // Only that code is affected.
    let (code, pkce) = h.v2_code(&V2Auth::default()).await;
    let (status, body) = h.v2_exchange(&code, Some(&pkce.verifier), &h.client_assertion()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn token_faults() {
    let h = start().await;
    let fault = |name: &'static str| [("X-Sandbox-Fault", name)];
    let exchange = |headers: [(&'static str, &'static str); 1]| {
        let h = &h;
        async move {
            let (code, pkce) = h
                .v2_code(&V2Auth {
                    headers: &headers,
                    ..V2Auth::default()
                })
                .await;
            let assertion = h.client_assertion();
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", h.redirect_uri.as_str()),
                ("code_verifier", pkce.verifier.as_str()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ];
            h.v2_token_raw(&form).await
        }
    };
    let got = json_of(exchange(fault("token-500")).await).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    assert_malformed(exchange(fault("token-malformed")).await).await;
}

#[tokio::test]
async fn the_vonage_application_jwt_is_no_client_assertion() {
    let h = start().await;
    let (code, pkce) = h.v2_code(&V2Auth::default()).await;
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &app_jwt()).await;
    assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");
}
