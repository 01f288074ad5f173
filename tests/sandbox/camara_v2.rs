//! Standard CAMARA NumberVerification v2.1 with the CAMARA ICM security profile
//! (docs/reference.md §2.3): discovery, authorization with PKCE, `private_key_jwt`,
//! single-use access tokens, and every scenario of the two CAMARA feature files
//! (`docs/camara/camara-number-verification-v2.1.0-{verify,share}.feature`), one table per
//! file.

use std::fmt::Write as _;

use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
use number_verify::sandbox_shared::credentials::{
    CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY_ID, CAMARA_CLIENT_PRIVATE_KEY, MC_CLIENT_ID,
};
use reqwest::{header, Response, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    app_jwt, assert_malformed, assert_oauth_error, assert_oauth_error_hint, assert_refusal_page, assertion_claims,
    es256_assertion, json_of, jwt_with, now, sha256_hex, signed_assertion, start, Harness, Pkce, V2Auth, V2Op,
    ASSERTION_TYPE, V2_NONCE, V2_SHARE_SCOPE, V2_STATE, V2_VERIFY_SCOPE,
};

/// The SIM of the simulated device (the default: no login_hint is sent).
const SIM: &str = "+99012345678";
/// A valid number that is not the device's.
const OTHER: &str = "+99012345670";
/// A P-256 key that is not the client's (the virtual operator's own id_token key).
const OTHER_EC_KEY: &str = include_str!("../../sandbox-keys/mc-id-token-ec-2.pem");
/// An RSA key that is not the client's.
const FORGED_RSA_KEY: &str = include_str!("../fixtures/forged-test-only-private.pem");

// ---------------------------------------------------------------------------------------
// The feature files, scenario by scenario.

/// The access token a scenario sends.
#[derive(Debug, Clone, Copy)]
enum Token {
    /// Fresh, with the operation's scope, by network authentication.
    Valid,
    /// No `Authorization` header.
    Missing,
    /// Issued already expired (fault `token-expired`).
    Expired,
    /// Not a token this operator issued.
    Invalid,
    /// Fresh, but with the other operation's scope only.
    WithoutScope,
    /// Fresh, but not obtained by network authentication (fault `not-network-auth`).
    NotByNetwork,
}

