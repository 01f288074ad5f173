//! The two systems in two processes: a `SANDBOX=only` virtual operator, and an app that
//! knows it only by the README's sandbox credentials and base URLs — exactly as it would
//! know a live operator. The tutorial client's sequence runs end to end across them.

use crate::helpers::{following_client, process::start_both, tutorial_client};
use serde_json::{json, Value};

#[tokio::test]
async fn the_tutorial_sequence_runs_across_two_processes() {
    let (operator, app) = start_both(&[]).await;

    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345678"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true }))
    );
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345677"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": false, "sandbox": true }))
    );
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99011111199"}), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "operator_denied");
    assert!(body["message"].as_str().unwrap().contains("operator"), "{body}");

    // Mobile Connect too: the operator's default SIM.
    let (status, body) = tutorial_client(
        &app.base,
        json!({"phone": "+99012345678", "protocol": "mobile-connect"}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true }))
    );

    // The URL the app hands out is the other process's.
    let login: Value = following_client(&[])
        .post(app.url("/login"))
        .json(&json!({"phone": "+99012345678"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        login["url"].as_str().unwrap().starts_with(&operator.url("/sandbox/")),
        "{login}"
    );
}

#[tokio::test]
async fn alone_the_virtual_operator_serves_no_page_and_no_api() {
    let (operator, app) = start_both(&[]).await;
    let client = crate::helpers::manual_client();
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
