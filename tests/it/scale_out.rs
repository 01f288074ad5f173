//! Several instances behind one address, sharing Redis (one server, or a three-node Redis
//! Cluster through `REDIS_CLUSTER_URLS`), over real HTTP: a flow started on one instance
//! finishes on another, an outage of Redis is a clear error that heals by itself, and
//! many concurrent flows across two instances all get their own verdict.
//! The virtual operator runs as its own server (`SANDBOX=only`), as in production.

use std::{sync::Arc, time::Duration};

use crate::helpers::{
    absolute, assert_error, assert_sandbox_verdict,
    browser::Browser,
    call_back, following_client, hops_to_callback, local_listener, location, manual_client,
    redis::{RedisCluster, RedisServer},
    Answer, Server, TestApp,
};
use number_verify::sandbox_contract::credentials;
use serde_json::json;

/// The operator alone, and instances A and B with one public URL (A's), one shared
/// store (`S`: a Redis or a Redis Cluster).
struct Deployment<S> {
    a: TestApp,
    b: TestApp,
    redis: S,
    _operator: TestApp,
}

async fn deploy() -> Deployment<RedisServer> {
    let redis = RedisServer::start();
    let url = redis.url();
    deploy_on(redis, ("REDIS_URL", url)).await
}

async fn deploy_on_a_cluster() -> Deployment<RedisCluster> {
    let cluster = RedisCluster::start();
    let seeds = cluster.urls().join(",");
    deploy_on(cluster, ("REDIS_CLUSTER_URLS", seeds)).await
}

/// Both instances over `redis`, named to them by `store`.
async fn deploy_on<S>(redis: S, store: (&str, String)) -> Deployment<S> {
    let operator_listener = local_listener().await;
    let (a_listener, b_listener) = (local_listener().await, local_listener().await);
    let operator_base = format!("http://{}", operator_listener.local_addr().unwrap());
    let public = format!("http://{}", a_listener.local_addr().unwrap());

    let operator = TestApp::start_on(
        operator_listener,
        &[
            ("SANDBOX", "only"),
            ("SANDBOX_REDIRECT_URIS", &format!("{public}/callback")),
        ],
    )
    .await;

    let api = format!("{operator_base}/sandbox");
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
    let vars = [
        ("APP_PUBLIC_URL", public.as_str()),
        (store.0, store.1.as_str()),
        ("SESSION_KEYS", "scale-out-session-key-0123456789abcdef"),
        ("RATE_LIMIT_PER_MINUTE", "1000000"),
        // Every flow here comes from 127.0.0.1: one client, 50 flows at once.
        ("MAX_PENDING_PER_CLIENT", "1000000"),
        ("MC_API_BASE", api.as_str()),
        ("MC_CLIENT_ID", credentials::MC_CLIENT_ID),
        ("MC_CLIENT_SECRET", credentials::MC_CLIENT_SECRET),
        ("VONAGE_API_BASE", api.as_str()),
        ("VONAGE_APPLICATION_ID", credentials::VONAGE_APPLICATION_ID),
        ("VONAGE_PRIVATE_KEY", key),
    ];
    let a = TestApp::start_on(a_listener, &vars).await;
    let b = TestApp::start_on(b_listener, &vars).await;
    Deployment {
        a,
        b,
        redis,
        _operator: operator,
    }
}

/// `url` (on the public address) as instance `to` serves it.
fn on(to: &TestApp, url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    format!("{}{}?{}", to.base, url.path(), url.query().unwrap_or(""))
}

/// The tutorial client, but the callback is answered by `finish`.
async fn tutorial_across(start: &TestApp, finish: &TestApp, phone: &str, protocol: &str) -> Answer {
    let callback = start
        .callback_url(json!({ "phone": phone, "protocol": protocol }), &manual_client())
        .await;
    call_back(&on(finish, &callback)).await
}

#[tokio::test]
async fn the_tutorial_sequence_finishes_on_the_other_instance() {
    tutorial_sequences_across(&deploy().await).await;
}