/// What a scenario expects.
enum Want {
    /// 200 with exactly this body.
    Ok(Value),
    /// This status and CAMARA error `code`.
    Error(StatusCode, &'static str),
}

struct Case {
    /// The scenario's tag in the feature file, exactly.
    name: &'static str,
    token: Token,
    /// The verify request body (`None`: no body).
    body: Option<String>,
    want: Want,
}

fn case(name: &'static str, token: Token, body: Option<Value>, want: Want) -> Case {
    Case {
        name,
        token,
        body: body.map(|b| b.to_string()),
        want,
    }
}

async fn token_for(h: &Harness, op: V2Op, kind: Token) -> Option<String> {
    let (own, other) = match op {
        V2Op::Verify => (V2_VERIFY_SCOPE, V2_SHARE_SCOPE),
        V2Op::Share => (V2_SHARE_SCOPE, V2_VERIFY_SCOPE),
    };
    let with = |scope, headers| V2Auth {
        scope,
        headers,
        ..V2Auth::default()
    };
    Some(match kind {
        Token::Missing => return None,
        Token::Invalid => uuid::Uuid::new_v4().simple().to_string(),
        Token::Valid => h.v2_access_token(&with(own, &[])).await,
        Token::WithoutScope => h.v2_access_token(&with(other, &[])).await,
        Token::Expired => {
            h.v2_access_token(&with(own, &[("X-Sandbox-Fault", "token-expired")]))
                .await
        }
        Token::NotByNetwork => {
            h.v2_access_token(&with(own, &[("X-Sandbox-Fault", "not-network-auth")]))
                .await
        }
    })
}

/// Runs one scenario with a fresh token; `Err` says what differed.
async fn run(h: &Harness, op: V2Op, case: &Case) -> Result<(), String> {
    let token = token_for(h, op, case.token).await;
    // The tag is a valid XCorrelator: it travels as the request's x-correlator.
    let res = h
        .v2_call(op, token.as_deref(), case.body.as_deref(), Some(case.name))
        .await;
    let status = res.status();
    let content_type = res.headers().get(header::CONTENT_TYPE).cloned();
    let correlator = res.headers().get("x-correlator").cloned();
    let text = res.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    let mut wrong = Vec::new();
    if content_type.as_ref().and_then(|v| v.to_str().ok()) != Some("application/json") {
        wrong.push(format!("Content-Type {content_type:?}"));
    }
    if correlator.as_ref().and_then(|v| v.to_str().ok()) != Some(case.name) {
        wrong.push(format!("x-correlator {correlator:?} is not the request's"));
    }
    match &case.want {
        Want::Ok(want) => {
            if status != StatusCode::OK || body != *want {
                wrong.push(format!("want 200 {want}"));
            }
        }
        Want::Error(want, code) => {
            if status != *want {
                wrong.push(format!("want status {want}"));
            }
            if body["status"] != json!(want.as_u16()) {
                wrong.push("the status property is not the HTTP status".into());
            }
            if body["code"] != json!(code) {
                wrong.push(format!("want code {code}"));
            }
            if !body["message"].as_str().is_some_and(|m| m.trim().len() > 10) {
                wrong.push("no user-friendly message".into());
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; got {status} {body}", wrong.join(", ")))
    }
}

/// The scenario tags of a CAMARA feature file (a copy of the CAMARA release in
/// `docs/camara/`, Apache-2.0).
fn feature_tags(file: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/camara")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('@'))
        .map(str::to_owned)
        .collect()
}

/// Runs every case, then fails once, naming each failed scenario.
async fn run_table(h: &Harness, op: V2Op, cases: &[Case]) {
    let file = match op {
        V2Op::Verify => "camara-number-verification-v2.1.0-verify.feature",
        V2Op::Share => "camara-number-verification-v2.1.0-share.feature",
    };
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        feature_tags(file),
        "the table is the feature file's scenarios, in order"
    );
    let mut failures = String::new();
    for case in cases {
        if let Err(e) = run(h, op, case).await {
            let _ = writeln!(failures, "{}: {e}", case.name);
        }
    }
    assert!(failures.is_empty(), "failed scenarios:\n{failures}");
}

#[tokio::test]
async fn every_scenario_of_the_verify_feature() {
    let h = start().await;
    use Token::*;
    let bad = |code| Want::Error(StatusCode::BAD_REQUEST, code);
    let verified = |v: bool| Want::Ok(json!({ "devicePhoneNumberVerified": v }));
    let phone = |n: &str| Some(json!({ "phoneNumber": n }));
    let hashed = |n: &str| Some(json!({ "hashedPhoneNumber": sha256_hex(n) }));
    let cases = [
        case(
            "phone_number_verify_01_generic_success_scenario",
            Valid,
            phone(SIM),
            verified(true),
        ),
        case(
            "phone_number_verify.02_validate_phone_number_success_true",
            Valid,
            phone(SIM),
            verified(true),
        ),
        case(
            "phone_number_verify.03_validate_phone_number_success_false",
            Valid,
            phone(OTHER),
            verified(false),
        ),
        case(
            "phone_number_verify.04_validate_hashed_phone_number_success_true",
            Valid,
            hashed(SIM),
            verified(true),
        ),
        case(
            "phone_number_verify.05_validate_hashed_phone_number_success_false",
            Valid,
            hashed(OTHER),
            verified(false),
        ),
        case(
            "phone_number_verify_400.1_no_request_body",
            Valid,
            None,
            bad("INVALID_ARGUMENT"),
        ),
        case(
            "phone_number_verify_400.2_empty_request_body",
            Valid,
            Some(json!({})),
            bad("INVALID_ARGUMENT"),
        ),
        case(
            "phone_number_verify_400.3_invalid_request_non_existing_property",
            Valid,
            Some(json!({ "additional_property": "foo_value" })),
            bad("INVALID_ARGUMENT"),
        ),
        case(
            "phone_number_verify_400.4_both_phone_number_and_hashed_in_request",
            Valid,
            Some(json!({ "phoneNumber": SIM, "hashedPhoneNumber": sha256_hex(SIM) })),
            bad("INVALID_ARGUMENT"),
        ),
        case(
            "phone_number_verify_401.1_no_authorization_header",
            Missing,
            phone(SIM),
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phone_number_verify_401.2_expired_access_token",
            Expired,
            phone(SIM),
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phone_number_verify_401.3_invalid_access_token",
            Invalid,
            phone(SIM),
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phoneNumberVerify_403.1_invalid_token_permissions",
            WithoutScope,
            phone(SIM),
            Want::Error(StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        ),
        case(
            "phoneNumberVerify_403.2_not_authenticated_using_network_or_sim_based_authentication",
            NotByNetwork,
            phone(SIM),
            Want::Error(
                StatusCode::FORBIDDEN,
                "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
            ),
        ),
        // v2 requires the `+` (pattern ^\+[1-9][0-9]{4,14}$).
        case(
            "phone_number_verify_C02.01_phone_number_not_schema_compliant",
            Valid,
            phone(&SIM[1..]),
            bad("INVALID_ARGUMENT"),
        ),
    ];
    assert_eq!(cases.len(), 15, "one case per scenario of the feature file");
    run_table(&h, V2Op::Verify, &cases).await;
}

#[tokio::test]
async fn every_scenario_of_the_share_feature() {
    let h = start().await;
    use Token::*;
    let number = Want::Ok(json!({ "devicePhoneNumber": SIM }));
    let cases = [
        case("phone_number_share_01_generic_success_scenario", Valid, None, number),
        case(
            "phone_number_share_02_success_scenario",
            Valid,
            None,
            Want::Ok(json!({ "devicePhoneNumber": SIM })),
        ),
        case(
            "phone_number_verify_401.1_no_authorization_header",
            Missing,
            None,
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phone_number_verify_401.2_expired_access_token",
            Expired,
            None,
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phone_number_verify_401.3_invalid_access_token",
            Invalid,
            None,
            Want::Error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        ),
        case(
            "phoneNumberShare_403.1_invalid_token_permissions",
            WithoutScope,
            None,
            Want::Error(StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        ),
        case(
            "phoneNumberShare_403.2_not_authenticated_using_network_or_sim_based_authentication",
            NotByNetwork,
            None,
            Want::Error(
                StatusCode::FORBIDDEN,
                "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK",
            ),
        ),
    ];
    assert_eq!(cases.len(), 7, "one case per scenario of the feature file");
    run_table(&h, V2Op::Share, &cases).await;
}

// ---------------------------------------------------------------------------------------
// Discovery and authorization.

#[tokio::test]
async fn the_discovery_document_names_the_endpoints_and_the_profile() {
    let h = start().await;
    let res = h
        .client
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let (status, doc) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    let i = h.issuer();
    assert!(i.ends_with("/sandbox/camara/v2"), "{i}");
    assert_eq!(
        doc,
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": [
                "openid",
                "dpv:FraudPreventionAndDetection",
                "number-verification:verify",
                "number-verification:device-phone-number:read"
            ],
        })
    );
    // The JWKS it names is served, and is the Mobile Connect key set.
    let (_, v2) = json_of(h.client.get(format!("{i}/jwks")).send().await.unwrap()).await;
    let (_, mc) = json_of(
        h.client
            .get(format!("{}/.well-known/jwks.json", h.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v2, mc);
    assert_eq!(v2["keys"].as_array().unwrap().len(), 2, "{v2}");
}

#[tokio::test]
async fn authorization_refusals() {
    let h = start().await;
    let pkce = Pkce::new();
    let url = |overrides: &[(&str, Option<&str>)]| h.v2_authorize_url(&pkce, V2_VERIFY_SCOPE, overrides);

    // No redirect to an unknown client or an unregistered redirect URI.
    for overrides in [
        vec![("client_id", Some("nobody"))],
        vec![("client_id", None)],
        vec![("redirect_uri", Some("https://evil.example/cb"))],
        vec![("redirect_uri", None)],
    ] {
        let res = h.client.get(url(&overrides)).send().await.unwrap();
        assert_refusal_page(res, &format!("{overrides:?}"), "Invalid authorization request").await;
    }

    let short = &pkce.challenge[1..];
    // Parameters to change, the error, a word of its description.
    type Case<'a> = (Vec<(&'a str, Option<&'a str>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
            "S256",
        ),
        (vec![("code_challenge_method", None)], "invalid_request", "S256"),
        (vec![("code_challenge", None)], "invalid_request", "code_challenge"),
        (vec![("code_challenge", Some(short))], "invalid_request", "43"),
        (
            vec![("scope", Some("openid dpv:FraudPreventionAndDetection"))],
            "invalid_scope",
            "number-verification:verify",
        ),
        (
            vec![("scope", Some("number-verification:verify"))],
            "invalid_scope",
            "openid",
        ),
        (
            vec![("login_hint", Some("tel:99012345678"))],
            "invalid_request",
            "login_hint",
        ),
        (
            vec![("login_hint", Some("operatortoken:abc"))],
            "invalid_request",
            "login_hint",
        ),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
            "code",
        ),
        (
            vec![("client_id", Some(MC_CLIENT_ID))],
            "unauthorized_client",
            "other API",
        ),
    ];
    for (overrides, error, hint) in cases {
        let q = h.authorize_error(&url(&overrides)).await;
        assert_eq!(q["error"], error, "{overrides:?}: {q:?}");
        assert!(q["error_description"].contains(hint), "{overrides:?}: {q:?}");
        assert_eq!(q["state"], V2_STATE, "{overrides:?}");
    }
    // state is required (and so cannot be echoed).
    let q = h.authorize_error(&url(&[("state", None)])).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("state"), "{q:?}");
    // An HMAC-signed id_token has no meaning without a client secret.
    let res = h
        .client
        .get(url(&[]))
        .header("X-Sandbox-Id-Token", "hs256")
        .send()
        .await
        .unwrap();
    let q = crate::harness::query_map(&crate::harness::location(&res));
    assert_eq!(q["error"], "invalid_request", "{q:?}");

    // Decided at the operator, after the hop: Wi-Fi, an unavailable operator, the
    // virtual operator rule's failing numbers.
    for (headers, overrides, error, hint) in [
        (
            vec![("X-Sandbox-Network", "wifi")],
            vec![],
            "access_denied",
            "mobile data",
        ),
        (
            vec![("Cookie", "sandbox_network=wifi")],
            vec![],
            "access_denied",
            "mobile data",
        ),
        (
            vec![("X-Sandbox-Fault", "unavailable")],
            vec![],
            "temporarily_unavailable",
            "unavailable",
        ),
        (
            vec![],
            vec![("login_hint", Some("tel:+99011111199"))],
            "server_error",
            "99",
        ),
    ] {
        let landing = h.follow(&url(&overrides), &headers).await;
        assert!(landing.hops >= 2, "{headers:?}: {} hops", landing.hops);
        landing.assert_error(error, hint);
        assert_eq!(landing.params["state"], V2_STATE);
    }
}

