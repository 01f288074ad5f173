//! One behaviour, three backends: the verification core over the memory store, over a
//! real Redis and over a three-node Redis Cluster. No operator call is needed: Mobile Connect starts build their URL
//! locally, and a callback carrying the operator's refusal completes without one.

use std::{net::IpAddr, sync::Arc, time::Duration};

use crate::helpers::redis::{RedisCluster, RedisServer};
use number_verify::{
    config::Config,
    outcome::Outcome,
    protocol::Operator,
    verification::{
        store::{Settings, Store},
        CallbackParams, Completion, Origin, PageError, ResultId, SessionId, StateProblem, Verifier, VerifyError,
        RESULT_TTL,
    },
};

/// A backend under test; keeps its Redis alive as long as needed.
struct Backend {
    name: &'static str,
    store: Store,
    /// The same backend through a connection of its own: another instance.
    other_instance: Store,
    _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

fn settings(pending_ttl: Duration, starts_per_minute: u32) -> Settings {
    Settings {
        pending_ttl,
        result_ttl: RESULT_TTL,
        starts_per_minute,
        page_starts_per_minute: starts_per_minute,
        max_pending_per_client: 5,
        max_pending: 100_000,
    }
}

/// Every backend with these settings.
async fn backends(settings: Settings) -> Vec<Backend> {
    let memory = Store::memory(settings);
    let redis = RedisServer::start();
    let url = redis.url();
    let on_redis = || Store::redis(&url, "nv-test:", settings);
    let (redis_store, redis_other) = (
        on_redis().await.expect("redis store"),
        on_redis().await.expect("redis store"),
    );
    let cluster = RedisCluster::start();
    let seeds = cluster.urls();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let on_cluster = || Store::redis_cluster(&seeds, "nv-test:", settings);
    let (cluster_store, cluster_other) = (
        on_cluster().await.expect("redis cluster store"),
        on_cluster().await.expect("redis cluster store"),
    );
    vec![
        Backend {
            name: "memory",
            other_instance: memory.clone(),
            store: memory,
            _redis: None,
            _cluster: None,
        },
        Backend {
            name: "redis",
            store: redis_store,
            other_instance: redis_other,
            _redis: Some(redis),
            _cluster: None,
        },
        Backend {
            name: "redis cluster",
            store: cluster_store,
            other_instance: cluster_other,
            _redis: None,
            _cluster: Some(cluster),
        },
    ]
}

fn verifier(store: &Store) -> Verifier {
    Verifier::new(&Config::from_pairs(&[]).unwrap(), store.clone()).unwrap()
}

fn ip(address: &str) -> Option<IpAddr> {
    Some(address.parse().unwrap())
}

/// A Mobile Connect start (no operator call) by `client`; its state.
async fn start_by(v: &Verifier, client: &str) -> Result<String, VerifyError> {
    v.start("+99012345678", Operator::MobileConnect, Origin::Api, ip(client))
        .await
        .map(|started| state_of(&started.url))
}

/// Whether `state` still completes (the operator's refusal reaches its flow).
async fn completes(v: &Verifier, state: &str) -> Result<(), Option<StateProblem>> {
    match v.complete(denied(state), None).await {
        Completion::Api {
            result: Err(VerifyError::OperatorDenied { .. }),
            ..
        } => Ok(()),
        other => Err(problem(&other)),
    }
}

fn state_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

fn denied(state: &str) -> CallbackParams {
    CallbackParams {
        state: Some(state.into()),
        error: Some("access_denied".into()),
        ..Default::default()
    }
}

async fn start(v: &Verifier, origin: Origin) -> String {
    let started = v
        .start("+99012345678", Operator::MobileConnect, origin, None)
        .await
        .unwrap();
    state_of(&started.url)
}

fn problem(completion: &Completion) -> Option<StateProblem> {
    match completion {
        Completion::Unusable(PageError::State(p)) => Some(*p),
        _ => None,
    }
}

#[tokio::test]
async fn a_state_completes_once_then_is_replayed() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let v = verifier(&b.store);
        let session = SessionId::random();
        let state = start(
            &v,
            Origin::Browser {
                session: session.clone(),
            },
        )
        .await;
        match v.complete(denied(&state), Some(&session)).await {
            Completion::Browser { number, result, .. } => {
                assert_eq!(number.as_str(), "+99012345678", "{}", b.name);
                assert!(matches!(result, Err(VerifyError::OperatorDenied { .. })), "{}", b.name);
            }
            other => panic!("{}: {other:?}", b.name),
        }
        let again = v.complete(denied(&state), Some(&session)).await;
        assert_eq!(problem(&again), Some(StateProblem::Replayed), "{}", b.name);
        let unknown = v.complete(denied(&"0".repeat(32)), None).await;
        assert_eq!(problem(&unknown), Some(StateProblem::Unknown), "{}", b.name);
    }
}

