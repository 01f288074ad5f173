//! What Redis shows of the people using the service: no client address in a key name, not
//! even as a plain hash (every IPv4 address hashed is a table anyone can build).

use number_verify::support::sha256_hex;
use serde_json::json;

use crate::helpers::{redis::RedisServer, Server, TestApp};

async fn key_names(url: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS").arg("*").query_async(&mut connection).await.unwrap()
}

#[tokio::test]
async fn client_keys_in_redis_do_not_reveal_the_address() {
    let redis = RedisServer::start();
    let url = redis.url();
    for keys in [None, Some("redis-keys-test-session-key-0123456789ab")] {
        let mut vars = vec![("REDIS_URL", url.as_str()), ("REDIS_PREFIX", "t:")];
        if let Some(keys) = keys {
            vars.push(("SESSION_KEYS", keys));
        }
        let app = TestApp::start(&vars).await;
        // An API start from 127.0.0.1: a per-client budget and a per-client set.
        app.login(json!({ "phone": "+99012345678" })).await.url();
        let names = key_names(&url).await;
        assert!(
            names.iter().any(|k| k.starts_with("t:client:")) && names.iter().any(|k| k.starts_with("t:starts:")),
            "{names:?}"
        );
        let plain = sha256_hex("127.0.0.1");
        assert!(
            !names.iter().any(|k| k.contains(&plain)),
            "the client's address, hashed without a key, names a key: {names:?}"
        );
    }
}
