//! Carrier-grade NAT: thousands of subscribers share one IPv4 address, so one address is
//! many people. What one of them (or a foreign page in their browsers) does must not
//! push out another's verification in flight or use up the budget the others need.

use serde_json::json;

use crate::helpers::{
    absolute, assert_error, browser::Browser, hops_to_callback, location, manual_client, redis::RedisServer, Answer,
    Server, TestApp,
};

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

/// A page start by `browser` (no JavaScript): where the server sends it.
async fn page_start(app: &TestApp, browser: &mut Browser, protocol: &str) -> String {
    let post = browser
        .send(
            browser
                .client
                .post(app.url("/api/start"))
                .form(&[("phone", "+99012345678"), ("protocol", protocol)]),
        )
        .await;
    assert_eq!(post.status(), 302, "a plain form post is answered with a redirect");
    absolute(post.url(), &location(&post))
}

/// A page flow's slot is its browser's: another person behind the same address starting
/// many page flows (far past `MAX_PENDING_PER_CLIENT`) does not push it out.
async fn another_person_on_the_address_cannot_push_out_a_page_flow(store: &[(&str, &str)]) {
    let app = TestApp::start(&[&[("MAX_PENDING_PER_CLIENT", "2")], store].concat()).await;
    let mut first = Browser::new();
    let start = page_start(&app, &mut first, "mobile-connect").await;
    let callback = hops_to_callback(&first.client, &start).await;

    // The second person: one browser retrying, and fresh browsers (no cookie) too.
    let mut second = Browser::new();
    for _ in 0..8 {
        assert!(!page_start(&app, &mut second, "mobile-connect").await.contains("error="));
    }
    for _ in 0..4 {
        let mut fresh = Browser::new();
        assert!(!page_start(&app, &mut fresh, "mobile-connect").await.contains("error="));
    }
    // And the API from the same address, past its own cap.
    for _ in 0..4 {
        app.login(json!({"phone": "+99012345678", "protocol": "mobile-connect"}))
            .await
            .url();
    }

    let r = first.send(first.client.get(&callback)).await;
    let (url, html) = first.follow(r).await;
    assert!(
        url.contains("/?result="),
        "the first person's flow was pushed out: {url}"
    );
    assert!(html.contains("+99012345678: verified!"), "{html}");
}

/// The page and the API have their own budgets per address: page starts never spend the
/// API's, nor the other way round.
async fn page_starts_do_not_spend_the_api_budget(store: &[(&str, &str)]) {
    let limits = [("RATE_LIMIT_PER_MINUTE", "2"), ("PAGE_RATE_LIMIT_PER_MINUTE", "4")];
    let app = TestApp::start(&[&limits[..], store].concat()).await;
    for _ in 0..4 {
        let mut browser = Browser::new();
        let target = page_start(&app, &mut browser, "mobile-connect").await;
        assert!(!target.contains("error="), "{target}");
    }
    let mut browser = Browser::new();
    assert!(page_start(&app, &mut browser, "mobile-connect")
        .await
        .ends_with("/?error=rate_limited"));

    let body = json!({"phone": "+99012345678", "protocol": "mobile-connect"});
    app.login(body.clone()).await.url();
    app.login(body.clone()).await.url();
    assert_error(&app.login(body).await, 429, "rate_limited");
}

/// An IPv6 /48 (one allocation, 65,536 /64s) has eight times a /64's budget, not 65,536
/// times.
async fn many_64s_inside_one_48_hit_the_48s_limit(store: &[(&str, &str)]) {
    // SANDBOX=on: under auto the virtual operator serves no request through a proxy.
    let limits = [
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("TRUST_PROXY", "true"),
        ("SANDBOX", "on"),
    ];
    let app = TestApp::start(&[&limits[..], store].concat()).await;
    let body = json!({"phone": "+99012345678", "protocol": "mobile-connect"});
    for n in 0..8 {
        let from = format!("2001:db8:1:{n:x}::1");
        app.login_with(body.clone(), &[("x-forwarded-for", &from)])
            .await
            .about(format!("/64 number {n} of the /48"))
            .url();
    }
    let answer = app
        .login_with(body.clone(), &[("x-forwarded-for", "2001:db8:1:ff::1")])
        .await;
    assert_error(&answer, 429, "rate_limited");
    // Another /48 has its own budget.
    app.login_with(body, &[("x-forwarded-for", "2001:db8:2:ff::1")])
        .await
        .url();
}

#[tokio::test]
async fn a_page_flow_is_its_sessions_in_memory() {
    another_person_on_the_address_cannot_push_out_a_page_flow(&[]).await;
}

#[tokio::test]
async fn a_page_flow_is_its_sessions_with_redis() {
    let redis = RedisServer::start();
    another_person_on_the_address_cannot_push_out_a_page_flow(&[("REDIS_URL", &redis.url())]).await;
}

#[tokio::test]
async fn page_and_api_budgets_are_separate_in_memory() {
    page_starts_do_not_spend_the_api_budget(&[]).await;
}

#[tokio::test]
async fn page_and_api_budgets_are_separate_with_redis() {
    let redis = RedisServer::start();
    page_starts_do_not_spend_the_api_budget(&[("REDIS_URL", &redis.url())]).await;
}

#[tokio::test]
async fn one_48_is_limited_in_memory() {
    many_64s_inside_one_48_hit_the_48s_limit(&[]).await;
}

#[tokio::test]
async fn one_48_is_limited_with_redis() {
    let redis = RedisServer::start();
    many_64s_inside_one_48_hit_the_48s_limit(&[("REDIS_URL", &redis.url())]).await;
}