#[tokio::test]
async fn another_browser_consumes_a_page_flow() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let v = verifier(&b.store);
        let owner = SessionId::random();
        let state = start(&v, Origin::Browser { session: owner.clone() }).await;
        let stranger = v.complete(denied(&state), Some(&SessionId::random())).await;
        assert_eq!(problem(&stranger), Some(StateProblem::OtherBrowser), "{}", b.name);
        let late = v.complete(denied(&state), Some(&owner)).await;
        assert_eq!(problem(&late), Some(StateProblem::Replayed), "{}", b.name);
    }
}

#[tokio::test]
async fn a_pending_verification_expires() {
    for b in backends(settings(Duration::ZERO, 30)).await {
        let v = verifier(&b.store);
        let state = start(&v, Origin::Api).await;
        let late = v.complete(denied(&state), None).await;
        assert_eq!(problem(&late), Some(StateProblem::Expired), "{}", b.name);
    }
}

#[tokio::test]
async fn results_are_for_their_owner_only() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let v = verifier(&b.store);
        let owner = SessionId::random();
        let outcome = Outcome::failed("test");
        let id = v.keep_result(&owner, outcome.clone()).await.unwrap();
        assert_eq!(
            v.result_for(&id, Some(&owner)).await.unwrap(),
            Some(outcome),
            "{}",
            b.name
        );
        assert_eq!(
            v.result_for(&id, Some(&SessionId::random())).await.unwrap(),
            None,
            "{}",
            b.name
        );
        assert_eq!(v.result_for(&id, None).await.unwrap(), None, "{}", b.name);
        assert_eq!(
            v.result_for(&ResultId::random(), Some(&owner)).await.unwrap(),
            None,
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn starts_are_limited_per_client() {
    for b in backends(settings(Duration::from_secs(600), 3)).await {
        let v = verifier(&b.store);
        let (a, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        for _ in 0..3 {
            v.start("+99012345678", Operator::MobileConnect, Origin::Api, Some(a))
                .await
                .unwrap();
        }
        let refused = v
            .start("+99012345678", Operator::MobileConnect, Origin::Api, Some(a))
            .await;
        assert!(
            matches!(refused, Err(VerifyError::RateLimited)),
            "{}: {refused:?}",
            b.name
        );
        assert!(
            v.start("+99012345678", Operator::MobileConnect, Origin::Api, Some(other))
                .await
                .is_ok(),
            "{}",
            b.name
        );
    }
}

/// Every address of one IPv6 /64 is one client; an IPv4-mapped address is its IPv4
/// address; a neighbouring /64 is another client.
#[tokio::test]
async fn the_rate_limit_is_per_ipv4_address_or_ipv6_64() {
    for b in backends(settings(Duration::from_secs(600), 3)).await {
        let v = verifier(&b.store);
        for i in 1..=3 {
            start_by(&v, &format!("2001:db8:1:2::{i}")).await.unwrap();
        }
        let refused = start_by(&v, "2001:db8:1:2:ffff:ffff:ffff:ffff").await;
        assert!(
            matches!(refused, Err(VerifyError::RateLimited)),
            "{}: {refused:?}",
            b.name
        );
        start_by(&v, "2001:db8:1:3::1")
            .await
            .unwrap_or_else(|e| panic!("{}: the next /64 is another client: {e:?}", b.name));

        for _ in 0..3 {
            start_by(&v, "192.0.2.1").await.unwrap();
        }
        let mapped = start_by(&v, "::ffff:192.0.2.1").await;
        assert!(
            matches!(mapped, Err(VerifyError::RateLimited)),
            "{}: {mapped:?}",
            b.name
        );
        start_by(&v, "192.0.2.2").await.unwrap();
    }
}

/// A client's sixth verification in flight drops its oldest (whose callback then finds
/// an unknown state); its five newest, and everyone else's, still complete.
#[tokio::test]
async fn the_sixth_start_drops_the_clients_oldest() {
    for b in backends(settings(Duration::from_secs(600), 100)).await {
        let v = verifier(&b.store);
        let neighbour = start_by(&v, "2001:db8:9::1").await.unwrap();
        let mut states = Vec::new();
        // Six addresses, one /64: one client.
        for i in 1..=6 {
            states.push(start_by(&v, &format!("2001:db8:1:2::{i}")).await.unwrap());
        }
        assert_eq!(
            completes(&v, &states[0]).await,
            Err(Some(StateProblem::Unknown)),
            "{}: the oldest was dropped",
            b.name
        );
        for (i, state) in states.iter().enumerate().skip(1) {
            assert_eq!(completes(&v, state).await, Ok(()), "{}: start {i}", b.name);
        }
        assert_eq!(completes(&v, &neighbour).await, Ok(()), "{}: another client", b.name);

        // A flood from one client leaves it five slots and no more.
        let mut flood = Vec::new();
        for _ in 0..50 {
            flood.push(start_by(&v, "198.51.100.7").await.unwrap());
        }
        let mut live = 0;
        for (i, state) in flood.iter().enumerate() {
            match completes(&v, state).await {
                Ok(()) => {
                    live += 1;
                    assert!(i >= 45, "{}: only the newest five stay, not start {i}", b.name);
                }
                Err(p) => assert_eq!(p, Some(StateProblem::Unknown), "{}", b.name),
            }
        }
        assert_eq!(live, 5, "{}", b.name);
    }
}

/// A completed flow gives its slot back: the client's older verifications stay.
#[tokio::test]
async fn completing_a_flow_frees_its_slot() {
    for b in backends(settings(Duration::from_secs(600), 100)).await {
        let v = verifier(&b.store);
        let mut states = Vec::new();
        for _ in 0..5 {
            states.push(start_by(&v, "192.0.2.9").await.unwrap());
        }
        assert_eq!(completes(&v, &states[4]).await, Ok(()), "{}", b.name);
        states[4] = start_by(&v, "192.0.2.9").await.unwrap();
        for (i, state) in states.iter().enumerate() {
            assert_eq!(completes(&v, state).await, Ok(()), "{}: start {i}", b.name);
        }
    }
}

/// The slot is taken before the operator is called; a start whose operator call fails
/// gives it back, so it costs the client none of its verifications in flight.
#[tokio::test]
async fn a_failed_operator_call_gives_its_slot_back() {
    // A port nothing listens on: the CAMARA start's network enablement is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let closed = closed.to_string();
    let config = Config::from_pairs(&[("LEPTOS_SITE_ADDR", &closed), ("OPERATOR_TIMEOUT_MS", "2000")]).unwrap();
    let mut small = settings(Duration::from_secs(600), 100);
    small.max_pending_per_client = 2;
    for b in backends(small).await {
        let v = Verifier::new(&config, b.store.clone()).unwrap();
        let first = start_by(&v, "192.0.2.10").await.unwrap();
        let failed = v
            .start("+99012345678", Operator::Vonage, Origin::Api, ip("192.0.2.10"))
            .await;
        assert!(
            matches!(
                failed,
                Err(VerifyError::OperatorError(_) | VerifyError::OperatorTimeout(_))
            ),
            "{}: {failed:?}",
            b.name
        );
        let second = start_by(&v, "192.0.2.10").await.unwrap();
        assert_eq!(
            completes(&v, &first).await,
            Ok(()),
            "{}: the failed start kept a slot",
            b.name
        );
        assert_eq!(completes(&v, &second).await, Ok(()), "{}", b.name);
    }
}

/// Two verifiers over one store stand for two instances: one state redeemed by both at
/// once completes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_redemptions_complete_exactly_once() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let instances = [Arc::new(verifier(&b.store)), Arc::new(verifier(&b.other_instance))];
        for _ in 0..20 {
            let state = start(&instances[0], Origin::Api).await;
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let v = instances[i % 2].clone();
                    let state = state.clone();
                    tokio::spawn(async move { v.complete(denied(&state), None).await })
                })
                .collect();
            let (mut completed, mut replayed) = (0, 0);
            for task in tasks {
                match task.await.unwrap() {
                    Completion::Api {
                        result: Err(VerifyError::OperatorDenied { .. }),
                        ..
                    } => completed += 1,
                    Completion::Unusable(PageError::State(StateProblem::Replayed)) => replayed += 1,
                    other => panic!("{}: {other:?}", b.name),
                }
            }
            assert_eq!((completed, replayed), (1, 7), "{}", b.name);
        }
    }
}

