//! Access tokens and the API: one call per token, expiry, bodies outside the schema,
//! `x-correlator`, and the check faults.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::SIM;
use crate::harness::{assert_malformed, json_of, sha256_hex, start, Harness, V2Auth, V2Op};

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
