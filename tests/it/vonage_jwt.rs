//! A pre-made `VONAGE_JWT` is checked for expiry: at start-up (expired, or less than 5
//! minutes left → exit 2 naming it) and while running (expired → `operator_error`, with a
//! log line saying why and never the token).

use std::{
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::helpers::{assert_error, assert_verified, local_listener, logs::CapturedLogs, Server, TestApp};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use number_verify::{
    operators::vonage::VonageCredentials,
    sandbox_contract::credentials::{VONAGE_APPLICATION_ID, VONAGE_PRIVATE_KEY},
    support::redacted::Secret,
};
use serde_json::json;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An application JWT for the virtual operator's Vonage application, expiring at `exp`.
fn app_jwt(iat: u64, exp: u64) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        &json!({
            "application_id": VONAGE_APPLICATION_ID,
            "iat": iat,
            "exp": exp,
            "jti": format!("test-{iat}-{exp}"),
        }),
        &EncodingKey::from_rsa_pem(VONAGE_PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Runs the server binary with only `vars`; its exit code and stderr.
fn start_binary(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_number-verify"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    for (k, v) in vars {
        command.env(k, v);
    }
    // A port this test holds: should the configuration pass, the server cannot bind it
    // and stops instead of serving forever (root may bind any port, even 1).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    command.env("LEPTOS_SITE_ADDR", taken.local_addr().unwrap().to_string());
    let output = command.output().expect("run the server binary");
    drop(taken);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn start_with_jwt(jwt: &str) -> (Option<i32>, String) {
    start_binary(&[
        ("VONAGE_API_BASE", "https://api.example.com"),
        ("VONAGE_APPLICATION_ID", VONAGE_APPLICATION_ID),
        ("VONAGE_JWT", jwt),
    ])
}

#[test]
fn an_expired_vonage_jwt_stops_start_up_naming_it() {
    let jwt = app_jwt(now() - 1000, now() - 100);
    let (code, stderr) = start_with_jwt(&jwt);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("VONAGE_JWT") && stderr.contains("expired"), "{stderr}");
    assert!(!stderr.contains(&jwt), "the token itself is never printed: {stderr}");
}

#[test]
fn a_vonage_jwt_expiring_within_5_minutes_stops_start_up() {
    let jwt = app_jwt(now() - 600, now() + 120);
    let (code, stderr) = start_with_jwt(&jwt);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("VONAGE_JWT") && stderr.contains("less than 5 minutes"),
        "{stderr}"
    );
    assert!(!stderr.contains(&jwt), "{stderr}");
}

#[test]
fn a_vonage_jwt_that_is_not_a_jwt_stops_start_up() {
    let (code, stderr) = start_with_jwt("not-a-jwt");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("VONAGE_JWT") && stderr.contains("is not a JWT"),
        "{stderr}"
    );
}

/// The app with its virtual operator, Vonage configured with a pre-made JWT that passed
/// the start-up check; `swap` then replaces it, as the clock passing its `exp` would.
async fn app_with_premade_jwt(swap: Option<(String, u64)>) -> TestApp {
    let listener = local_listener().await;
    let operator = format!("http://{}/sandbox", listener.local_addr().unwrap());
    let good = app_jwt(now() - 5, now() + 3600);
    let vars = [
        ("SANDBOX", "on"),
        ("VONAGE_API_BASE", operator.as_str()),
        ("VONAGE_APPLICATION_ID", VONAGE_APPLICATION_ID),
        ("VONAGE_JWT", good.as_str()),
    ];
    TestApp::start_adjusted(listener, &vars, |config| {
        if let Some((jwt, expires_at)) = swap {
            config.vonage.as_mut().unwrap().credentials = VonageCredentials::Jwt {
                jwt: Secret::new(jwt),
                expires_at,
            };
        }
    })
    .await
}

// On the current thread (`#[tokio::test]`'s default), which `CapturedLogs` listens to.
#[tokio::test]
async fn a_premade_jwt_works_until_it_expires_then_operator_error_with_a_log_line() {
    let logs = CapturedLogs::start(tracing::Level::INFO);
    // Valid: the whole CAMARA flow succeeds with the pre-made token.
    let app = app_with_premade_jwt(None).await;
    assert_verified(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);

    // Expired while running: refused before any call to Vonage, and said why.
    let expires_at = now() - 60;
    let expired = app_jwt(now() - 3600, expires_at);
    let app = app_with_premade_jwt(Some((expired.clone(), expires_at))).await;
    let refused = app.login(json!({"phone": "+99012345678"})).await;
    assert_error(&refused, 502, "operator_error");
    assert!(
        refused.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{refused}"
    );
    let text = logs.text();
    assert!(
        text.contains("Vonage network enablement: refused: VONAGE_JWT expired"),
        "{text}"
    );
    assert!(
        !text.contains(&expired) && !text.contains("eyJ"),
        "a JWT in the log: {text}"
    );
}
