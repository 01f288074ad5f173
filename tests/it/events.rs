//! Signed events, through the crate's public API, to a receiver of the test's own (axum on
//! 127.0.0.1) that checks every signature and answers 500 to an event's first delivery:
//! each event must come again, same id, same bytes. Memory, one Redis and a Redis
//! Cluster deliver; two instances on one Redis deliver each event once; a restart loses
//! nothing, not even what a dead instance read and never acked; an expiry fires once
//! across instances, and not at all once settled; an event out of retries is dropped,
//! logged by id and type only.
//!
//! Nothing waits by sleeping: the receiver reports each arrival on a channel, read with a
//! timeout, and a stopped worker (`stop` then `stopped`) has finished counting.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use number_verify::{
    events::{
        outbox::{stream_key, GROUP},
        Backend, Backoff, EventKind, Events, EventsSettings, RedisConnection, Tuning,
    },
    support::{redacted::Secret, signed_body},
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::helpers::{
    assert_error, assert_sandbox_verdict, local_listener,
    logs::CapturedLogs,
    redis::{RedisCluster, RedisServer},
    Server, TestApp,
};

const SECRET: &str = "events-test-secret-0123456789abcdef";
const SOURCE: &str = "https://verify.example.com";
const PREFIX: &str = "nv-test:";
/// Long enough for a loaded machine; a healthy run takes well under a second per wait.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the receiver saw of one POST.
#[derive(Debug, Clone)]
struct Arrival {
    id: String,
    event_type: String,
    data: Value,
    body: Bytes,
    jti: String,
    /// What the receiver answered.
    status: u16,
}

