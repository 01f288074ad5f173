//! No lockout, over real HTTP behind a trusted proxy (`TRUST_PROXY`,
//! each request its own `X-Forwarded-For`): floods of Mobile Connect starts — cheap, no
//! operator call — from 20,000 addresses, from one IPv6 /64 and from one IPv4 address,
//! and after each a fresh client still starts and completes a verification. With the
//! memory store and with Redis.

use std::{sync::Arc, time::Duration};

use crate::helpers::{assert_error, assert_verified, follow, redis::RedisServer, Answer, Server, TestApp};
use serde_json::Value;
use tokio::{sync::Semaphore, task::JoinSet};

const FLOOD: u32 = 20_000;
const CONCURRENCY: usize = 64;
/// A flood that takes longer than this is itself a failure: a fresh client must get in within a minute.
const FLOOD_BOUND: Duration = Duration::from_secs(120);
const START: &str = r#"{"phone":"+99012345678","protocol":"mobile-connect"}"#;

/// What a flood got back.
#[derive(Default)]
struct Tally {
    /// (index, operator URL) of each start accepted.
    started: Vec<(u32, String)>,
    rate_limited: u32,
    /// Anything else: (status, body).
    other: Vec<(u16, String)>,
}

/// One start of [`START`] from `forwarded`, behind the trusted proxy.
async fn login(app: &TestApp, forwarded: &str) -> Answer {
    let body: Value = serde_json::from_str(START).unwrap();
    app.login_with(body, &[("x-forwarded-for", forwarded)]).await
}

/// `FLOOD` starts, `CONCURRENCY` at a time, the i-th from `address(i)`.
async fn flood(app: &TestApp, address: fn(u32) -> String) -> Tally {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let url = app.url("/login");
    let mut tasks = JoinSet::new();
    for i in 0..FLOOD {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let r = client
                .post(url)
                .header("x-forwarded-for", address(i))
                .header("content-type", "application/json")
                .body(START)
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16(), r.text().await.unwrap())
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let (i, status, body) = done.unwrap();
        match status {
            200 => tally.started.push((i, url_of(&body))),
            429 => {
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["error"], "rate_limited", "{body}");
                tally.rate_limited += 1;
            }
            _ => tally.other.push((status, body)),
        }
    }
    tally.started.sort();
    tally
}

async fn bounded_flood(app: &TestApp, address: fn(u32) -> String) -> Tally {
    tokio::time::timeout(FLOOD_BOUND, flood(app, address))
        .await
        .expect("the flood finishes in bounded time")
}

fn url_of(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap();
    body["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a url in {body}"))
        .to_owned()
}

/// A client the flood never used starts one (200 with a url) and completes it.
async fn a_fresh_client_gets_through(app: &TestApp, forwarded: &str) {
    let start = login(app, forwarded).await;
    assert_eq!(start.status, 200, "a fresh client ({forwarded}) is locked out: {start}");
    assert_verified(&follow(&start.url(), &[]).await.about(forwarded), true);
}

/// 10.0.0.0/8: one address each.
fn distinct_ipv4(i: u32) -> String {
    format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff)
}

/// One /64, a different address each time.
fn one_ipv6_64(i: u32) -> String {
    format!("2001:db8:aa:bb:{:x}::{:x}", i % 7, i + 1)
}

fn one_ipv4(_: u32) -> String {
    "198.51.100.7".into()
}

async fn no_lockout(redis_url: Option<&str>) {
    // SANDBOX=on: under auto the virtual operator serves no request through a proxy.
    let mut vars = vec![("TRUST_PROXY", "true"), ("SANDBOX", "on")];
    if let Some(url) = redis_url {
        vars.push(("REDIS_URL", url));
    }
    // The default limits: RATE_LIMIT_PER_MINUTE 30, MAX_PENDING_PER_CLIENT 5.
    let app = TestApp::start(&vars).await;

    // 20,000 addresses, one start each: every one is accepted and kept.
    let many = bounded_flood(&app, distinct_ipv4).await;
    assert_eq!(
        (many.started.len(), many.rate_limited),
        (FLOOD as usize, 0),
        "others: {:?}",
        &many.other[..many.other.len().min(3)]
    );
    a_fresh_client_gets_through(&app, "192.0.2.1").await;
    // The flood dropped no one else's verification: its first still completes.
    assert_verified(&follow(&many.started[0].1, &[]).await.about("the flood's first"), true);

    // 20,000 addresses of one /64: one client, rate limited as one.
    let one_net = bounded_flood(&app, one_ipv6_64).await;
    assert!(
        one_net.other.is_empty(),
        "{:?}",
        &one_net.other[..one_net.other.len().min(3)]
    );
    // 30 a minute, and the flood may straddle a window (Redis) or refill a few (memory).
    let started = one_net.started.len();
    assert!((30..=100).contains(&started), "one /64 started {started}");
    assert_eq!(started as u32 + one_net.rate_limited, FLOOD);
    a_fresh_client_gets_through(&app, "2001:db8:aa:cc::1").await;
    a_fresh_client_gets_through(&app, "192.0.2.2").await;

    // One address with no rate limit to stop it: it still holds five slots, no more.
    let mut vars = vars.clone();
    vars.push(("RATE_LIMIT_PER_MINUTE", "1000000"));
    let app = TestApp::start(&vars).await;
    let one = bounded_flood(&app, one_ipv4).await;
    assert_eq!(
        one.started.len(),
        FLOOD as usize,
        "{:?}",
        &one.other[..one.other.len().min(3)]
    );
    a_fresh_client_gets_through(&app, "192.0.2.3").await;
    // Its five newest complete; its flood's first was dropped to make room.
    let mut newest = Vec::new();
    for _ in 0..5 {
        newest.push(login(&app, &one_ipv4(0)).await.url());
    }
    let dropped = follow(&one.started[0].1, &[]).await;
    assert_error(&dropped, 400, "invalid_state");
    assert!(
        dropped.body["message"].as_str().unwrap().contains("unknown"),
        "{dropped}"
    );
    for url in newest {
        assert_verified(&follow(&url, &[]).await.about("one of the five newest"), true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_lock_no_one_out_in_memory() {
    no_lockout(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_lock_no_one_out_with_redis() {
    let redis = RedisServer::start();
    no_lockout(Some(&redis.url())).await;
}

/// Past `MAX_PENDING` (memory store), a start is refused with a clear 503 in the API's
/// error shape — the service is full, not this client too fast.
#[tokio::test]
async fn a_full_memory_store_answers_503() {
    let app = TestApp::start(&[("TRUST_PROXY", "true"), ("MAX_PENDING", "3"), ("SANDBOX", "on")]).await;
    for i in 1..=3 {
        let start = login(&app, &format!("192.0.2.{i}")).await;
        assert_eq!(start.status, 200, "{start}");
    }
    let full = login(&app, "192.0.2.9").await;
    assert_error(&full, 503, "store_unavailable");
    assert!(full.body["message"].as_str().unwrap().contains("unavailable"), "{full}");
}
