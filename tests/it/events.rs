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
    logs::CapturedLogs,
    redis::{RedisCluster, RedisServer},
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
    assert_eq!(event["source"], SOURCE);
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
        let (tx, arrivals) = mpsc::unbounded_channel();
        let shared = Shared {
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
