//! Carrier-grade NAT: thousands of subscribers share one IPv4 address, so one address is
//! many people. What one of them (or a foreign page in their browsers) does must not
//! push out another's verification in flight or use up the budget the others need.

use serde_json::json;

use crate::helpers::{assert_error, manual_client, Answer, Server, TestApp};

/// A foreign page making its visitors' browsers call `/login` the only way it can
/// without CORS: `fetch('/login', {mode: 'no-cors', body: '…'})`, a `text/plain` body.
fn foreign_login(app: &TestApp, fetch_site: Option<&str>, origin: Option<&str>) -> reqwest::RequestBuilder {
    let mut request = manual_client()
        .post(app.url("/login"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(r#"{"phone": "+99012345678", "protocol": "mobile-connect"}"#);
    if let Some(site) = fetch_site {
        request = request.header("sec-fetch-site", site);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request
}

#[tokio::test]
async fn a_foreign_page_cannot_start_api_flows_or_spend_the_budget() {
    let app = TestApp::start(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let callers = [
        (Some("cross-site"), Some("https://attacker.example")),
        (None, Some("https://attacker.example")),
        (Some("cross-site"), None),
        (Some("cross-site"), Some("null")),
    ];
    for _ in 0..5 {
        for (site, origin) in callers {
            let answer = Answer::read(
                format!("a foreign page's no-cors /login, {site:?} {origin:?}"),
                foreign_login(&app, site, origin),
            )
            .await;
            assert_error(&answer, 403, "cross_site");
        }
    }
    // Same origin, or a server-to-server caller, but not JSON: 415, named.
    let answer = Answer::read("text/plain /login", foreign_login(&app, None, None)).await;
    assert_error(&answer, 415, "unsupported_media_type");
    assert!(
        answer.body["message"].as_str().unwrap().contains("application/json"),
        "{answer}"
    );
    let form = Answer::read(
        "a form-encoded /login",
        manual_client()
            .post(app.url("/login"))
            .header("origin", &app.base)
            .form(&[("phone", "+99012345678")]),
    )
    .await;
    assert_error(&form, 415, "unsupported_media_type");

    // None of that cost the address anything: its whole budget (2) is left, for the
    // app's own server-to-server callers (no Origin, no Sec-Fetch-Site)...
    let body = json!({"phone": "+99012345678", "protocol": "mobile-connect"});
    app.login(body.clone()).await.url();
    // ...and for a same-origin browser.
    app.login_with(
        body.clone(),
        &[("origin", &app.base), ("sec-fetch-site", "same-origin")],
    )
    .await
    .url();
    assert_error(&app.login(body).await, 429, "rate_limited");
}
