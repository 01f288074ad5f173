//! Session keys, over real HTTP. From `SESSION_KEYS` they belong to the deployment, not to
//! whatever Redis holds, and rotate without logging anyone out; without them, instances
//! on one Redis follow its key, even after Redis came back empty.

use crate::{
    edge::{form_start, set_cookie},
    helpers::{manual_client, redis::RedisServer, TestApp},
};

const OLD: &str = "old-session-key-0123456789abcdef-0123";
const NEW: &str = "new-session-key-0123456789abcdef-0123";
const UNRELATED: &str = "another-deployments-key-0123456789abcdef";

/// A session cookie `app` issues to a browser that has none.
async fn issued_by(client: &reqwest::Client, app: &TestApp) -> String {
    let response = form_start(client, app).send().await.unwrap();
    assert_eq!(response.status(), 302, "{}", response.url());
    set_cookie(&response, "nv_session").expect("a session cookie for a new browser")
}

/// Whether `app` takes `cookie` as a session: it then issues none of its own.
async fn accepts(client: &reqwest::Client, app: &TestApp, cookie: &str) -> bool {
    let response = form_start(client, app)
        .header("cookie", format!("nv_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302, "{}", response.url());
    set_cookie(&response, "nv_session").is_none()
}

#[tokio::test]
async fn session_keys_come_from_configuration_and_rotate() {
    let redis = RedisServer::start();
    let url = redis.url();
    let old = TestApp::start(&[("REDIS_URL", url.as_str()), ("SESSION_KEYS", OLD)]).await;
    let rotated_keys = format!("{NEW},{OLD}");
    let rotated = TestApp::start(&[("REDIS_URL", url.as_str()), ("SESSION_KEYS", rotated_keys.as_str())]).await;
    let unrelated = TestApp::start(&[("REDIS_URL", url.as_str()), ("SESSION_KEYS", UNRELATED)]).await;
    let client = manual_client();

    let issued = issued_by(&client, &old).await;
    assert!(
        accepts(&client, &rotated, &issued).await,
        "the previous key is still accepted"
    );
    assert!(
        !accepts(&client, &unrelated, &issued).await,
        "a key the deployment did not configure is no key, whatever Redis holds"
    );
    let reissued = issued_by(&client, &rotated).await;
    assert!(accepts(&client, &rotated, &reissued).await);
    assert!(
        !accepts(&client, &old, &reissued).await,
        "after the rotation the new key signs"
    );
}

#[tokio::test]
async fn instances_follow_the_shared_key_after_redis_came_back_empty() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let running = TestApp::start(&[("REDIS_URL", url.as_str())]).await;
    let client = manual_client();
    let before = issued_by(&client, &running).await;
    // No persistence: Redis comes back empty, and the next instance to start makes a
    // new shared key.
    redis.restart();
    let started_after = TestApp::start(&[("REDIS_URL", url.as_str())]).await;
    let issued = issued_by(&client, &started_after).await;
    assert!(
        accepts(&client, &running, &issued).await,
        "the running instance reads the new key when a cookie does not verify"
    );
    assert!(
        accepts(&client, &running, &before).await,
        "and still accepts what it issued before"
    );
}