struct Receiver {
    url: url::Url,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Shared {
    /// Every event's `source`; `None`: any (several apps, each its own origin).
    source: Option<String>,
    seen: Arc<Mutex<HashMap<String, u32>>>,
    arrivals: mpsc::UnboundedSender<Arrival>,
}

/// An integrator's endpoint: refuses what is not a correctly signed CloudEvent (the test
/// fails on it), answers 500 to an id's first delivery and 200 after — unless the event's
/// data says `"refuse_first": false`: then every delivery is answered 200, so an event sent
/// twice shows as two arrivals, never mistaken for a send and its retry.
async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/cloudevents+json; charset=utf-8"));
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let claims = signed_body::verify(authorization, &body, SECRET.as_bytes()).expect("a valid signature over the body");
    assert_eq!(claims.payload_hash, signed_body::payload_hash(&body));
    let event: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(event["specversion"], "1.0");
    if let Some(source) = &shared.source {
        assert_eq!(event["source"], source.as_str());
    }
    assert_eq!(event["datacontenttype"], "application/json");
    let id = event["id"].as_str().expect("an id").to_owned();
    let status = {
        let mut seen = shared.seen.lock().unwrap();
        let count = seen.entry(id.clone()).or_default();
        *count += 1;
        if *count == 1 && event["data"]["refuse_first"] != false {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    };
    let _ = shared.arrivals.send(Arrival {
        id,
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        data: event["data"].clone(),
        body,
        jti: claims.jti,
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    async fn start() -> Receiver {
        Self::start_for(Some(SOURCE)).await
    }

    /// A receiver of events from `source` (any source: `None`).
    async fn start_for(source: Option<&str>) -> Receiver {
        let (tx, arrivals) = mpsc::unbounded_channel();
        let shared = Shared {
            source: source.map(str::to_owned),
            seen: Arc::default(),
            arrivals: tx,
        };
        let app = Router::new().route("/events", post(receive)).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}/events", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, arrivals, server }
    }

    fn settings(&self) -> EventsSettings {
        EventsSettings {
            url: self.url.clone(),
            secret: Secret::new(SECRET),
        }
    }

    async fn next(&mut self) -> Arrival {
        tokio::time::timeout(PATIENCE, self.arrivals.recv())
            .await
            .expect("an event within the test's patience")
            .expect("the receiver is running")
    }

    /// Every arrival until `n` distinct events were answered 200, by id.
    async fn until_delivered(&mut self, n: usize) -> BTreeMap<String, Vec<Arrival>> {
        let mut by_id: BTreeMap<String, Vec<Arrival>> = BTreeMap::new();
        let delivered = |by_id: &BTreeMap<String, Vec<Arrival>>| {
            by_id
                .values()
                .filter(|arrivals| arrivals.iter().any(|a| a.status == 200))
                .count()
        };
        while delivered(&by_id) < n {
            let arrival = self.next().await;
            by_id.entry(arrival.id.clone()).or_default().push(arrival);
        }
        by_id
    }

    /// What arrived and was not read yet (call once every worker has stopped).
    fn rest(&mut self) -> Vec<Arrival> {
        std::iter::from_fn(|| self.arrivals.try_recv().ok()).collect()
    }
}

/// Retries after 50 ms, polls every 50 ms; `reclaim_idle` as the test needs.
fn fast(reclaim_idle: Duration) -> Tuning {
    Tuning {
        backoff: Backoff::new(vec![Duration::from_millis(50)], Duration::from_secs(600)),
        poll: Duration::from_millis(50),
        reclaim_idle,
        ..Tuning::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn start(receiver: &Receiver, backend: Backend, tuning: Tuning) -> Arc<Events> {
    Events::start_tuned(receiver.settings(), backend, SOURCE.to_owned(), client(), tuning)
        .await
        .expect("events start")
}

async fn on_redis(url: &str) -> Backend {
    Backend::Redis(RedisConnection::connect(url, PREFIX).await.expect("redis"))
}

/// Stops the worker and waits for it: its counts are final.
async fn stop(events: &Events) {
    events.stop();
    tokio::time::timeout(PATIENCE, events.stopped())
        .await
        .expect("the worker stops");
}

fn count(events: &[&Arc<Events>], counter: fn(&number_verify::events::DeliveryStats) -> u64) -> u64 {
    events.iter().map(|e| counter(e.stats())).sum()
}

/// One event, refused once, then delivered: the same id and bytes, a fresh signature.
async fn delivers_after_a_refusal(backend: Backend) {
    let mut receiver = Receiver::start().await;
    let events = start(&receiver, backend, fast(Duration::from_secs(60))).await;
    events
        .publish(EventKind::Completed, json!({"verification": "v-1", "verified": true}))
        .await;

    let first = receiver.next().await;
    let second = receiver.next().await;
    assert_eq!((first.status, second.status), (500, 200));
    assert_eq!(first.id, second.id, "the same event again");
    assert_eq!(first.body, second.body, "byte for byte");
    assert_ne!(first.jti, second.jti, "signed afresh for each attempt");
    assert_eq!(second.event_type, "org.numberverify.verification.completed");
    assert_eq!(second.data, json!({"verification": "v-1", "verified": true}));

    stop(&events).await;
    let stats = events.stats();
    assert_eq!(stats.enqueued.load(Ordering::Relaxed), 1);
    assert_eq!(stats.failed_attempts.load(Ordering::Relaxed), 1);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(stats.store_errors.load(Ordering::Relaxed), 0);
    assert_eq!(events.depth().await, 0);
    assert!(receiver.rest().is_empty());
}

#[tokio::test]
async fn the_memory_backend_delivers_signed_events_and_resends_the_same_bytes() {
    delivers_after_a_refusal(Backend::Memory).await;
}

#[tokio::test]
async fn the_redis_backend_delivers_signed_events_and_resends_the_same_bytes() {
    let redis = RedisServer::start();
    delivers_after_a_refusal(on_redis(&redis.url()).await).await;
}

#[tokio::test]
async fn the_redis_cluster_backend_delivers_signed_events_and_resends_the_same_bytes() {
    let cluster = RedisCluster::start();
    let seeds = cluster.urls();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let backend = Backend::Redis(RedisConnection::connect_cluster(&seeds, PREFIX).await.expect("cluster"));
    delivers_after_a_refusal(backend).await;
}

#[tokio::test]
async fn two_instances_on_one_redis_deliver_each_event_exactly_once() {
    const N: usize = 30;
    let redis = RedisServer::start();
    let mut receiver = Receiver::start().await;
    let tuning = fast(Duration::from_secs(60));
    let a = start(&receiver, on_redis(&redis.url()).await, tuning.clone()).await;
    let b = start(&receiver, on_redis(&redis.url()).await, tuning).await;
    // Half are refused once (a send and a retry, each by one instance), half accepted at
    // once (one send).
    for n in 0..N {
        let instance = if n % 2 == 0 { &a } else { &b };
        let refuse_first = n % 3 != 0;
        instance
            .publish(EventKind::Started, json!({"n": n, "refuse_first": refuse_first}))
            .await;
    }

    let mut by_id = receiver.until_delivered(N).await;
    stop(&a).await;
    stop(&b).await;
    for late in receiver.rest() {
        by_id.entry(late.id.clone()).or_default().push(late);
    }
    assert_eq!(by_id.len(), N);
    let mut refused = 0;
    for (id, arrivals) in &by_id {
        let statuses: Vec<u16> = arrivals.iter().map(|a| a.status).collect();
        if arrivals[0].data["refuse_first"] == true {
            assert_eq!(statuses, [500, 200], "{id}: one send, one retry, nothing twice");
            refused += 1;
        } else {
            assert_eq!(statuses, [200], "{id}: one send, nothing twice");
        }
    }
    let mut ns: Vec<u64> = by_id.values().map(|a| a[0].data["n"].as_u64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..N as u64).collect::<Vec<_>>());
    let all = [&a, &b];
    assert_eq!(count(&all, |s| s.enqueued.load(Ordering::Relaxed)), N as u64);
    assert_eq!(count(&all, |s| s.delivered.load(Ordering::Relaxed)), N as u64);
    assert_eq!(count(&all, |s| s.failed_attempts.load(Ordering::Relaxed)), refused);
    assert_eq!(count(&all, |s| s.store_errors.load(Ordering::Relaxed)), 0);
    assert_eq!(a.depth().await, 0);
}

#[tokio::test]
async fn a_restart_loses_nothing_even_what_a_dead_instance_read_and_never_acked() {
    const N: usize = 5;
    let redis = RedisServer::start();
    let mut receiver = Receiver::start().await;
    let reclaim_idle = Duration::from_millis(200);

    // The old instance: stopped, it still queues (as a process between SIGTERM and exit).
    let old = start(&receiver, on_redis(&redis.url()).await, fast(reclaim_idle)).await;
    stop(&old).await;
    for n in 0..N {
        old.publish(EventKind::Failed, json!({"n": n})).await;
    }
    assert_eq!(old.depth().await, N as u64);

    // Another instance reads two of them and dies before acking.
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    type Read = Vec<(String, Vec<(String, Vec<String>)>)>;
    let read: Read = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg("dead-instance")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg(stream_key(PREFIX))
        .arg(">")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(read[0].1.len(), 2, "two entries read, pending under the dead consumer");
    drop(old);
    assert!(receiver.rest().is_empty(), "nothing sent yet");

    // The new instance delivers all of them, the dead one's once it has been idle.
    let new = start(&receiver, on_redis(&redis.url()).await, fast(reclaim_idle)).await;
    let mut by_id = receiver.until_delivered(N).await;
    stop(&new).await;
    for late in receiver.rest() {
        by_id.entry(late.id.clone()).or_default().push(late);
    }
    assert_eq!(by_id.len(), N);
    for (id, arrivals) in &by_id {
        let statuses: Vec<u16> = arrivals.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [500, 200], "{id}");
    }
    assert_eq!(new.stats().delivered.load(Ordering::Relaxed), N as u64);
    assert_eq!(new.depth().await, 0);
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(stream_key(PREFIX))
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(pending.is_empty(), "nothing left pending: {pending:?}");
}

/// Two expiries foreseen, one settled; the other foreseen by both instances. The settled
/// one is due first, so by the time the other arrives it would have too.
async fn expire_once(a: &Arc<Events>, b: &Arc<Events>, receiver: &mut Receiver) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    a.expect_expiry("v-settled", now + 200, json!({"verification": "v-settled"}))
        .await;
    a.expect_expiry("v-due", now + 400, json!({"verification": "v-due"}))
        .await;
    b.expect_expiry("v-due", now + 400, json!({"verification": "v-due"}))
        .await;
    b.settle("v-settled").await;

    let mut by_id = receiver.until_delivered(1).await;
    stop(a).await;
    stop(b).await;
    for late in receiver.rest() {
        by_id.entry(late.id.clone()).or_default().push(late);
    }
    assert_eq!(by_id.len(), 1, "one expired event in all: {by_id:?}");
    let arrivals = by_id.into_values().next().unwrap();
    let statuses: Vec<u16> = arrivals.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [500, 200]);
    assert_eq!(arrivals[1].event_type, "org.numberverify.verification.expired");
    assert_eq!(arrivals[1].data, json!({"verification": "v-due"}));
    let instances: Vec<&Arc<Events>> = if Arc::ptr_eq(a, b) { vec![a] } else { vec![a, b] };
    assert_eq!(
        count(&instances, |s| s.enqueued.load(Ordering::Relaxed)),
        1,
        "one expiry fired, by one instance"
    );
}

