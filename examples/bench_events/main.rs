//! Signed-event delivery benchmark (loopback only): how long after a verification's
//! event is published the integrator's endpoint has it, with two instances sharing one
//! Redis outbox.
//!
//! One process, two parts:
//! - **the receiver** (`receiver.rs`) on `127.0.0.1:<--listen>`, `POST /events`: the app's
//!   `EVENTS_URL`. It checks every signature and `payload_hash`, answers `200`, dedupes by
//!   the event's `id`, and notes `arrival − event.time` for each new event;
//! - **the driver**: `--flows N` verifications through the JSON API, `--concurrency C` at
//!   a time, flow k on `instances[k % n]`, as the operator tutorial's client runs one:
//!   `POST /login {"phone": "+99012345678"}` → `GET` the `url` it answers, following the
//!   redirects with no cookies → the callback's JSON, `devicePhoneNumberVerified: true`.
//!   Then it waits (at most `--wait-seconds`) for two events per flow (`started`,
//!   `completed`), and `--settle-ms` more for stray duplicates.
//!
//! `EVENTS_SECRET` (the environment, as the app reads it) is the shared HS256 key.
//!
//! Prints one line on stdout:
//! `flows=<ok> flow_errors=<n> events=<n> expected=<2×flows> duplicates=<n> lost=<n>
//!  bad_signatures=<n> bad_events=<n> other_events=<n> p50_ms=… p90_ms=… p99_ms=… max_ms=…
//!  flows_per_s=… drain_ms=…` — latencies over every new event; `lost` = expected − the
//! `started` and `completed` events received; `drain_ms` from the last flow's end until
//! the last expected event (checked every 5 ms). Details (by type, by publishing instance, errors) on stderr.
//! Exits non-zero when an event was lost or duplicated, a signature or an event was
//! refused, or a flow failed.
//!
//! An event's `time` has millisecond precision (truncated), so each latency reads up to
//! 1 ms high (0.5 ms on average); both clocks are this machine's.
//!
//! Usage: `EVENTS_SECRET=… bench_events --listen PORT --instances http://127.0.0.1:A,http://127.0.0.1:B
//!         [--flows 2000] [--concurrency 16] [--wait-seconds 60] [--settle-ms 1500]`
//! Build: `cargo build --release --features ssr --example bench_events`

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

mod receiver;

/// The CAMARA test rule's verified number; also the virtual operator's default SIM.
const PHONE: &str = "+99012345678";
/// Per request (a redirect chain counts as one).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Operator hops followed at most.
const MAX_HOPS: usize = 10;
/// All the flows together, at most.
const DRIVE_LIMIT: Duration = Duration::from_secs(600);

struct Args {
    listen: u16,
    instances: Vec<Url>,
    flows: u64,
    concurrency: usize,
    wait: Duration,
    settle: Duration,
}

fn usage(why: &str) -> ! {
    eprintln!("bench_events: {why}");
    eprintln!(
        "usage: EVENTS_SECRET=… bench_events --listen PORT --instances URL[,URL] [--flows N (2000)] \
         [--concurrency C (16)] [--wait-seconds S (60)] [--settle-ms MS (1500)]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut listen = None;
    let mut instances = Vec::new();
    let (mut flows, mut concurrency, mut wait, mut settle) = (2000u64, 16usize, 60u64, 1500u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let mut number = |range: std::ops::RangeInclusive<u64>| {
            let n: u64 = value()
                .parse()
                .unwrap_or_else(|_| usage(&format!("{flag} must be a whole number")));
            if !range.contains(&n) {
                usage(&format!("{flag} must be within {range:?}"));
            }
            n
        };
        match flag.as_str() {
            "--listen" => listen = Some(number(1..=65_535) as u16),
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
            "--flows" => flows = number(1..=1_000_000),
            "--concurrency" => concurrency = number(1..=1024) as usize,
            "--wait-seconds" => wait = number(1..=3600),
            "--settle-ms" => settle = number(0..=60_000),
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if instances.is_empty() {
        usage("--instances is required");
    }
    Args {
        listen: listen.unwrap_or_else(|| usage("--listen is required")),
        instances,
        flows,
        concurrency,
        wait: Duration::from_secs(wait),
        settle: Duration::from_millis(settle),
    }
}

fn error_kind(stage: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_decode() || e.is_body() {
        "body"
    } else {
        "request"
    };
    format!("{stage}: {what}")
}

/// One verification through the JSON API; Err(kind) on anything but the verdict.
async fn flow(client: &Client, base: &Url) -> Result<(), String> {
    let login = client
        .post(base.join("/login").expect("a base URL"))
        .json(&json!({ "phone": PHONE }))
        .send()
        .await
        .map_err(|e| error_kind("login", &e))?;
    let status = login.status();
    let text = login.text().await.map_err(|e| error_kind("login", &e))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("login: {status}, not JSON"))?;
    if status != StatusCode::OK {
        return Err(format!("login: {status} {}", body["error"].as_str().unwrap_or("?")));
    }
    let url = body["url"]
        .as_str()
        .and_then(|u| Url::parse(u).ok())
        .ok_or_else(|| "login: no url".to_owned())?;
    // The client follows the operator's redirects to the callback, with no cookie jar.
    let answer = client.get(url).send().await.map_err(|e| error_kind("operator", &e))?;
    let status = answer.status();
    if !answer.url().path().ends_with("/callback") {
        return Err(format!("operator: ended at {} ({status})", answer.url().path()));
    }
    let text = answer.text().await.map_err(|e| error_kind("callback", &e))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("callback: {status}, not JSON"))?;
    if status == StatusCode::OK && body["devicePhoneNumberVerified"] == json!(true) && body["sandbox"] == json!(true) {
        Ok(())
    } else {
        Err(format!(
            "callback: {status} {}",
            body["error"].as_str().unwrap_or("unexpected body")
        ))
    }
}

/// Nearest rank of `sorted`, 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_unstable_by(f64::total_cmp);
    values
}

