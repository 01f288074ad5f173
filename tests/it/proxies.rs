//! The client behind trusted proxies (`TRUSTED_PROXIES`, `TRUST_PROXY`), over real HTTP:
//! each forwarded client has its own rate limit, hops inside the trusted ranges are
//! skipped, RFC 7239 `Forwarded` is read, and a proxy sending an unreadable header is
//! reported once in the log, not on every request. With `SANDBOX=on`: under `auto` the
//! virtual operator serves no request that came through a proxy (`it::sandbox_auto`).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    process::{free_port, Process},
    Server, TestApp,
};

async fn login_status(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    app.login_with(json!({"phone": "+99012345678"}), headers).await.status
}

/// A CDN in front of a load balancer: the client is left of every trusted hop, not the
/// last `X-Forwarded-For` entry.
#[tokio::test]
async fn trusted_hops_are_skipped_to_find_each_client() {
    let app = TestApp::start(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
        ("SANDBOX", "on"),
    ])
    .await;
    let xff = |v: &'static str| [("x-forwarded-for", v)];
    assert_eq!(login_status(&app, &xff("198.51.100.7, 10.0.0.5")).await, 200);
    assert_eq!(
        login_status(&app, &xff("198.51.100.8:5123, 10.0.0.5")).await,
        200,
        "another client behind the same proxies"
    );
    assert_eq!(
        login_status(&app, &xff("203.0.113.66, 198.51.100.7, 10.0.0.9")).await,
        429,
        "the first client again, through another edge node, whatever it claims to its left"
    );
    // RFC 7239 Forwarded: quoted, bracketed IPv6 with a port.
    let forwarded = |v: &'static str| [("forwarded", v)];
    let v6 = r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.5"#;
    assert_eq!(login_status(&app, &forwarded(v6)).await, 200);
    assert_eq!(login_status(&app, &forwarded(v6)).await, 429, "the same IPv6 client");
}

/// A peer outside `TRUSTED_PROXIES` is the client, whatever header it sends.
#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_address() {
    let app = TestApp::start(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
        ("SANDBOX", "on"),
    ])
    .await;
    assert_eq!(login_status(&app, &[("x-forwarded-for", "198.51.100.7")]).await, 200);
    assert_eq!(login_status(&app, &[("x-forwarded-for", "198.51.100.8")]).await, 429);
}

/// A trusted proxy that sends an unreadable header: the proxy stands for the client, and
/// the log says so once, not on every request.
#[tokio::test]
async fn an_unreadable_forwarding_header_is_logged_once() {
    let port = free_port();
    let mut app = Process::spawn(
        "proxies",
        port,
        &[("TRUST_PROXY", "true".into()), ("SANDBOX", "on".into())],
    );
    app.ready().await;
    for _ in 0..3 {
        let start = app
            .login_with(
                json!({"phone": "+99012345678"}),
                &[("x-forwarded-for", "198.51.100.7, not-an-address")],
            )
            .await;
        assert_eq!(start.status, 200, "{start}");
    }
    app.terminate();
    app.wait_exit(Duration::from_secs(20)).await.expect("the server exits");
    let log = app.log_text();
    // (A header missing altogether is the other reason, warned once too: the app's own
    // calls to the mounted virtual operator come with none.)
    let unreadable = log
        .lines()
        .filter(|l| l.contains("cannot tell the client") && l.contains("X-Forwarded-For entry is not an IP address"))
        .count();
    assert_eq!(unreadable, 1, "{log}");
    assert!(!log.contains("198.51.100.7"), "no address in the log: {log}");
}