#[tokio::test]
async fn an_expiry_fires_once_across_two_instances_and_not_at_all_once_settled() {
    let redis = RedisServer::start();
    let mut receiver = Receiver::start().await;
    let tuning = fast(Duration::from_secs(60));
    let a = start(&receiver, on_redis(&redis.url()).await, tuning.clone()).await;
    let b = start(&receiver, on_redis(&redis.url()).await, tuning).await;
    expire_once(&a, &b, &mut receiver).await;
}

#[tokio::test]
async fn the_memory_expiry_tracker_fires_at_the_deadline_unless_settled() {
    let mut receiver = Receiver::start().await;
    let events = start(&receiver, Backend::Memory, fast(Duration::from_secs(60))).await;
    // One process: the same instance twice.
    expire_once(&events, &events.clone(), &mut receiver).await;
}

/// An event out of retries is dropped and counted, logged by its id and type: never its
/// body, the secret or where it was going.
async fn drops_when_out_of_retries(backend: Backend) {
    let logs = CapturedLogs::start(tracing::Level::DEBUG);
    let mut receiver = Receiver::start().await;
    let no_retries = Tuning {
        backoff: Backoff::new(Vec::new(), Duration::from_secs(600)),
        ..fast(Duration::from_secs(60))
    };
    let events = start(&receiver, backend, no_retries).await;
    events
        .publish(EventKind::Failed, json!({"marker": "body-private-4711"}))
        .await;
    let refused = receiver.next().await;
    assert_eq!(refused.status, 500);
    stop(&events).await;

    let stats = events.stats();
    assert_eq!(stats.failed_attempts.load(Ordering::Relaxed), 1);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
    assert_eq!(events.depth().await, 0, "gone from the outbox");
    assert!(receiver.rest().is_empty(), "never sent again");

    let text = logs.text();
    let dropped = text
        .lines()
        .find(|line| line.contains("event dropped"))
        .unwrap_or_else(|| panic!("a line for the drop: {text}"));
    assert!(dropped.contains("ERROR") && dropped.contains(&refused.id), "{dropped}");
    assert!(dropped.contains("org.numberverify.verification.failed"), "{dropped}");
    assert!(dropped.contains("status 500"), "{dropped}");
    let own: Vec<&str> = text.lines().filter(|l| l.contains("number_verify::events")).collect();
    assert!(!own.is_empty(), "{text}");
    for line in own {
        for private in ["body-private-4711", SECRET, receiver.url.as_str(), "/events"] {
            assert!(!line.contains(private), "{private} logged: {line}");
        }
    }
}