/// Redis going away is an error the person can act on, never a panic; back, it works.
#[tokio::test]
async fn a_redis_outage_is_reported_and_recovered_from() {
    let mut redis = RedisServer::start();
    let store = Store::redis(&redis.url(), "nv-test:", settings(Duration::from_secs(600), 30))
        .await
        .unwrap();
    let v = verifier(&store);
    let state = start(&v, Origin::Api).await;
    redis.stop();
    assert!(v.health().await.is_err());
    let refused = v
        .start("+99012345678", Operator::MobileConnect, Origin::Api, None)
        .await;
    assert!(matches!(refused, Err(VerifyError::StoreUnavailable(_))), "{refused:?}");
    assert!(matches!(
        v.complete(denied(&state), None).await,
        Completion::Unusable(PageError::StoreUnavailable)
    ));
    redis.restart();
    // The connection manager reconnects by itself; give it a bounded number of tries.
    let mut healthy = false;
    for _ in 0..100 {
        if v.health().await.is_ok() {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "the store never recovered");
    let state = start(&v, Origin::Api).await;
    assert!(matches!(
        v.complete(denied(&state), None).await,
        Completion::Api {
            result: Err(VerifyError::OperatorDenied { .. }),
            ..
        }
    ));
}

/// Starts by one client at once, on two instances, never leave it more than its slots:
/// a start that evicts another's slot deletes its record for good, whatever the order the
/// two starts' commands arrive in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_keep_a_client_within_its_slots() {
    for b in backends(settings(Duration::from_secs(600), 1_000)).await {
        let instances = [Arc::new(verifier(&b.store)), Arc::new(verifier(&b.other_instance))];
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let v = instances[i % 2].clone();
                tokio::spawn(async move { start_by(&v, "192.0.2.77").await })
            })
            .collect();
        let mut states = Vec::new();
        for task in tasks {
            states.push(task.await.unwrap().unwrap_or_else(|e| panic!("{}: {e:?}", b.name)));
        }
        let mut still_complete = 0;
        for state in &states {
            if completes(&instances[0], state).await.is_ok() {
                still_complete += 1;
            }
        }
        assert_eq!(still_complete, 5, "{}: the client's verifications in flight", b.name);
    }
}

