//! Whole-flow benchmark driver: C workers, each running verification flows back to back
//! for N seconds against one or more app instances (loopback only), the operator's
//! redirects followed by hand with no cookies. Flow k starts on instances[k % n] and
//! finishes (the callback) on instances[(k + 1) % n], as a round-robin load balancer
//! without stickiness would send it.
//!
//! Prints one line on stdout:
//! `flows=<ok> errors=<n> flows_per_s=<x> p50_ms=<x> p99_ms=<x>`
//! (latencies of the successful flows; errors by kind go to stderr).
//!
//! Usage: `bench_flows --instances http://127.0.0.1:3000[,http://127.0.0.1:3001]
//!         [--protocol camara|camara-standard|mobile-connect|oidc|credential|codes] [--wallet URL]
//!         [--seconds 10] [--concurrency 16]`
//!
//! `credential` is the page's phone-number credential (TS.43 over the Digital Credentials
//! API) as its script runs it, the virtual operator's wallet (`--wallet`, its `/sandbox`
//! base) standing in for the phone's: `POST /api/credential/request` → the wallet's
//! presentation → `POST /api/credential/answer` (SD-JWT, key-binding JWT, JWE, JWT-bearer
//! grant, `verify`) → the result page.
//!
//! `codes` is the one-time code after a network failure: the device on Wi-Fi, the
//! callback's refusal with its ticket, `POST /code/send`, the code read from the virtual
//! operator's SMS inbox (`--wallet`: its `/sandbox` base), `POST /code/check`.
//!
//! `oidc` is a relying party's whole flow through the OpenID Provider (the app configured
//! with the client `bench-rp` / `bench-rp-secret`, any loopback redirect URI of its
//! registration `http://127.0.0.1:9/cb`): `GET /authorize` (the hosted page), the form
//! post (its session cookie kept), the operator (Mobile Connect), `/callback` → the code,
//! `POST /token`, and the id_token's signature checked against the JWKS (read once).
//! Build: `cargo build --release --features ssr --example bench_flows`

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::{redirect::Policy, Client, StatusCode, Url};
use serde_json::{json, Value};

mod codes;
mod credential;

/// The CAMARA test rule's verified number; also the virtual operator's default SIM.
const PHONE: &str = "+99012345678";
/// Per request; a flow is at most 4 requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight flows may run past the deadline before they are abandoned.
const GRACE: Duration = Duration::from_secs(45);
/// Operator hops followed at most before giving up.
const MAX_HOPS: usize = 10;

struct Args {
    instances: Vec<Url>,
    protocol: String,
    /// The virtual operator's base (`…/sandbox`), whose virtual wallet the `credential`
    /// flow asks.
    wallet: Option<Url>,
    seconds: u64,
    concurrency: usize,
}