#[tokio::test]
async fn the_memory_backend_drops_an_event_out_of_retries_and_logs_only_its_id_and_type() {
    drops_when_out_of_retries(Backend::Memory).await;
}

#[tokio::test]
async fn the_redis_backend_drops_an_event_out_of_retries_and_logs_only_its_id_and_type() {
    let redis = RedisServer::start();
    drops_when_out_of_retries(on_redis(&redis.url()).await).await;
}

/// Events as an app sends them, by type: each delivered (200) exactly once.
fn delivered_once(by_id: &BTreeMap<String, Vec<Arrival>>) -> Vec<Arrival> {
    by_id
        .values()
        .map(|arrivals| {
            let accepted: Vec<_> = arrivals.iter().filter(|a| a.status == 200).collect();
            assert_eq!(accepted.len(), 1, "each event accepted once: {arrivals:?}");
            accepted[0].clone()
        })
        .collect()
}

fn of_type<'a>(events: &'a [Arrival], suffix: &str) -> Vec<&'a Arrival> {
    events
        .iter()
        .filter(|a| a.event_type == format!("org.numberverify.verification.{suffix}"))
        .collect()
}

/// The app's own flows, through the JSON API against the virtual operator: a verified
/// number, another number, a device on Wi-Fi. Each emits `started`, then `completed`
/// (verdict and amr) or `failed` (reason), signed, with channel, protocol, operator and
/// latency — and never the number.
#[tokio::test]
async fn verifications_emit_signed_events() {
    let mut receiver = Receiver::start_for(None).await;
    let listener = local_listener().await;
    let url = receiver.url.to_string();
    let app = TestApp::start_on(
        listener,
        &[
            ("EVENTS_URL", &url),
            ("EVENTS_SECRET", SECRET),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);
    let wifi = app
        .tutorial(json!({"phone": "+99012345678"}), &[("X-Sandbox-Network", "wifi")])
        .await;
    assert_error(&wifi, 403, "operator_denied");

    let events = delivered_once(&receiver.until_delivered(6).await);
    let started = of_type(&events, "started");
    let completed = of_type(&events, "completed");
    let failed = of_type(&events, "failed");
    assert_eq!((started.len(), completed.len(), failed.len()), (3, 2, 1), "{events:?}");
    for event in &events {
        let data = &event.data;
        assert_eq!(data["channel"], "network", "{data}");
        assert_eq!(data["protocol"], "camara", "{data}");
        assert_eq!(data["operator"], "vonage", "{data}");
        let id = data["verification_id"].as_str().unwrap();
        assert!(
            started.iter().any(|s| s.data["verification_id"] == id),
            "every end follows its start: {data}"
        );
        let body = String::from_utf8_lossy(&event.body);
        assert!(!body.contains("9901234567"), "no number in an event: {body}");
    }
    let verified: Vec<_> = completed.iter().map(|c| c.data["verified"].clone()).collect();
    assert!(
        verified.contains(&json!(true)) && verified.contains(&json!(false)),
        "{completed:?}"
    );
    for c in &completed {
        assert_eq!(c.data["amr"], json!(["nba"]));
        assert!(c.data["latency_ms"].is_u64(), "{}", c.data);
        let mismatch = c.data["verified"] == false;
        assert_eq!(
            c.data["reason"] == "mismatch",
            mismatch,
            "a mismatch says so: {}",
            c.data
        );
    }
    assert_eq!(failed[0].data["reason"], "not_mobile_data", "{}", failed[0].data);

    // The operator of the service sees the delivery: six accepted, each after a refusal,
    // none waiting (the worker counts an acceptance just after the receiver answered).
    let scrape = || async {
        reqwest::get(format!("{}/metrics", app.metrics.as_deref().unwrap()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = |metrics: &str, name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"))
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let metrics = loop {
        let metrics = scrape().await;
        let settled =
            value(&metrics, "nv_events_delivered_total") >= 6.0 && value(&metrics, "nv_event_queue_depth") == 0.0;
        if settled || tokio::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(value(&metrics, "nv_events_delivered_total"), 6.0, "{metrics}");
    assert!(value(&metrics, "nv_event_delivery_failures_total") >= 6.0, "{metrics}");
    assert_eq!(value(&metrics, "nv_event_queue_depth"), 0.0, "{metrics}");
}

/// A verification nobody comes back to emits `expired` when its lifetime ends.
#[tokio::test]
async fn an_abandoned_verification_expires() {
    let mut receiver = Receiver::start_for(None).await;
    let url = receiver.url.to_string();
    let app = TestApp::start_on_with_ttl(
        local_listener().await,
        &[("EVENTS_URL", &url), ("EVENTS_SECRET", SECRET)],
        Duration::from_millis(500),
    )
    .await;
    let started = app.login(json!({"phone": "+99012345678"})).await;
    assert_eq!(started.status, 200, "{started}");
    let events = delivered_once(&receiver.until_delivered(2).await);
    let expired = of_type(&events, "expired");
    assert_eq!(expired.len(), 1, "{events:?}");
    assert_eq!(expired[0].data["reason"], "expired");
    assert_eq!(
        expired[0].data["verification_id"],
        of_type(&events, "started")[0].data["verification_id"]
    );
}

/// Two instances on one Redis, each running flows: every event reaches the receiver and
/// is accepted once, whichever worker sends it.
#[tokio::test]
async fn two_instances_on_one_redis_send_each_event_once() {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut receiver = Receiver::start_for(None).await;
    let url = receiver.url.to_string();
    let vars = [
        ("REDIS_URL", redis_url.as_str()),
        ("EVENTS_URL", url.as_str()),
        ("EVENTS_SECRET", SECRET),
        ("RATE_LIMIT_PER_MINUTE", "1000"),
    ];
    let (a, b) = (TestApp::start(&vars).await, TestApp::start(&vars).await);
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    }
    let events = delivered_once(&receiver.until_delivered(20).await);
    assert_eq!(of_type(&events, "started").len(), 10);
    assert_eq!(of_type(&events, "completed").len(), 10);
    drop((a, b));
    // Nothing more comes: every event was sent once, and its one retry is in.
    assert!(
        receiver.rest().iter().all(|late| late.status != 200),
        "an event accepted twice"
    );
}