/// A record read once (a credential request's): taken by exactly one of many concurrent
/// readers on two instances, gone after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_read_once_is_read_once_across_instances() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let stores = [b.store.clone(), b.other_instance.clone()];
        b.store
            .put_once("test-once", "id-1", "value".into(), Duration::from_secs(60))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move { store.take_once("test-once", "id-1").await.unwrap() })
            })
            .collect();
        let mut found = Vec::new();
        for task in tasks {
            found.extend(task.await.unwrap());
        }
        assert_eq!(found, ["value"], "{}", b.name);
        assert_eq!(
            b.store.take_once("test-once", "other").await.unwrap(),
            None,
            "{}",
            b.name
        );
    }
}

/// Records read and rewritten (a handoff's) are seen by every instance; a claim is held
/// by the first of many concurrent claimants on two instances, and by it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_records_and_claims_behave_alike_across_instances() {
    let minute = Duration::from_secs(60);
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        b.store.put_kept("test-kept", "w", "one".into(), minute).await.unwrap();
        assert_eq!(
            b.other_instance.get_kept("test-kept", "w").await.unwrap().as_deref(),
            Some("one")
        );
        b.other_instance
            .put_kept("test-kept", "w", "two".into(), minute)
            .await
            .unwrap();
        assert_eq!(
            b.store.get_kept("test-kept", "w").await.unwrap().as_deref(),
            Some("two"),
            "{}",
            b.name
        );
        assert_eq!(
            b.store.get_kept("test-kept", "other").await.unwrap(),
            None,
            "{}",
            b.name
        );

        let stores = [b.store.clone(), b.other_instance.clone()];
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move {
                    let holder = format!("phone-{i}");
                    (
                        holder.clone(),
                        store.claim("test-claim", "link", &holder, minute).await.unwrap(),
                    )
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (holder, held) = task.await.unwrap();
            if held {
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "{}: {winners:?}", b.name);
        let winner = &winners[0];
        for store in &stores {
            assert!(
                store.claim("test-claim", "link", winner, minute).await.unwrap(),
                "{}",
                b.name
            );
            assert!(
                !store.claim("test-claim", "link", "phone-x", minute).await.unwrap(),
                "{}",
                b.name
            );
        }
    }
}

