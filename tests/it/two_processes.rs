//! The two systems in two processes: a `SANDBOX=only` virtual operator, and an app that
//! knows it only by the README's sandbox credentials and base URLs — exactly as it would
//! know a live operator. The tutorial client's sequence runs end to end across them.

use crate::helpers::{assert_error, assert_sandbox_verdict, manual_client, process::start_both, Server};
use serde_json::json;

#[tokio::test]
async fn the_tutorial_sequence_runs_across_two_processes() {
    let (operator, app) = start_both(&[]).await;

    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);
    let denied = app.tutorial(json!({"phone": "+99011111199"}), &[]).await;
    assert_error(&denied, 403, "operator_denied");
    assert!(
        denied.body["message"].as_str().unwrap().contains("operator"),
        "{denied}"
    );

    // Mobile Connect too: the operator's default SIM.
    let answer = app
        .tutorial(json!({"phone": "+99012345678", "protocol": "mobile-connect"}), &[])
        .await;
    assert_sandbox_verdict(&answer, true);

    // The URL the app hands out is the other process's.
    let url = app.login(json!({"phone": "+99012345678"})).await.url();
    assert!(url.starts_with(&operator.url("/sandbox/")), "{url}");
}

#[tokio::test]
async fn alone_the_virtual_operator_serves_no_page_and_no_api() {
    let (operator, app) = start_both(&[]).await;
    let client = manual_client();
    for (method, path) in [("GET", "/"), ("POST", "/login"), ("GET", "/callback")] {
        let r = client
            .request(method.parse().unwrap(), operator.url(path))
            .json(&json!({"phone": "+99012345678"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path} on the operator");
    }
    // And the app, built with the virtual operator, does not mount it when it has live
    // credentials: its page offers no simulated SIM.
    let page = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Verify your phone number"), "{page}");
    assert!(!page.contains("Simulated SIM"), "{page}");
    let r = client
        .post(app.url("/sandbox/v0.1/network-enablement"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
