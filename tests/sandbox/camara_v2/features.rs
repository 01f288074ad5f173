//! Every scenario of the two CAMARA feature files
//! (`docs/camara/camara-number-verification-v2.1.0-{verify,share}.feature`), one table per
//! file.

use std::fmt::Write as _;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use super::{OTHER, SIM};
use crate::harness::{sha256_hex, start, Harness, V2Auth, V2Op, V2_SHARE_SCOPE, V2_VERIFY_SCOPE};

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