/// The number the operator says the device is on, for an authorization.
async fn device_number(h: &Harness, overrides: &[(&str, Option<&str>)], headers: &[(&str, &str)]) -> String {
    let token = h
        .v2_access_token(&V2Auth {
            scope: V2_SHARE_SCOPE,
            overrides,
            headers,
        })
        .await;
    let (status, body) = json_of(h.v2_call(V2Op::Share, Some(&token), None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["devicePhoneNumber"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_sim_is_decided_as_for_the_other_protocols() {
    let h = start().await;
    // The default SIM; the virtual operator rule on a login_hint (tel: or bare); the
    // header-enrichment header and the cookie win over it.
    assert_eq!(device_number(&h, &[], &[]).await, SIM);
    for (hint, number) in [
        ("tel:+99012345670", "+99012345670"),
        ("+99012345670", "+99012345670"),
        ("tel:+990-1234-5670", "+99012345670"),
        ("tel:+99012345677", "+99012345676"),
    ] {
        assert_eq!(
            device_number(&h, &[("login_hint", Some(hint))], &[]).await,
            number,
            "{hint}"
        );
    }
    let hint = [("login_hint", Some("tel:+99012345670"))];
    assert_eq!(
        device_number(&h, &hint, &[("X-Sandbox-Msisdn", "+447700900123")]).await,
        "+447700900123"
    );
    assert_eq!(
        device_number(&h, &hint, &[("Cookie", "sandbox_sim=%2B447700900124")]).await,
        "+447700900124"
    );
    // Both operation scopes in one token.
    let both = "openid dpv:FraudPreventionAndDetection number-verification:verify number-verification:device-phone-number:read";
    let token = h
        .v2_token(&V2Auth {
            scope: both,
            ..V2Auth::default()
        })
        .await;
    assert_eq!(
        token["scope"],
        "openid number-verification:verify number-verification:device-phone-number:read"
    );
}

// ---------------------------------------------------------------------------------------
// Token endpoint: PKCE, the code, the client assertion.

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

// ---------------------------------------------------------------------------------------
// Access tokens and the API.

async fn verify_status(h: &Harness, token: &str, body: &str) -> (StatusCode, Value) {
    json_of(h.v2_call(V2Op::Verify, Some(token), Some(body), None).await).await
}

#[tokio::test]
async fn an_access_token_serves_one_call() {
    let h = start().await;
    let good = r#"{"phoneNumber": "+99012345678"}"#;
    let token = h.v2_access_token(&V2Auth::default()).await;
    // Refusals (400, 403) do not spend it.
    let (status, _) = verify_status(&h, &token, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = json_of(h.v2_call(V2Op::Share, Some(&token), None, None).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = verify_status(&h, &token, good).await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({"devicePhoneNumberVerified": true}))
    );
    // The answer spent it.
    let (status, body) = verify_status(&h, &token, good).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED"))
    );
    assert!(body["message"].as_str().unwrap().contains("already used"), "{body}");

    // One call across both operations.
    let both = "openid number-verification:verify number-verification:device-phone-number:read";
    let token = h
        .v2_access_token(&V2Auth {
            scope: both,
            ..V2Auth::default()
        })
        .await;
    let (status, _) = json_of(h.v2_call(V2Op::Share, Some(&token), None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = verify_status(&h, &token, good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Other protocols' tokens are not this API's; a v2 token is not theirs.
    let vonage = h.camara_access_token("+99012345678", &[]).await;
    let (status, _) = verify_status(&h, &vonage, good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = h.v2_access_token(&V2Auth::default()).await;
    let (status, _) = json_of(h.verify_raw(Some(&token), Some(good)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn fault_token_expired_is_told_apart_from_an_unknown_token() {
    let h = start().await;
    let body = h
        .v2_token(&V2Auth {
            headers: &[("Cookie", "sandbox_fault=token-expired")],
            ..V2Auth::default()
        })
        .await;
    assert_eq!(body["expires_in"], 300, "{body}");
    let token = body["access_token"].as_str().unwrap();
    for _ in 0..2 {
        let (status, body) = verify_status(&h, token, r#"{"phoneNumber": "+99012345678"}"#).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED"))
        );
        assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
    }
    let (_, body) = verify_status(&h, "unknown", r#"{"phoneNumber": "+99012345678"}"#).await;
    assert!(!body["message"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn more_bodies_that_are_not_the_schema() {
    let h = start().await;
    let hash = sha256_hex(SIM);
    let both_and_more = json!({ "phoneNumber": SIM, "hashedPhoneNumber": hash, "x": 1 }).to_string();
    for (body, hint) in [
        ("  ", "required"),
        ("{not json", "JSON"),
        ("[]", "object"),
        ("\"+99012345678\"", "object"),
        (r#"{"phoneNumber": "+99012345678", "extra": 1}"#, "exactly one"),
        (both_and_more.as_str(), "not both"),
        (r#"{"phoneNumber": 99012345678}"#, "E.164"),
        (r#"{"phoneNumber": "+44 7700 900123"}"#, "E.164"),
        (r#"{"phoneNumber": "+0990123456"}"#, "E.164"),
        (r#"{"hashedPhoneNumber": "abc"}"#, "64"),
        (r#"{"hashedPhoneNumber": null}"#, "64"),
    ] {
        let token = h.v2_access_token(&V2Auth::default()).await;
        let (status, value) = verify_status(&h, &token, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert_eq!(
            (value["status"].as_u64(), value["code"].as_str()),
            (Some(400), Some("INVALID_ARGUMENT"))
        );
        assert!(value["message"].as_str().unwrap().contains(hint), "{body}: {value}");
    }
    // Hex case does not matter; the hash is of "+E.164" only.
    for (hashed, verified) in [(hash.to_uppercase(), true), (sha256_hex(&SIM[1..]), false)] {
        let token = h.v2_access_token(&V2Auth::default()).await;
        let (status, value) = verify_status(&h, &token, &json!({ "hashedPhoneNumber": hashed }).to_string()).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        assert_eq!(value["devicePhoneNumberVerified"], json!(verified));
    }
}

fn correlator(res: &Response) -> Option<String> {
    res.headers()
        .get("x-correlator")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn x_correlator_is_checked_echoed_or_made() {
    let h = start().await;
    let good = Some(r#"{"phoneNumber": "+99012345678"}"#);
    let token = h.v2_access_token(&V2Auth::default()).await;
    // Not the XCorrelator pattern: 400, nothing echoed, the token untouched.
    for bad in ["has space", "quote\"", &"a".repeat(257)] {
        let res = h.v2_call(V2Op::Verify, Some(&token), good, Some(bad)).await;
        assert_eq!(correlator(&res), None);
        let (status, body) = json_of(res).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("INVALID_ARGUMENT"))
        );
        assert!(body["message"].as_str().unwrap().contains("x-correlator"), "{body}");
    }
    // None sent: one is made (a UUID v4).
    let res = h.v2_call(V2Op::Verify, Some(&token), good, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let made = correlator(&res).expect("an x-correlator");
    assert_eq!(uuid::Uuid::parse_str(&made).unwrap().get_version_num(), 4, "{made}");
    // Echoed on an error too, checked before anything else.
    let res = h
        .v2_call(V2Op::Share, None, None, Some("b4333c46-49c0-4f62-80d7-f0ef930f1c46"))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        correlator(&res).as_deref(),
        Some("b4333c46-49c0-4f62-80d7-f0ef930f1c46")
    );
    let res = h.v2_call(V2Op::Share, None, None, Some("bad correlator")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn check_faults_apply_and_spend_the_token() {
    let h = start().await;
    let good = Some(r#"{"phoneNumber": "+99012345678"}"#);
    let faulty = |name: &'static str| V2Auth {
        headers: match name {
            "check-500" => &[("X-Sandbox-Fault", "check-500")],
            _ => &[("X-Sandbox-Fault", "check-malformed")],
        },
        ..V2Auth::default()
    };
    let token = h.v2_access_token(&faulty("check-500")).await;
    let res = h.v2_call(V2Op::Verify, Some(&token), good, Some("c-500")).await;
    assert_eq!(correlator(&res).as_deref(), Some("c-500"));
    let (status, body) = json_of(res).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("INTERNAL"))
    );
    let res = h.v2_call(V2Op::Verify, Some(&token), good, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a 5xx spends the token");

    let token = h.v2_access_token(&faulty("check-malformed")).await;
    assert_malformed(h.v2_call(V2Op::Verify, Some(&token), good, None).await).await;
}

// ---------------------------------------------------------------------------------------
// The id_token.

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

#[tokio::test]
async fn the_vonage_application_jwt_is_no_client_assertion() {
    let h = start().await;
    let (code, pkce) = h.v2_code(&V2Auth::default()).await;
    let got = h.v2_exchange(&code, Some(&pkce.verifier), &app_jwt()).await;
    assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");
}
