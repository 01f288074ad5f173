//! What the app's tests share: the real server started in this process ([`TestApp`]), the
//! clients and the flows they run.

pub mod browser;
pub mod process;
pub mod redis;

use std::time::Duration;

use leptos::config::LeptosOptions;
use number_verify::{
    config::{Config, SandboxMode},
    server::{router, serve, virtual_operator},
    state::AppState,
    verification::PENDING_TTL,
};
use serde_json::Value;
use tokio::{net::TcpListener, sync::oneshot};

/// The stand-in for `target/site` that in-process servers serve (tests/fixtures/README.md).
pub const FIXTURE_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/site");

/// The real server, in this process, on `127.0.0.1` and a port of its own; stopped when
/// dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
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
    /// Configured by `vars` and nothing else (no process environment, no `.env`); it is
    /// its own `APP_PUBLIC_URL` unless `vars` name another.
    pub async fn start(vars: &[(&str, &str)]) -> TestApp {
        Self::start_with_ttl(vars, PENDING_TTL).await
    }

    /// As [`TestApp::start`], pending verifications living `pending_ttl`.
    pub async fn start_with_ttl(vars: &[(&str, &str)], pending_ttl: Duration) -> TestApp {
        Self::launch(local_listener().await, vars, pending_ttl, |_| {}).await
    }

    /// On a listener bound beforehand (when other servers must know the address first).
    pub async fn start_on(listener: TcpListener, vars: &[(&str, &str)]) -> TestApp {
        Self::launch(listener, vars, PENDING_TTL, |_| {}).await
    }

    /// As [`TestApp::start_on`], the configuration then changed by `adjust`: what it
    /// would be later, once time has passed, though it passed start-up validation.
    pub async fn start_adjusted(
        listener: TcpListener,
        vars: &[(&str, &str)],
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::launch(listener, vars, PENDING_TTL, adjust).await
    }

    async fn launch(
        listener: TcpListener,
        vars: &[(&str, &str)],
        pending_ttl: Duration,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let addr = listener.local_addr().expect("a bound listener");
        let base = format!("http://{addr}");
        let site_addr = addr.to_string();
        // `from_pairs` reads the first pair of a name: the address is the listener's, the
        // public URL the test's if it gives one.
        let mut pairs = vec![("LEPTOS_SITE_ADDR", site_addr.as_str())];
        pairs.extend_from_slice(vars);
        pairs.push(("APP_PUBLIC_URL", base.as_str()));
        let mut config = Config::from_pairs(&pairs).unwrap_or_else(|e| panic!("test configuration {vars:?}: {e}"));
        adjust(&mut config);
        let leptos_options = LeptosOptions::builder()
            .output_name("number-verify")
            .site_root(FIXTURE_SITE)
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let stop = serve_app(listener, config, leptos_options, pending_ttl).await;
        TestApp { base, stop: Some(stop) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The one place the tests assemble a server, as the binary does (src/main.rs): the
/// virtual operator alone for `SANDBOX=only`, else the app over its state. It serves
/// `listener` until the returned sender sends or is dropped.
async fn serve_app(
    listener: TcpListener,
    config: Config,
    leptos_options: LeptosOptions,
    pending_ttl: Duration,
) -> oneshot::Sender<()> {
    let app = if config.sandbox == SandboxMode::Only {
        virtual_operator::router(&config)
    } else {
        let state = AppState::with_pending_ttl(config, leptos_options, pending_ttl)
            .await
            .expect("app state");
        router(state)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, app, async {
        let _ = stopped.await;
    }));
    stop
}

/// A listener on `127.0.0.1`, on a port the kernel picks.
pub async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port")
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