#[derive(Default)]
struct Flows {
    ok: u64,
    errors: BTreeMap<String, u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Arc::new(parse_args());
    // The receiver's own reading of the app's `time` format, checked once.
    assert_eq!(
        receiver::rfc3339_ms("2009-02-13T23:31:30.123Z"),
        Some(1_234_567_890_123.0)
    );
    let secret = match std::env::var("EVENTS_SECRET") {
        Ok(s) if s.len() >= 32 => s.into_bytes(),
        _ => usage("EVENTS_SECRET (at least 32 bytes, the app's) must be set"),
    };
    let listener = match std::net::TcpListener::bind(("127.0.0.1", args.listen)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("bench_events: cannot listen on 127.0.0.1:{}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let receiver = match receiver::spawn(listener, secret) {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("bench_events: the receiver did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = Client::builder()
        .redirect(Policy::limited(MAX_HOPS))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("an HTTP client");

    let next_flow = Arc::new(AtomicU64::new(0));
    let flows = Arc::new(Mutex::new(Flows::default()));
    let begun = Instant::now();
    let deadline = begun + DRIVE_LIMIT;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (args, client, next_flow, flows) = (args.clone(), client.clone(), next_flow.clone(), flows.clone());
            tokio::spawn(async move {
                let n = args.instances.len() as u64;
                let mut mine = Flows::default();
                loop {
                    let k = next_flow.fetch_add(1, Ordering::Relaxed);
                    if k >= args.flows || Instant::now() >= deadline {
                        break;
                    }
                    match flow(&client, &args.instances[(k % n) as usize]).await {
                        Ok(()) => mine.ok += 1,
                        Err(kind) => *mine.errors.entry(kind).or_default() += 1,
                    }
                }
                let mut all = flows.lock().unwrap();
                all.ok += mine.ok;
                for (kind, count) in mine.errors {
                    *all.errors.entry(kind).or_default() += count;
                }
            })
        })
        .collect();
    let abandoned = tokio::time::timeout_at((deadline + REQUEST_TIMEOUT).into(), async {
        for w in workers {
            let _ = w.await;
        }
    })
    .await
    .is_err();
    let driven = begun.elapsed();
    let mut flows = std::mem::take(&mut *flows.lock().unwrap());
    // Flows not finished within the time limit (still running, or never begun) count as errors.
    let finished = flows.ok + flows.errors.values().sum::<u64>();
    if finished < args.flows {
        let why = if abandoned {
            "unfinished within the time limit"
        } else {
            "not run"
        };
        *flows.errors.entry(why.into()).or_default() += args.flows - finished;
    }

    // Two events per verified flow: wait for them, bounded; then a little longer for
    // stray duplicates.
    let expected = 2 * flows.ok as usize;
    let waiting = Instant::now();
    let mut drain = None;
    while waiting.elapsed() < args.wait {
        if receiver.tally.lock().unwrap().expected_kinds() >= expected {
            drain = Some(waiting.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(args.settle).await;

    let tally = std::mem::take(&mut *receiver.tally.lock().unwrap());
    let received = tally.expected_kinds();
    let lost = expected.saturating_sub(received);
    let other_events = tally.events() - received;
    let bad_events: u64 = tally.bad_events.values().sum();
    let all = sorted(tally.latencies_ms.values().flatten().copied().collect());
    for (kind, latencies) in &tally.latencies_ms {
        let l = sorted(latencies.clone());
        eprintln!(
            "bench_events: {} × {kind}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.len(),
            percentile(&l, 50.0),
            percentile(&l, 99.0),
            percentile(&l, 100.0)
        );
    }
    for (source, count) in &tally.by_source {
        eprintln!("bench_events: {count} events published by {source}");
    }
    for (kind, count) in &flows.errors {
        eprintln!("bench_events: flow error {count} × {kind}");
    }
    for (why, count) in &tally.bad_signatures {
        eprintln!("bench_events: signature refused {count} × {why}");
    }
    for (why, count) in &tally.bad_events {
        eprintln!("bench_events: bad event {count} × {why}");
    }
    let total_errors: u64 = flows.errors.values().sum();
    println!(
        "flows={} flow_errors={total_errors} events={} expected={expected} duplicates={} lost={lost} \
         bad_signatures={} bad_events={bad_events} other_events={other_events} p50_ms={:.1} p90_ms={:.1} \
         p99_ms={:.1} max_ms={:.1} flows_per_s={:.0} drain_ms={}",
        flows.ok,
        tally.events(),
        tally.duplicates,
        tally.signature_failures(),
        percentile(&all, 50.0),
        percentile(&all, 90.0),
        percentile(&all, 99.0),
        percentile(&all, 100.0),
        flows.ok as f64 / driven.as_secs_f64(),
        drain.map_or("timeout".to_owned(), |d| d.as_millis().to_string()),
    );
    let clean = flows.ok > 0
        && total_errors == 0
        && lost == 0
        && tally.duplicates == 0
        && tally.signature_failures() == 0
        && bad_events == 0;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