fn usage(why: &str) -> ! {
    eprintln!("bench_flows: {why}");
    eprintln!(
        "usage: bench_flows --instances URL[,URL] [--protocol camara|camara-standard|mobile-connect|oidc|credential] \
         [--wallet URL (credential: the virtual operator's /sandbox)] [--seconds N (10)] [--concurrency C (16)]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut instances = Vec::new();
    let mut protocol = "camara".to_owned();
    let mut wallet = None;
    let (mut seconds, mut concurrency) = (10u64, 16usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--instances" => {
                for s in value().split(',').filter(|s| !s.trim().is_empty()) {
                    let url = Url::parse(s.trim()).unwrap_or_else(|e| usage(&format!("bad URL {s}: {e}")));
                    match url.host_str() {
                        Some("127.0.0.1" | "localhost" | "[::1]") => {}
                        _ => usage(&format!("{s}: loopback instances only")),
                    }
                    instances.push(url);
                }
            }
            "--protocol" => {
                protocol = value();
                if ![
                    "camara",
                    "camara-standard",
                    "mobile-connect",
                    "oidc",
                    "credential",
                    "codes",
                ]
                .contains(&protocol.as_str())
                {
                    usage("--protocol must be camara, camara-standard, mobile-connect, oidc, credential or codes");
                }
            }
            "--wallet" => {
                let url = value();
                wallet = Some(Url::parse(&url).unwrap_or_else(|e| usage(&format!("bad URL {url}: {e}"))));
            }
            "--seconds" => {
                seconds = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--seconds must be a whole number"));
                if !(1..=3600).contains(&seconds) {
                    usage("--seconds must be between 1 and 3600");
                }
            }
            "--concurrency" => {
                concurrency = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--concurrency must be a whole number"));
                if !(1..=4096).contains(&concurrency) {
                    usage("--concurrency must be between 1 and 4096");
                }
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if instances.is_empty() {
        usage("--instances is required");
    }
    if (protocol == "credential" || protocol == "codes") && wallet.is_none() {
        usage("--protocol credential and codes need --wallet (the virtual operator's /sandbox)");
    }
    Args {
        instances,
        protocol,
        wallet,
        seconds,
        concurrency,
    }
}

/// `url` as `instance` serves it: same path and query, the instance's origin.
fn on(instance: &Url, url: &Url) -> Url {
    let mut out = instance.clone();
    out.set_path(url.path());
    out.set_query(url.query());
    out
}

fn error_kind(stage: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_decode() || e.is_body() {
        "body"
    } else {
        "request"
    };
    format!("{stage}: {what}")
}

/// `POST /login` with `body`, then the operator's hops (each sent with `device`'s
/// headers, the virtual operator's simulated conditions) up to the app's callback: its URL.
async fn to_callback(client: &Client, start: &Url, body: &Value, device: &[(&str, &str)]) -> Result<Url, String> {
    let login = client
        .post(start.join("/login").expect("a base URL"))
        .json(body)
        .send()
        .await
        .map_err(|e| error_kind("login", &e))?;
    let status = login.status();
    let text = login.text().await.map_err(|e| error_kind("login", &e))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("login: {status}, not JSON"))?;
    if status != StatusCode::OK {
        return Err(format!("login: {status} {}", body["error"].as_str().unwrap_or("?")));
    }
    let mut url = body["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| "login: no url".to_owned())?;
    for _ in 0..MAX_HOPS {
        let mut hop = client.get(url.clone());
        for (name, value) in device {
            hop = hop.header(*name, *value);
        }
        let r = hop.send().await.map_err(|e| error_kind("operator hop", &e))?;
        if !r.status().is_redirection() {
            return Err(format!("operator hop: {}", r.status()));
        }
        let next = next_hop(&url, &r, "operator hop")?;
        if next.path().ends_with("/callback") {
            return Ok(next);
        }
        url = next;
    }
    Err("operator hop: never reached /callback".to_owned())
}

/// One whole flow; Err(kind) on anything but the expected verdict.
async fn flow(client: &Client, start: &Url, finish: &Url, protocol: &str) -> Result<(), String> {
    let body = json!({ "phone": PHONE, "protocol": protocol });
    let callback = to_callback(client, start, &body, &[]).await?;
    let answer = client
        .get(on(finish, &callback))
        .send()
        .await
        .map_err(|e| error_kind("callback", &e))?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| error_kind("callback", &e))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("callback: {status}, not JSON"))?;
    // The fields the tutorial reads; a verification_token beside them is the provider's.
    if status == StatusCode::OK && body["devicePhoneNumberVerified"] == json!(true) && body["sandbox"] == json!(true) {
        Ok(())
    } else {
        Err(format!(
            "callback: {status} {}",
            body["error"].as_str().unwrap_or("unexpected body")
        ))
    }
}

/// The relying party the `oidc` flow plays (scripts/bench-flows.sh registers it).
const RP_ID: &str = "bench-rp";
const RP_SECRET: &str = "bench-rp-secret";
const RP_REDIRECT: &str = "http://127.0.0.1:9/cb";

/// The provider's keys, by kid, read once before the run.
type Keys = BTreeMap<String, jsonwebtoken::DecodingKey>;

async fn provider_keys(client: &Client, instance: &Url) -> Result<Keys, String> {
    let url = instance.join("/.well-known/jwks.json").expect("a base URL");
    let set: jsonwebtoken::jwk::JwkSet = client
        .get(url)
        .send()
        .await
        .map_err(|e| error_kind("jwks", &e))?
        .json()
        .await
        .map_err(|e| error_kind("jwks", &e))?;
    set.keys
        .iter()
        .map(|jwk| {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            jsonwebtoken::DecodingKey::from_jwk(jwk)
                .map(|key| (kid, key))
                .map_err(|e| format!("jwks: {e}"))
        })
        .collect()
}

/// A location header resolved against `from`.
fn next_hop(from: &Url, response: &reqwest::Response, stage: &str) -> Result<Url, String> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or_else(|| format!("{stage}: {} without Location", response.status()))?;
    from.join(location).map_err(|_| format!("{stage}: bad Location"))
}

/// The session cookie a response sets, as a `Cookie` header value (`name=value`).
fn session_cookie(response: &reqwest::Response, stage: &str) -> Result<String, String> {
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("{stage}: {} without a session cookie", response.status()))
}