/// A message published through one instance's store reaches a listener on another's
/// (Redis Pub/Sub; on a cluster, published on one node and heard on another).
#[tokio::test]
async fn a_message_published_by_one_instance_reaches_the_other() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        if b.name == "memory" {
            // One process: its own notices are its whole audience.
            b.store.publish("test-channel", "hello").await.unwrap();
            continue;
        }
        let (sender, mut heard) = tokio::sync::broadcast::channel(16);
        let sender = Arc::new(sender);
        b.other_instance.listen("test-channel", Arc::downgrade(&sender));
        // The listener subscribes in the background: publish until it is heard (a bound,
        // not a measurement).
        let heard = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                b.store.publish("test-channel", "watch-1").await.unwrap();
                match tokio::time::timeout(Duration::from_millis(100), heard.recv()).await {
                    Ok(Ok(message)) => break message,
                    Ok(Err(e)) => panic!("{}: {e}", b.name),
                    Err(_) => continue,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: nothing heard", b.name));
        assert_eq!(heard, "watch-1", "{}", b.name);
    }
}

/// The OpenID Provider's records behave alike on both backends: a code is redeemed once,
/// a replay names what the first redemption issued, revocations and one-time values hold
/// for their lifetime.
#[tokio::test]
async fn codes_revocations_and_one_time_values_behave_alike() {
    use number_verify::verification::store::Redeemed;
    let minute = Duration::from_secs(60);
    for backend in backends(settings(Duration::from_secs(600), 100)).await {
        let (name, store) = (backend.name, &backend.store);
        store.put_code("code-1", r#"{"a":1}"#, minute).await.unwrap();
        assert_eq!(
            store.redeem_code("code-1", "jti-1", minute).await.unwrap(),
            Redeemed::Found(r#"{"a":1}"#.into()),
            "{name}"
        );
        // A second use: replayed, and it names the first redemption's token id.
        assert_eq!(
            store.redeem_code("code-1", "jti-2", minute).await.unwrap(),
            Redeemed::Replayed { issued: "jti-1".into() },
            "{name}"
        );
        assert_eq!(
            store.redeem_code("never-issued", "jti-3", minute).await.unwrap(),
            Redeemed::Missing,
            "{name}"
        );
        assert!(!store.is_revoked("jti-1").await.unwrap(), "{name}");
        store.revoke("jti-1", minute).await.unwrap();
        assert!(store.is_revoked("jti-1").await.unwrap(), "{name}");
        assert!(!store.is_revoked("jti-2").await.unwrap(), "{name}");
        assert!(
            store.first_use("assertion", "client jti", minute).await.unwrap(),
            "{name}"
        );
        assert!(
            !store.first_use("assertion", "client jti", minute).await.unwrap(),
            "{name}"
        );
        assert!(
            store.first_use("assertion", "client other", minute).await.unwrap(),
            "{name}"
        );
    }
}

/// Two redemptions of one code at once: exactly one gets it, on either backend.
#[tokio::test]
async fn a_code_redeemed_concurrently_is_found_exactly_once() {
    use number_verify::verification::store::Redeemed;
    let minute = Duration::from_secs(60);
    for backend in backends(settings(Duration::from_secs(600), 100)).await {
        let store = Arc::new(backend.store.clone());
        store.put_code("contested", "v", minute).await.unwrap();
        let tries: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.redeem_code("contested", &format!("jti-{i}"), minute).await })
            })
            .collect();
        let mut found = 0;
        for t in tries {
            if matches!(t.await.unwrap().unwrap(), Redeemed::Found(_)) {
                found += 1;
            }
        }
        assert_eq!(found, 1, "{}", backend.name);
    }
}