#[tokio::test]
async fn on_a_redis_cluster_the_tutorial_sequence_finishes_on_the_other_instance() {
    tutorial_sequences_across(&deploy_on_a_cluster().await).await;
}

async fn tutorial_sequences_across<S>(d: &Deployment<S>) {
    for (start, finish) in [(&d.a, &d.b), (&d.b, &d.a)] {
        for (phone, verified) in [("+99012345678", true), ("+99012345677", false)] {
            let answer = tutorial_across(start, finish, phone, "camara").await;
            assert_sandbox_verdict(&answer.about(phone), verified);
        }
        let denied = tutorial_across(start, finish, "+99011111199", "camara").await;
        assert_error(&denied, 403, "operator_denied");
        let answer = tutorial_across(start, finish, "+99012345678", "mobile-connect").await;
        assert_sandbox_verdict(&answer, true);
    }
}

#[tokio::test]
async fn a_page_flow_started_on_one_instance_finishes_on_the_other() {
    page_flow_across(&deploy().await).await;
}

#[tokio::test]
async fn on_a_redis_cluster_a_page_flow_finishes_on_the_other_instance() {
    page_flow_across(&deploy_on_a_cluster().await).await;
}

async fn page_flow_across<S>(d: &Deployment<S>) {
    let mut browser = Browser::new();
    let post = browser
        .send(
            browser
                .client
                .post(d.a.url("/api/start"))
                .form(&[("phone", "+99012345678"), ("protocol", "camara")]),
        )
        .await;
    assert!(post.status().is_redirection(), "{}", post.status());
    let start = absolute(post.url(), &location(&post));
    let callback = hops_to_callback(&browser.client, &start).await;
    let answer = browser.send(browser.client.get(on(&d.b, &callback))).await;
    assert_eq!(answer.status(), 303);
    let result = location(&answer);
    assert!(result.starts_with("/?result="), "{result}");
    // The result page, from the other instance again, for this browser only.
    let page = browser.send(browser.client.get(d.a.url(&result))).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("+99012345678: verified!"), "{html}");
    let mut stranger = Browser::new();
    let page = stranger.send(stranger.client.get(d.b.url(&result))).await;
    let (_, html) = stranger.follow(page).await;
    assert!(html.contains("belongs to another browser"), "{html}");
}

#[tokio::test]
async fn a_handoff_started_on_one_instance_is_proven_on_the_other() {
    handoff_across(&deploy().await).await;
}

#[tokio::test]
async fn on_a_redis_cluster_a_handoff_is_proven_on_the_other_instance() {
    handoff_across(&deploy_on_a_cluster().await).await;
}

/// The desktop on A (its page and its live stream), the phone on B (its page, Continue
/// and the callback): the verdict reaches A's stream through Redis.
async fn handoff_across<S>(d: &Deployment<S>) {
    use crate::handoff::{open, phone, press_continue, Desktop};
    let desktop = Desktop::start(&d.a, "+99012345678").await;
    let mut events = desktop.events(&d.a).await;
    assert_eq!(events.next().await.unwrap()["phase"], "waiting");
    let mut phone = phone();
    let offer = open(&mut phone, &crate::handoff::on(&d.b, &desktop.link)).await;
    assert!(offer.contains(&desktop.match_code), "{offer}");
    let pressed = press_continue(&mut phone, &d.b, &desktop.link).await;
    let start = absolute(pressed.url(), &location(&pressed));
    let callback = hops_to_callback(&phone.client, &start).await;
    let done = phone.send(phone.client.get(on(&d.b, &callback))).await;
    assert_eq!(location(&done), "/handoff?done");
    assert_eq!(events.next().await.unwrap()["phase"], "continued");
    let verdict = events.next().await.unwrap();
    assert_eq!(verdict["text"], "+99012345678: verified!", "{verdict}");
    // The link is used on every instance.
    let mut other = crate::handoff::phone();
    for instance in [&d.a, &d.b] {
        let html = open(&mut other, &crate::handoff::on(instance, &desktop.link)).await;
        assert!(html.contains("already been used"), "{html}");
    }
}

