//! The metrics listener (`METRICS_ADDR`): the funnel moves with real flows, labels are
//! fixed codes (never a number), the exposition is what Prometheus parses (`promtool
//! check metrics`), and the public port never serves it.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use serde_json::json;

use crate::helpers::{assert_error, assert_sandbox_verdict, Server, TestApp};

async fn scrape(app: &TestApp) -> (String, String) {
    let base = app.metrics.as_deref().expect("METRICS_ADDR was set");
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    (content_type, response.text().await.unwrap())
}

/// The value of the sample `name{labels}` (labels in the exposition's order), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_funnel_moves_with_flows() {
    let app = TestApp::start(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let (_, before) = scrape(&app).await;
    assert_eq!(
        sample(
            &before,
            r#"nv_verifications_started_total{protocol="camara",channel="network"}"#
        ),
        0.0
    );

    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);
    let wifi = app
        .tutorial(json!({"phone": "+99012345678"}), &[("X-Sandbox-Network", "wifi")])
        .await;
    assert_error(&wifi, 403, "operator_denied");
    let broken = app.tutorial(json!({"phone": "+99011111199"}), &[]).await;
    assert_error(&broken, 403, "operator_denied");

    let (content_type, text) = scrape(&app).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let ended = |outcome: &str, reason: &str| {
        sample(
            &text,
            &format!(
                r#"nv_verifications_total{{protocol="camara",channel="network",outcome="{outcome}",reason="{reason}"}}"#
            ),
        )
    };
    assert_eq!(
        sample(
            &text,
            r#"nv_verifications_started_total{protocol="camara",channel="network"}"#
        ),
        4.0,
        "{text}"
    );
    assert_eq!(ended("verified", "none"), 1.0, "{text}");
    assert_eq!(ended("not_verified", "mismatch"), 1.0, "{text}");
    assert_eq!(ended("failed", "not_mobile_data"), 1.0, "{text}");
    assert_eq!(ended("failed", "operator_unavailable"), 1.0, "{text}");
    assert_eq!(
        sample(&text, r#"nv_verification_duration_seconds_count{channel="network"}"#),
        4.0,
        "{text}"
    );
    // Vonage's flow: network enablement, then token and verify for the two that got a code.
    assert_eq!(
        sample(
            &text,
            r#"nv_operator_request_duration_seconds_count{operator="vonage",step="Vonage token",status="200"}"#
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"nv_operator_request_duration_seconds_count{operator="vonage",step="CAMARA verify",status="200"}"#
        ),
        2.0,
        "{text}"
    );
    for secret in ["99012345678", "99012345677", "99011111199"] {
        assert!(!text.contains(secret), "a number in the metrics:\n{text}");
    }
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    // Every family shown, the signed events' too (to a receiver that is not there).
    let app = TestApp::start(&[
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("EVENTS_URL", "http://127.0.0.1:9/events"),
        ("EVENTS_SECRET", "metrics-test-secret-0123456789abcdef"),
    ])
    .await;
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    let (_, text) = scrape(&app).await;
    assert!(text.contains("nv_verifications_total{"), "{text}");
    assert!(text.contains("\nnv_event_queue_depth "), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (./scripts/test.sh installs Debian's prometheus)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "promtool check metrics: {said}\n{text}");
    assert!(said.trim().is_empty(), "promtool has remarks: {said}");
}

#[tokio::test]
async fn the_public_port_does_not_serve_metrics() {
    let app = TestApp::start(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let public = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);
    assert!(!public.text().await.unwrap().contains("nv_verifications"));
    let other = reqwest::get(format!("{}/", app.metrics.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let without = TestApp::start(&[]).await;
    assert_eq!(without.metrics, None, "no listener unless METRICS_ADDR is set");
}

/// The dashboard in docs/ queries only metrics the service exposes.
#[tokio::test]
async fn the_grafana_dashboard_queries_what_is_exposed() {
    let app = TestApp::start(&[
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("EVENTS_URL", "http://127.0.0.1:9/events"),
        ("EVENTS_SECRET", "metrics-test-secret-0123456789abcdef"),
    ])
    .await;
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    // A code sent, and one the gateway fails (numbers ending in 99): the SMS series.
    for phone in ["+99012345678", "+99012345699"] {
        let failed = app
            .tutorial(json!({ "phone": phone }), &[("X-Sandbox-Network", "wifi")])
            .await;
        let ticket = failed.body["fallback"]["ticket"].as_str().expect("a ticket").to_owned();
        reqwest::Client::new()
            .post(app.url("/code/send"))
            .json(&json!({ "ticket": ticket }))
            .send()
            .await
            .unwrap();
    }
    let (_, text) = scrape(&app).await;
    let exposed: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana/number-verify.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("nv_"))
            {
                let family = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name);
                assert!(
                    exposed.contains(family),
                    "the dashboard queries {name}, which is not exposed:\n{text}"
                );
                queried += 1;
            }
        }
    }
    assert!(
        queried >= 14,
        "the dashboard queries the funnel, reasons, latency, codes and events"
    );
}