/// A guarded record (a one-time code's) counts every attempt across instances, even
/// attempts made at once: ten guesses on two instances are attempts 1 to 10, each once.
/// It is removed once, expires, and a new value starts its attempts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_at_a_guarded_record_are_counted_across_instances() {
    let minute = Duration::from_secs(60);
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let stores = [b.store.clone(), b.other_instance.clone()];
        b.store
            .put_guarded("test-code", "v-1", "digest".into(), minute)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = stores[i % 2].clone();
                tokio::spawn(async move { store.attempt("test-code", "v-1").await.unwrap() })
            })
            .collect();
        let mut counts = Vec::new();
        for task in tasks {
            let (value, count) = task.await.unwrap().expect("the record is there");
            assert_eq!(value, "digest", "{}", b.name);
            counts.push(count);
        }
        counts.sort_unstable();
        assert_eq!(counts, (1..=10).collect::<Vec<_>>(), "{}", b.name);

        // A new code (a resend) starts again.
        b.other_instance
            .put_guarded("test-code", "v-1", "digest-2".into(), minute)
            .await
            .unwrap();
        assert_eq!(
            b.store.attempt("test-code", "v-1").await.unwrap(),
            Some(("digest-2".to_owned(), 1)),
            "{}",
            b.name
        );
        let removals = [
            b.store.remove_guarded("test-code", "v-1").await.unwrap(),
            b.other_instance.remove_guarded("test-code", "v-1").await.unwrap(),
        ];
        assert_eq!(removals, [true, false], "removed once: {}", b.name);
        assert_eq!(b.store.attempt("test-code", "v-1").await.unwrap(), None, "{}", b.name);
        assert_eq!(
            b.store.attempt("test-code", "never").await.unwrap(),
            None,
            "an attempt at nothing creates nothing: {}",
            b.name
        );
        assert_eq!(b.store.attempt("test-code", "never").await.unwrap(), None, "{}", b.name);

        b.store
            .put_guarded("test-code", "short", "d".into(), Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            b.store.attempt("test-code", "short").await.unwrap(),
            None,
            "expired: {}",
            b.name
        );
    }
}

/// Daily counts are shared by every instance and per subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_counts_are_shared_and_per_subject() {
    for b in backends(settings(Duration::from_secs(600), 30)).await {
        let mut allowed = Vec::new();
        for i in 0..5 {
            let store = if i % 2 == 0 { &b.store } else { &b.other_instance };
            allowed.push(store.count_daily("test-sms", "+99012345678", 3).await.unwrap());
        }
        assert_eq!(allowed, [true, true, true, false, false], "{}", b.name);
        assert!(
            b.store.count_daily("test-sms", "+99012345679", 3).await.unwrap(),
            "another number has its own count: {}",
            b.name
        );
        assert!(
            b.store.count_daily("test-other", "+99012345678", 3).await.unwrap(),
            "another kind has its own count: {}",
            b.name
        );
    }
}
