//! `GET /healthz` is public: it says what is wrong in general terms only.

use crate::helpers::{redis::RedisServer, TestApp};

/// `/healthz` says what is wrong in general terms; the driver's words stay in the log.
#[tokio::test]
async fn an_unavailable_store_gives_a_generic_health_reason() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app = TestApp::start(&[("REDIS_URL", url.as_str())]).await;
    redis.stop();
    let r = reqwest::get(format!("{}/healthz", app.base)).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "store unavailable\n");
}
