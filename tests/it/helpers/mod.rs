//! What the app's tests share: the real server started in this process ([`TestApp`]), the
//! flows a client runs against it or against a server process ([`Server`]), and the
//! assertions on what the JSON API answers ([`Answer`]).

pub mod browser;
pub mod logs;
pub mod process;
pub mod redis;
pub mod rp;
pub mod sse;

use std::{fmt, time::Duration};

use leptos::config::LeptosOptions;
use number_verify::{config::Config, startup::Application, verification::PENDING_TTL};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::oneshot};

/// The stand-in for `target/site` that in-process servers serve (tests/fixtures/README.md).
pub const FIXTURE_SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/site");

/// The real server, in this process, on `127.0.0.1` and a port of its own; stopped when
/// dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// `http://127.0.0.1:<port>` of the metrics listener, when `METRICS_ADDR` is set.
    pub metrics: Option<String>,
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

    /// As [`TestApp::start_on`], pending verifications living `pending_ttl`.
    pub async fn start_on_with_ttl(listener: TcpListener, vars: &[(&str, &str)], pending_ttl: Duration) -> TestApp {
        Self::launch(listener, vars, pending_ttl, |_| {}).await
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
        let (stop, metrics) = serve_app(listener, config, leptos_options, pending_ttl).await;
        TestApp {
            base,
            metrics: metrics.map(|addr| format!("http://{addr}")),
            stop: Some(stop),
        }
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
) -> (oneshot::Sender<()>, Option<std::net::SocketAddr>) {
    let app = Application::build_on(listener, config, leptos_options, pending_ttl)
        .await
        .unwrap_or_else(|e| panic!("the app does not start: {e}"));
    let metrics = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    (stop, metrics)
}

/// A listener on `127.0.0.1`, on a port the kernel picks.
pub async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port")
}

/// A server the tests reach over HTTP — the app in this process, or a server process —
/// and the flows of the mobile-app API against it.
pub trait Server {
    /// `http://127.0.0.1:<port>`
    fn base(&self) -> &str;

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// `POST /login` with this JSON body.
    async fn login(&self, body: Value) -> Answer {
        self.login_with(body, &[]).await
    }

    /// `POST /login` with this JSON body and these headers.
    async fn login_with(&self, body: Value, headers: &[(&str, &str)]) -> Answer {
        let mut request = manual_client().post(self.url("/login")).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::read(format!("POST /login {body} with {headers:?}"), request).await
    }

    /// What the operator's tutorial client does: `POST /login`, then GET the URL it
    /// gives following redirects with no cookies, the device sending `device` (the
    /// virtual operator's `X-Sandbox-*` conditions) with every request. The callback's
    /// answer.
    async fn tutorial(&self, body: Value, device: &[(&str, &str)]) -> Answer {
        let url = self.login_with(body.clone(), device).await.url();
        let mut answer = follow(&url, device).await;
        answer.asked = format!("the tutorial client's flow for {body} with {device:?}");
        answer
    }

    /// `POST /login`, then the operator's hops by `device` up to (not into) the app's
    /// callback: the URL of a callback not yet made.
    async fn callback_url(&self, body: Value, device: &reqwest::Client) -> String {
        let start = self.login(body).await.url();
        hops_to_callback(device, &start).await
    }
}

impl Server for TestApp {
    fn base(&self) -> &str {
        &self.base
    }
}

/// What the JSON API answered, and what was asked (for the failure messages).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The body without `verification_token`, so the verdict fields compare exactly.
    pub body: Value,
    /// The signed verdict beside a verdict (`/callback`), taken out of the body.
    pub verification_token: Option<String>,
    asked: String,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} {}", self.asked, self.status, self.body)
    }
}

impl Answer {
    /// Sends `request` and reads its JSON answer; `asked` says what it was.
    pub async fn read(asked: impl Into<String>, request: reqwest::RequestBuilder) -> Answer {
        let asked = asked.into();
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{asked}: no answer: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_else(|e| panic!("{asked}: {e}"));
        let mut body: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{asked} → {status}, not JSON ({e}): {text}"));
        let verification_token = body
            .as_object_mut()
            .and_then(|o| o.remove("verification_token"))
            .map(|t| {
                t.as_str()
                    .unwrap_or_else(|| panic!("{asked}: verification_token is not a string: {t}"))
                    .to_owned()
            });
        Answer {
            status,
            body,
            verification_token,
            asked,
        }
    }

    /// The same answer, its failure messages saying first what it is for.
    pub fn about(mut self, what: impl fmt::Display) -> Answer {
        self.asked = format!("{what}: {}", self.asked);
        self
    }

    /// The operator URL of an accepted start (`POST /login` answered 200 with a `url`).
    #[track_caller]
    pub fn url(&self) -> String {
        assert_eq!(self.status, 200, "a start: {self}");
        self.body["url"]
            .as_str()
            .unwrap_or_else(|| panic!("a url in {self}"))
            .to_owned()
    }
}

/// GET `url` following the operator's redirects like the tutorial client (no cookies),
/// the device sending `device` with every request: the callback's answer.
pub async fn follow(url: &str, device: &[(&str, &str)]) -> Answer {
    Answer::read(
        format!("GET {url} following redirects with {device:?}"),
        following_client(device).get(url),
    )
    .await
}

/// GET the app's callback, as the phone does once the operator sent it there: its answer.
pub async fn call_back(callback: &str) -> Answer {
    Answer::read(format!("GET {callback}"), manual_client().get(callback)).await
}

/// Exactly this status and body.
#[track_caller]
pub fn assert_answer(answer: &Answer, status: u16, body: Value) {
    assert_eq!((answer.status, &answer.body), (status, &body), "{}", answer.asked);
}

/// The virtual operator's verdict, exactly: 200 and `devicePhoneNumberVerified`, marked as
/// a test result.
#[track_caller]
pub fn assert_sandbox_verdict(answer: &Answer, verified: bool) {
    assert_answer(
        answer,
        200,
        json!({ "devicePhoneNumberVerified": verified, "sandbox": true }),
    );
}

/// A verdict: 200 and `devicePhoneNumberVerified`, whatever else the body says.
#[track_caller]
pub fn assert_verified(answer: &Answer, verified: bool) {
    assert_eq!(
        (answer.status, &answer.body["devicePhoneNumberVerified"]),
        (200, &json!(verified)),
        "{answer}"
    );
}

/// The API's error `code`, with `status`.
#[track_caller]
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.body["error"].as_str()),
        (status, Some(code)),
        "{answer}"
    );
}

/// A device or client like the tutorial's: follows redirects, keeps no cookies, sends
/// `headers` with every request.
pub fn following_client(headers: &[(&str, &str)]) -> reqwest::Client {
    client(headers, reqwest::redirect::Policy::default())
}

/// A device that shows every redirect, for stepping through hops one by one, sending
/// `headers` (simulated conditions) with every request.
pub fn device(headers: &[(&str, &str)]) -> reqwest::Client {
    client(headers, reqwest::redirect::Policy::none())
}

/// A client that shows every redirect and sends nothing of its own.
pub fn manual_client() -> reqwest::Client {
    device(&[])
}

fn client(headers: &[(&str, &str)], redirects: reqwest::redirect::Policy) -> reqwest::Client {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(v).unwrap(),
        );
    }
    reqwest::Client::builder()
        .default_headers(map)
        .redirect(redirects)
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
