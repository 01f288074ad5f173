//! Stopping the server the way a deployment does: SIGTERM. Requests in flight finish
//! (within SHUTDOWN_GRACE_MS) and the process exits 0; a restart in the middle of a
//! verification loses nothing with Redis, and loses the verification with the memory
//! store. All over real processes: the app and a `SANDBOX=only` operator.

use std::time::Duration;

use crate::helpers::{
    call_back, device,
    process::{spawn_app, spawn_operator, start_both, two_free_ports, Process},
    redis::RedisServer,
    Server,
};
use serde_json::{json, Value};

/// Long enough for any start-up or drain on a busy machine; every wait is bounded by it.
const PATIENCE: Duration = Duration::from_secs(15);

/// The app logs at info, so that a test can see a callback arrive and the drain begin.
fn logged() -> (&'static str, String) {
    ("RUST_LOG", "warn,number_verify=info".into())
}

/// SIGTERM, and the process exits 0 within `PATIENCE`.
async fn stop_gracefully(process: &mut Process) {
    process.terminate();
    let status = process
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("{} still running after SIGTERM: {}", process.base, process.log_text()));
    assert_eq!(status.code(), Some(0), "{status}: {}", process.log_text());
}

#[tokio::test]
async fn sigterm_lets_a_slow_callback_finish() {
    let (_operator, mut app) = start_both(&[logged()]).await;
    // The operator's check answers 3 s after the callback asks: time enough to send the
    // signal while the callback is in flight.
    let slow = device(&[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "3000")]);
    let callback = app.callback_url(json!({ "phone": "+99012345678" }), &slow).await;

    let in_flight = tokio::spawn(async move { call_back(&callback).await });
    app.wait_for_log("callback received", PATIENCE).await;
    app.terminate();

    let answer = in_flight.await.unwrap();
    assert_eq!(
        (answer.status, answer.body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true })),
        "{}",
        app.log_text()
    );
    let status = app
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("the app still runs after SIGTERM: {}", app.log_text()));
    assert_eq!(status.code(), Some(0), "{status}: {}", app.log_text());

    // In that order: the drain began while the callback waited on the operator, the
    // callback still completed, then the process said goodbye.
    let log = app.log_text();
    let at = |line: &str| {
        log.find(line)
            .unwrap_or_else(|| panic!("no {line:?} in the log:\n{log}"))
    };
    assert!(at("callback received") < at("draining: no new connections"), "{log}");
    assert!(
        at("draining: no new connections") < at("verification completed"),
        "{log}"
    );
    assert!(at("verification completed") < at("drained; bye"), "{log}");

    // And nobody listens there any more.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused)
    );
}

/// Starts the operator and the app (with `extra_vars`), takes a verification of each
/// number up to its callback, restarts the app (SIGTERM, exit 0, same port, same
/// variables), and makes the callbacks to the new process.
async fn restart_mid_flow(extra_vars: &[(&str, String)], phones: &[&str]) -> Vec<(u16, Value)> {
    let (operator_port, app_port) = two_free_ports();
    let mut operator = spawn_operator(operator_port, &format!("http://127.0.0.1:{app_port}/callback"));
    let mut app = spawn_app(app_port, &operator.base, extra_vars);
    operator.ready().await;
    app.ready().await;

    let mut callbacks = Vec::new();
    for phone in phones {
        callbacks.push(app.callback_url(json!({ "phone": phone }), &device(&[])).await);
    }

    stop_gracefully(&mut app).await;
    let mut app = spawn_app(app_port, &operator.base, extra_vars);
    app.ready().await;

    let mut answers = Vec::new();
    for callback in &callbacks {
        let answer = call_back(callback).await;
        answers.push((answer.status, answer.body));
    }
    answers
}

#[tokio::test]
async fn a_restart_mid_flow_loses_nothing_with_redis() {
    let redis = RedisServer::start();
    let vars = [
        ("REDIS_URL", redis.url()),
        ("SESSION_KEYS", "drain-test-session-key-0123456789abcdef".to_owned()),
    ];
    let answers = restart_mid_flow(&vars, &["+99012345678", "+99012345677"]).await;
    assert_eq!(
        answers,
        [
            (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true })),
            (200, json!({ "devicePhoneNumberVerified": false, "sandbox": true })),
        ]
    );
}

#[tokio::test]
async fn a_restart_mid_flow_loses_the_flow_in_memory() {
    let answers = restart_mid_flow(&[], &["+99012345678"]).await;
    assert_eq!(
        answers,
        [(
            400,
            json!({"error": "invalid_state", "message": "This verification is unknown. Please start again."})
        )]
    );
}

/// A desktop waiting on its handoff holds a stream open for minutes: a drain ends it
/// (the stream closes cleanly, the browser's EventSource would reconnect elsewhere)
/// instead of waiting out SHUTDOWN_GRACE_MS for it.
#[tokio::test]
async fn sigterm_ends_open_handoff_streams() {
    let (_operator, mut app) = start_both(&[logged(), ("SHUTDOWN_GRACE_MS", "60000".into())]).await;
    let desktop = crate::handoff::Desktop::start(&app, "+99012345678").await;
    let mut events = desktop.events(&app).await;
    assert_eq!(events.next().await.unwrap()["phase"], "waiting");
    app.terminate();
    assert_eq!(events.next().await, None, "the stream ends with the drain");
    let status = app
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("an open stream held the drain: {}", app.log_text()));
    assert_eq!(status.code(), Some(0), "{status}: {}", app.log_text());
}
