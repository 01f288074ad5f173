//! Starts the real app (router, virtual operator, HTTP client) on an ephemeral port.

pub mod browser;
pub mod process;
pub mod redis;

use std::{collections::HashMap, time::Duration};

use leptos::config::LeptosOptions;
use number_verify::{
    config::Config,
    server::{router, serve},
    state::AppState,
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// The stand-in for `target/site` that in-process servers serve (tests/fixtures/README.md).
pub const FIXTURE_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/site");

pub struct TestApp {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    pub async fn start(vars: &[(&str, &str)]) -> TestApp {
        Self::start_with_ttl(vars, number_verify::verification::PENDING_TTL).await
    }

    pub async fn start_with_ttl(vars: &[(&str, &str)], pending_ttl: Duration) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
        Self::start_on(listener, vars, pending_ttl).await
    }

    /// On a listener bound beforehand (when other servers must know the address first).
    pub async fn start_on(listener: TcpListener, vars: &[(&str, &str)], pending_ttl: Duration) -> TestApp {
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("LEPTOS_SITE_ADDR".into(), addr.to_string());
        env.entry("APP_PUBLIC_URL".into()).or_insert_with(|| base.clone());
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test configuration");
        let options = LeptosOptions::builder()
            .output_name("number-verify")
            .site_root(FIXTURE_SITE)
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let state = AppState::with_pending_ttl(config, options, pending_ttl)
            .await
            .expect("app state");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, router(state), async {
            let _ = stopped.await;
        }));
        TestApp { base, stop: Some(stop) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// A client like the tutorial's: follows redirects, keeps no cookies.
pub fn following_client(headers: &[(&str, &str)]) -> reqwest::Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(v).unwrap(),
        );
    }
    reqwest::Client::builder()
        .default_headers(map)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A client that shows every redirect, for stepping through hops one by one.
pub fn manual_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on {} {}", response.status(), response.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Resolves a Location against the URL it came from.
pub fn absolute(from: &reqwest::Url, location: &str) -> String {
    from.join(location).unwrap().to_string()
}

/// Follows the operator's redirects by hand, up to (not into) the app's `/callback`;
/// returns the callback URL.
pub async fn hops_to_callback(client: &reqwest::Client, start: &str) -> String {
    let mut url = start.to_owned();
    for _ in 0..10 {
        let r = client.get(&url).send().await.unwrap();
        assert!(
            r.status().is_redirection(),
            "operator hop {url} answered {}",
            r.status()
        );
        let next = absolute(r.url(), &location(&r));
        if next.contains("/callback") {
            return next;
        }
        url = next;
    }
    panic!("the operator never redirected to /callback");
}

/// What the operator's tutorial client does: POST /login, GET the URL following
/// redirects with no cookies, read the JSON.
pub async fn tutorial_client(base: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let client = following_client(headers);
    let login = client.post(format!("{base}/login")).json(&body).send().await.unwrap();
    assert_eq!(login.status(), 200, "login must succeed for {body}");
    let url = login.json::<Value>().await.unwrap()["url"]
        .as_str()
        .expect("a url")
        .to_owned();
    let answer = client.get(&url).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}