#[tokio::test]
async fn one_state_redeemed_on_both_instances_at_once_completes_once() {
    redeemed_on_both_at_once(&deploy().await).await;
}

#[tokio::test]
async fn on_a_redis_cluster_one_state_redeemed_on_both_instances_completes_once() {
    redeemed_on_both_at_once(&deploy_on_a_cluster().await).await;
}

async fn redeemed_on_both_at_once<S>(d: &Deployment<S>) {
    let client = manual_client();
    for _ in 0..10 {
        let callback = d.a.callback_url(json!({ "phone": "+99012345678" }), &client).await;
        let (on_a, on_b) = (on(&d.a, &callback), on(&d.b, &callback));
        let (first, second) = tokio::join!(call_back(&on_a), call_back(&on_b));
        let mut answers = [first, second];
        answers.sort_by_key(|answer| answer.status);
        assert_sandbox_verdict(&answers[0], true);
        assert_eq!(answers[1].status, 400, "{answers:?}");
        assert!(
            answers[1].body["message"]
                .as_str()
                .unwrap()
                .contains("already been completed"),
            "{}",
            answers[1]
        );
    }
}

#[tokio::test]
async fn a_redis_outage_is_a_clear_error_and_heals() {
    let mut d = deploy().await;
    let client = following_client(&[]);
    let health = |app: &TestApp| client.get(app.url("/healthz")).send();
    assert_eq!(health(&d.a).await.unwrap().status(), 200);

    d.redis.stop();
    let r = health(&d.b).await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("unavailable"));
    let refused = d.a.login(json!({ "phone": "+99012345678" })).await;
    assert_error(&refused, 503, "store_unavailable");
    assert!(
        refused.body["message"].as_str().unwrap().contains("try again"),
        "{refused}"
    );
    let mut browser = Browser::new();
    let post = browser
        .send(
            browser
                .client
                .post(d.a.url("/api/start"))
                .form(&[("phone", "+99012345678"), ("protocol", "mobile-connect")]),
        )
        .await;
    let (_, html) = browser.follow(post).await;
    assert!(
        html.contains("Error validating phone number. The service is briefly unavailable. Please try again"),
        "{html}"
    );

    d.redis.restart();
    let mut healthy = false;
    for _ in 0..100 {
        if health(&d.a).await.unwrap().status() == 200 && health(&d.b).await.unwrap().status() == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "the instances never recovered");
    assert_sandbox_verdict(&tutorial_across(&d.a, &d.b, "+99012345678", "camara").await, true);
}

/// 1,000 flows, 50 at a time, each started on one instance and finished on the other:
/// every one gets its own number's verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_flows_across_two_instances() {
    let d = Arc::new(deploy().await);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(50));
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let (d, semaphore) = (d.clone(), semaphore.clone());
            tokio::spawn(async move {
                let _permit = semaphore.acquire().await.unwrap();
                // Even last digit: this SIM has the number; odd: another (never …99,
                // the operator-error rule).
                let expected = i % 2 == 0;
                let phone = format!("+9901{i:06}{}", if expected { 2 } else { 3 });
                let (start, finish) = if i % 2 == 0 { (&d.a, &d.b) } else { (&d.b, &d.a) };
                let answer = tutorial_across(start, finish, &phone, "camara").await;
                (answer, expected, phone)
            })
        })
        .collect();
    let (mut right, mut wrong) = (0, Vec::new());
    for task in tasks {
        let (answer, expected, phone) = task.await.unwrap();
        if answer.status == 200 && answer.body == json!({ "devicePhoneNumberVerified": expected, "sandbox": true }) {
            right += 1;
        } else {
            wrong.push((phone, answer.status, answer.body));
        }
    }
    assert_eq!(
        (right, wrong.len()),
        (1000, 0),
        "wrong: {:?}",
        &wrong[..wrong.len().min(5)]
    );
}
