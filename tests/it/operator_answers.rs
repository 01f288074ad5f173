//! What the app does with what an operator answers, against a stand-in Vonage on
//! `127.0.0.1:0` that answers the network enablement with whatever the test sets: a body
//! that does not decode is logged by its class and position, never quoting it (it may
//! carry a number); an oversized body is refused; an `auth_url` must be `https` on a host
//! of `VONAGE_AUTH_HOSTS`, and is forwarded as parsed.

use std::sync::{Arc, Mutex};

use crate::helpers::{assert_error, logs::CapturedLogs, Server, TestApp};
use axum::{routing::post, Router};
use number_verify::{operators::vonage::SCOPE, sandbox_contract::credentials::VONAGE_PRIVATE_KEY};
use serde_json::json;

/// A stand-in Vonage whose network enablement answers `body` (as JSON) to every request.
async fn stand_in_vonage(body: String) -> String {
    stand_in_vonage_with(Arc::new(Mutex::new(body))).await
}

/// As [`stand_in_vonage`], answering whatever `body` holds at the time.
async fn stand_in_vonage_with(body: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/v0.1/network-enablement",
        post(move || {
            let body = body.lock().unwrap().clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// The app, live against the stand-in (no virtual operator), with `extra` variables.
async fn app_against(vonage: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("SANDBOX", "off"),
        ("VONAGE_API_BASE", vonage),
        ("VONAGE_APPLICATION_ID", "app-1"),
        ("VONAGE_PRIVATE_KEY", VONAGE_PRIVATE_KEY),
    ];
    vars.extend_from_slice(extra);
    TestApp::start(&vars).await
}

fn enablement(auth_url: serde_json::Value) -> String {
    json!({ "scopes": { SCOPE: { "auth_url": auth_url, "requires_carrier_network": false } } }).to_string()
}

// On the current thread (`#[tokio::test]`'s default), which `CapturedLogs` listens to.
#[tokio::test]
async fn an_answer_that_does_not_decode_is_logged_without_any_of_its_values() {
    let logs = CapturedLogs::start(tracing::Level::TRACE);
    // serde's message for this quotes the value: "invalid type: integer `99012345678`…".
    let vonage = stand_in_vonage(enablement(json!(99012345678u64))).await;
    let app = app_against(&vonage, &[]).await;
    let answer = app.login(json!({"phone": "+99012345678"})).await;
    assert_error(&answer, 502, "operator_error");
    let log = logs.text();
    assert!(
        log.contains("Vonage network enablement: malformed answer"),
        "the failure is logged: {log}"
    );
    assert!(
        log.contains("line 1") && log.contains("column"),
        "with its position: {log}"
    );
    assert!(!log.contains("9901234567"), "a number in the log: {log}");
}

#[tokio::test]
async fn an_oversized_answer_is_malformed() {
    let logs = CapturedLogs::start(tracing::Level::TRACE);
    // Valid JSON, padded far past the cap.
    let padded = format!(
        "{}{}",
        " ".repeat(2 * 1024 * 1024),
        enablement(json!("https://oidc.idp.vonage.com/a"))
    );
    let vonage = stand_in_vonage(padded).await;
    let app = app_against(&vonage, &[]).await;
    assert_error(
        &app.login(json!({"phone": "+99012345678"})).await,
        502,
        "operator_error",
    );
    let log = logs.text();
    assert!(
        log.contains("Vonage network enablement: malformed answer: answer larger than"),
        "{log}"
    );
}

/// A stand-in Vonage that answers any request with a chunked body of no declared length:
/// `padding` bytes of whitespace in 64 KiB chunks, then `json`. It stops writing as soon
/// as the client hangs up.
async fn streaming_vonage(padding: usize, json: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let json = json.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The headers, then the JSON body the app sends (small): read until it stops.
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
                for _ in 0..padding / (64 * 1024) {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let tail = format!("{:x}\r\n{json}\r\n0\r\n\r\n", json.len());
                let _ = socket.write_all(tail.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn an_oversized_answer_without_a_length_is_refused_as_it_arrives() {
    let logs = CapturedLogs::start(tracing::Level::TRACE);
    // 64 MiB with no Content-Length: only counting the bytes as they come can refuse it.
    let vonage = streaming_vonage(64 * 1024 * 1024, enablement(json!("https://oidc.idp.vonage.com/a"))).await;
    let app = app_against(&vonage, &[]).await;
    assert_error(
        &app.login(json!({"phone": "+99012345678"})).await,
        502,
        "operator_error",
    );
    let log = logs.text();
    assert!(
        log.contains("Vonage network enablement: malformed answer: answer larger than 256 KiB"),
        "{log}"
    );
}

#[tokio::test]
async fn the_auth_url_must_be_https_on_an_allowed_host_and_is_forwarded_as_parsed() {
    let logs = CapturedLogs::start(tracing::Level::TRACE);
    let body = Arc::new(Mutex::new(String::new()));
    let vonage = stand_in_vonage_with(body.clone()).await;
    let app = app_against(&vonage, &[]).await;
    let start = |auth_url: &str| {
        *body.lock().unwrap() = enablement(json!(auth_url));
        app.login(json!({"phone": "+99012345678"}))
    };

    // Vonage's own authorization host (the default VONAGE_AUTH_HOSTS): sent on as the
    // parsed URL, host lowercased and the space in the query encoded.
    let answer = start("https://OIDC.idp.vonage.com/oauth2/auth?scope=openid dpv&state=s1").await;
    assert_eq!(
        answer.url(),
        "https://oidc.idp.vonage.com/oauth2/auth?scope=openid%20dpv&state=s1",
        "{answer}"
    );
    // The stand-in's own loopback host: a local operator answers for itself.
    let local = format!("{vonage}/oauth2/auth?state=s2");
    assert_eq!(start(&local).await.url(), local);

    // Any other host, or plain http to Vonage's: refused, and said why.
    assert_error(
        &start("https://evil.example/oauth2/auth?state=s3").await,
        502,
        "operator_error",
    );
    assert!(
        logs.text()
            .contains("auth_url host evil.example is not in VONAGE_AUTH_HOSTS"),
        "{}",
        logs.text()
    );
    assert_error(
        &start("http://oidc.idp.vonage.com/oauth2/auth").await,
        502,
        "operator_error",
    );
    assert!(logs.text().contains("auth_url is not https"), "{}", logs.text());
    assert_error(&start("javascript:alert(1)").await, 502, "operator_error");
}

#[tokio::test]
async fn vonage_auth_hosts_replaces_the_default() {
    let body = Arc::new(Mutex::new(String::new()));
    let vonage = stand_in_vonage_with(body.clone()).await;
    let app = app_against(&vonage, &[("VONAGE_AUTH_HOSTS", "auth.example, login.example")]).await;
    let start = |auth_url: &str| {
        *body.lock().unwrap() = enablement(json!(auth_url));
        app.login(json!({"phone": "+99012345678"}))
    };
    assert_eq!(start("https://login.example/a").await.url(), "https://login.example/a");
    assert_error(&start("https://oidc.idp.vonage.com/a").await, 502, "operator_error");
}