/// A relying party's whole flow; Err(kind) on anything but a verified, well-signed id_token.
async fn rp_flow(client: &Client, keys: &Keys, start: &Url, finish: &Url) -> Result<(), String> {
    let params = [
        ("response_type", "code"),
        ("client_id", RP_ID),
        ("redirect_uri", RP_REDIRECT),
        ("scope", "openid phone"),
        ("state", "bench-state"),
        ("nonce", "bench-nonce"),
        ("login_hint", "tel:+99012345678"),
    ];
    let mut page = start.join("/authorize").expect("a base URL");
    page.query_pairs_mut().extend_pairs(params);
    let shown = client.get(page).send().await.map_err(|e| error_kind("page", &e))?;
    if shown.status() != StatusCode::OK {
        return Err(format!("page: {}", shown.status()));
    }
    shown.bytes().await.map_err(|e| error_kind("page", &e))?;
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("action", "verify"));
    let origin = start.origin().ascii_serialization();
    let posted = client
        .post(start.join("/authorize").expect("a base URL"))
        .header(reqwest::header::ORIGIN, origin)
        .form(&form)
        .send()
        .await
        .map_err(|e| error_kind("form", &e))?;
    let cookie = session_cookie(&posted, "form")?;
    let mut url = next_hop(start, &posted, "form")?;
    // Back to the hosted page: the start was refused (a fixed code says why).
    if url.path() == "/authorize" {
        let why = url
            .query_pairs()
            .find(|(k, _)| k == "nv_error")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return Err(format!("form: refused ({why})"));
    }
    let mut callback = None;
    for _ in 0..MAX_HOPS {
        let r = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| error_kind("operator hop", &e))?;
        let next = next_hop(&url, &r, "operator hop")?;
        if next.path().ends_with("/callback") {
            callback = Some(next);
            break;
        }
        url = next;
    }
    let callback = callback.ok_or_else(|| "operator hop: never reached /callback".to_owned())?;
    let callback = on(finish, &callback);
    let back = client
        .get(callback.clone())
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .map_err(|e| error_kind("callback", &e))?;
    let back = next_hop(&callback, &back, "callback")?;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| "callback: no code for the relying party".to_owned())?;
    let tokens = client
        .post(start.join("/token").expect("a base URL"))
        .basic_auth(RP_ID, Some(RP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", RP_REDIRECT),
        ])
        .send()
        .await
        .map_err(|e| error_kind("token", &e))?;
    let status = tokens.status();
    let body: Value = tokens.json().await.map_err(|e| error_kind("token", &e))?;
    let id_token = body["id_token"]
        .as_str()
        .ok_or_else(|| format!("token: {status} {}", body["error"].as_str().unwrap_or("no id_token")))?;
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| "id_token: no header".to_owned())?;
    let key = keys
        .get(header.kid.as_deref().unwrap_or_default())
        .ok_or_else(|| "id_token: unknown kid".to_owned())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[RP_ID]);
    let claims = jsonwebtoken::decode::<Value>(id_token, key, &validation)
        .map_err(|e| format!("id_token: {e}"))?
        .claims;
    if claims["phone_number_verified"] == json!(true) && claims["nonce"] == json!("bench-nonce") {
        Ok(())
    } else {
        Err("id_token: not the expected verdict".into())
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Arc::new(parse_args());
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let keys = if args.protocol == "oidc" {
        match provider_keys(&client, &args.instances[0]).await {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                eprintln!("bench_flows: the provider's keys: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Arc::new(Keys::new())
    };
    let next_flow = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let begun = Instant::now();
    let deadline = begun + Duration::from_secs(args.seconds);

    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (args, client, next_flow, tally) = (args.clone(), client.clone(), next_flow.clone(), tally.clone());
            let keys = keys.clone();
            tokio::spawn(async move {
                let n = args.instances.len() as u64;
                let mut mine = Tally::default();
                while Instant::now() < deadline {
                    let k = next_flow.fetch_add(1, Ordering::Relaxed);
                    let start = &args.instances[(k % n) as usize];
                    let finish = &args.instances[((k + 1) % n) as usize];
                    let t = Instant::now();
                    let done = match (args.protocol.as_str(), &args.wallet) {
                        ("oidc", _) => rp_flow(&client, &keys, start, finish).await,
                        ("credential", Some(wallet)) => credential::flow(&client, wallet, start, finish).await,
                        ("codes", Some(sandbox)) => codes::flow(&client, sandbox, start, finish, k).await,
                        _ => flow(&client, start, finish, &args.protocol).await,
                    };
                    match done {
                        Ok(()) => mine.latencies_us.push(t.elapsed().as_micros() as u64),
                        Err(kind) => *mine.errors.entry(kind).or_default() += 1,
                    }
                }
                let mut all = tally.lock().unwrap();
                all.latencies_us.extend(mine.latencies_us);
                for (kind, count) in mine.errors {
                    *all.errors.entry(kind).or_default() += count;
                }
            })
        })
        .collect();
    let abandoned = tokio::time::timeout_at((deadline + GRACE).into(), async {
        for w in workers {
            let _ = w.await;
        }
    })
    .await
    .is_err();
    let elapsed = begun.elapsed().as_secs_f64();

    let mut tally = std::mem::take(&mut *tally.lock().unwrap());
    if abandoned {
        // Workers still running past the grace period: count them as errors.
        *tally.errors.entry("abandoned after deadline".into()).or_default() += 1;
    }
    tally.latencies_us.sort_unstable();
    let ok = tally.latencies_us.len();
    let errors: u64 = tally.errors.values().sum();
    for (kind, count) in &tally.errors {
        eprintln!("bench_flows: error {count} × {kind}");
    }
    println!(
        "flows={ok} errors={errors} flows_per_s={:.1} p50_ms={:.2} p99_ms={:.2}",
        ok as f64 / elapsed,
        percentile_ms(&tally.latencies_us, 50.0),
        percentile_ms(&tally.latencies_us, 99.0),
    );
    if ok == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
