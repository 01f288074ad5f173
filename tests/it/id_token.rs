//! The Mobile Connect id_token is checked as OIDC Core §3.1.3.7 asks (src/operators/id_token.rs),
//! over real HTTP with the app pointed at the virtual operator, which signs HS256, RS256 or
//! ES256 and makes bad tokens on request (`X-Sandbox-Id-Token`, src/sandbox/id_token.rs).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::helpers::{
    assert_error, assert_verified, local_listener,
    process::{spawn_app, spawn_operator, two_free_ports, Process},
    Answer, Server, TestApp,
};
use number_verify::sandbox_contract::MC_JWKS_PATH;
use serde_json::json;

/// A Mobile Connect verification of the default SIM's number through the API, the
/// virtual operator making its id_token as `spec` says.
async fn mc_flow(app: &impl Server, spec: &str) -> Answer {
    app.tutorial(
        json!({"phone": "+99012345678", "protocol": "mobile-connect"}),
        &[("X-Sandbox-Id-Token", spec)],
    )
    .await
}

/// The operator's answer was refused: an operator error, with a message and no verdict.
#[track_caller]
fn assert_operator_error(answer: &Answer) {
    assert_error(answer, 502, "operator_error");
    let body = &answer.body;
    assert!(body["message"].as_str().is_some_and(|m| m.len() > 10), "{answer}");
    assert!(body.get("devicePhoneNumberVerified").is_none(), "{answer}");
}

/// A JWKS endpoint in front of the virtual operator's that counts its fetches.
async fn counting_jwks(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = local_listener().await;
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (counter, upstream) = (counter.clone(), upstream.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = reqwest::get(&upstream).await.unwrap().text().await.unwrap();
                ([("content-type", "application/json")], body)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fetches)
}

/// The app with its virtual operator, `MC_JWKS_URL` pointing at a counting proxy of the
/// virtual operator's JWKS.
async fn app_with_counted_jwks() -> (TestApp, Arc<AtomicUsize>) {
    let listener = local_listener().await;
    let upstream = format!("http://{}/sandbox{MC_JWKS_PATH}", listener.local_addr().unwrap());
    let (jwks_url, fetches) = counting_jwks(upstream).await;
    let app = TestApp::start_on(listener, &[("MC_JWKS_URL", &jwks_url)]).await;
    (app, fetches)
}

#[tokio::test]
async fn rs256_and_es256_id_tokens_are_verified_with_the_operators_jwks() {
    let (app, fetches) = app_with_counted_jwks().await;
    assert_verified(&mc_flow(&app, "rs256").await, true);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the JWKS is fetched for RS256");
    assert_verified(&mc_flow(&app, "es256").await, true);
    assert_verified(&mc_flow(&app, "rs256").await, true);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "and then cached");
    // The signature is what is checked: a published kid over another key's signature fails.
    for spec in ["rs256 bad-signature", "es256 bad-signature"] {
        assert_operator_error(&mc_flow(&app, spec).await);
    }
    // HS256 with the client secret needs no JWKS.
    assert_verified(&mc_flow(&app, "hs256").await, true);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_jwks_again_so_rotation_works_but_at_most_once_per_interval() {
    let (app, fetches) = app_with_counted_jwks().await;
    assert_verified(&mc_flow(&app, "rs256").await, true);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The operator rotates: its new kid is not in the cached JWKS → fetched again → verified.
    assert_verified(&mc_flow(&app, "rs256 rotate").await, true);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "one fetch for the unknown kid");
    assert_verified(&mc_flow(&app, "es256").await.about("es256 after rotation"), true);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "the new keys are cached");
    // A kid the operator never published: refused, and no third fetch within the interval.
    for _ in 0..3 {
        assert_operator_error(&mc_flow(&app, "unknown-kid").await);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "refetches are rate-limited");
}

#[tokio::test]
async fn a_kid_still_unknown_after_one_refetch_is_refused() {
    let (app, fetches) = app_with_counted_jwks().await;
    assert_verified(&mc_flow(&app, "es256").await, true);
    assert_operator_error(&mc_flow(&app, "unknown-kid").await);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "fetched once more for the unknown kid"
    );
}

/// The virtual operator alone and the app pointed at it as at a live operator (with
/// `MC_JWKS_URL` set to the operator's JWKS, or not at all); both ready.
async fn two_processes(jwks_url: bool) -> (Process, Process) {
    let (operator_port, app_port) = two_free_ports();
    let mut operator = spawn_operator(operator_port, &format!("http://127.0.0.1:{app_port}/callback"));
    let mut extra = Vec::new();
    if jwks_url {
        extra.push(("MC_JWKS_URL", format!("{}/sandbox{MC_JWKS_PATH}", operator.base)));
    }
    let mut app = spawn_app(app_port, &operator.base, &extra);
    operator.ready().await;
    app.ready().await;
    (operator, app)
}

/// Waits (bounded) until the log holds `text` at least `count` times.
async fn wait_for_count(app: &Process, text: &str, count: usize) {
    for _ in 0..200 {
        if app.log_text().matches(text).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{text:?} is not {count} times in the log:\n{}", app.log_text());
}

#[tokio::test]
async fn bad_id_tokens_are_operator_errors_with_a_log_line_saying_why() {
    let (_operator, app) = two_processes(true).await;
    assert_verified(&mc_flow(&app, "rs256").await, true);
    let cases = [
        ("alg-none", "alg \u{201c}none\u{201d} is not accepted"),
        ("hs384", "alg \u{201c}HS384\u{201d} is not accepted"),
        ("wrong-iss", "iss is not this operator's issuer"),
        ("rs256 wrong-iss", "iss is not this operator's issuer"),
        ("wrong-aud", "aud does not contain this client_id"),
        ("multi-aud", "several audiences and no azp"),
        ("expired", "id_token expired"),
        ("es256 expired", "id_token expired"),
        ("iat-future", "iat is"),
        ("no-iat", "id_token has no iat"),
        ("bad-signature", "signature does not verify"),
        ("rs256 bad-signature", "signature does not verify"),
        ("wrong-nonce", "nonce does not match this verification"),
        ("es256 wrong-nonce", "nonce does not match this verification"),
    ];
    let mut expected: std::collections::HashMap<&str, usize> = Default::default();
    for (spec, reason) in cases {
        assert_operator_error(&mc_flow(&app, spec).await);
        // This refusal's own line, not an earlier one with the same reason.
        let want = *expected.entry(reason).and_modify(|n| *n += 1).or_insert(1);
        wait_for_count(&app, reason, want).await;
    }
    let log = app.log_text();
    assert!(log.contains("Mobile Connect id_token: refused"), "{log}");
    // A JWT's header always starts with the base64url of `{"`: no token was logged.
    assert!(!log.contains("eyJ"), "a JWT in the log:\n{log}");
    // The good token still passes after all that.
    assert_verified(&mc_flow(&app, "es256").await, true);
}

#[tokio::test]
async fn without_mc_jwks_url_rs256_is_refused_naming_the_variable_and_hs256_still_works() {
    let (_operator, app) = two_processes(false).await;
    assert_verified(&mc_flow(&app, "hs256").await, true);
    assert_operator_error(&mc_flow(&app, "rs256").await);
    app.wait_for_log("MC_JWKS_URL is not set", Duration::from_secs(10))
        .await;
}
