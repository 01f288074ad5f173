//! The verification core without HTTP: Mobile Connect starts build their URL locally, and
//! a callback that carries the operator's error finishes without calling the operator.

use std::{net::IpAddr, time::Duration};

use super::*;
use crate::protocol::Operator;

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
    Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap()
}

fn memory(config: &Config, pending_ttl: Duration) -> Verifier {
    let settings = store::Settings {
        pending_ttl,
        result_ttl: RESULT_TTL,
        starts_per_minute: config.rate_limit_per_minute,
        page_starts_per_minute: config.page_rate_limit_per_minute,
        max_pending_per_client: config.max_pending_per_client,
        max_pending: config.max_pending,
    };
    Verifier::new(config, Store::memory(settings)).unwrap()
}

fn verifier() -> Verifier {
    memory(&config(&[]), PENDING_TTL)
}

fn state_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state parameter")
}

/// The operator's refusal for `state`: completes without an operator call.
fn denied(state: &str) -> CallbackParams {
    CallbackParams {
        state: Some(state.into()),
        error: Some("access_denied".into()),
        error_description: Some("on Wi-Fi".into()),
        ..Default::default()
    }
}

async fn start_in(v: &Verifier, session: &SessionId) -> String {
    let origin = Origin::Browser {
        session: session.clone(),
    };
    let started = v
        .start("+44 7700 900123", Operator::MobileConnect, origin, None)
        .await
        .unwrap();
    state_of(&started.url)
}

#[tokio::test]
async fn start_gives_a_fresh_state_per_verification() {
    let v = verifier();
    let session = SessionId::random();
    let (a, b) = (start_in(&v, &session).await, start_in(&v, &session).await);
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
}

#[tokio::test]
async fn start_refuses_bad_input_before_recording_anything() {
    let v = verifier();
    let e = v
        .start("07700 900123", Operator::MobileConnect, Origin::Api, None)
        .await;
    assert!(matches!(e, Err(VerifyError::InvalidPhone(_))), "{e:?}");
    let only_mc = memory(
        &config(&[
            ("MC_API_BASE", "https://mc.example"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "secret"),
        ]),
        PENDING_TTL,
    );
    assert_eq!(only_mc.protocols(), [Protocol::MobileConnect]);
    for protocol in [Protocol::Camara, Protocol::CamaraStandard] {
        let e = only_mc.operator_for(protocol);
        assert!(matches!(e, Err(VerifyError::ProtocolUnavailable)), "{e:?}");
    }
    for operator in [Operator::Vonage, Operator::CamaraStandard] {
        let e = only_mc.start("+447700900123", operator, Origin::Api, None).await;
        assert!(matches!(e, Err(VerifyError::ProtocolUnavailable)), "{e:?}");
    }
    let e = only_mc.start_share(Operator::MobileConnect, None).await;
    assert!(matches!(e, Err(VerifyError::ShareUnsupported)), "{e:?}");
}

#[tokio::test]
async fn the_browser_that_started_it_completes_it_once() {
    let v = verifier();
    let session = SessionId::random();
    let state = start_in(&v, &session).await;
    match v.complete(denied(&state), Some(&session)).await {
        Completion::Browser {
            session: owner,
            number,
            result: Err(VerifyError::OperatorDenied { error, .. }),
            ..
        } => {
            assert_eq!(owner, session);
            assert_eq!(number.as_str(), "+447700900123");
            assert_eq!(error, "access_denied");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        v.complete(denied(&state), Some(&session)).await,
        Completion::Unusable(PageError::State(StateProblem::Replayed))
    ));
}

#[tokio::test]
async fn another_browser_consumes_it_and_learns_nothing() {
    let v = verifier();
    let session = SessionId::random();
    let state = start_in(&v, &session).await;
    for stranger in [None, Some(SessionId::random())] {
        let state = if stranger.is_none() {
            state.clone()
        } else {
            start_in(&v, &session).await
        };
        assert!(matches!(
            v.complete(denied(&state), stranger.as_ref()).await,
            Completion::Unusable(PageError::State(StateProblem::OtherBrowser))
        ));
        // Its owner now finds it completed.
        assert!(matches!(
            v.complete(denied(&state), Some(&session)).await,
            Completion::Unusable(PageError::State(StateProblem::Replayed))
        ));
    }
}

#[tokio::test]
async fn an_api_flow_answers_whoever_follows_the_url() {
    let v = verifier();
    let started = v
        .start("+99012345678", Operator::MobileConnect, Origin::Api, None)
        .await
        .unwrap();
    let state = state_of(&started.url);
    assert!(matches!(
        v.complete(denied(&state), None).await,
        Completion::Api {
            result: Err(VerifyError::OperatorDenied { .. }),
            ..
        }
    ));
}

#[tokio::test]
async fn a_callback_with_neither_code_nor_error_is_an_operator_error() {
    let v = verifier();
    let started = v
        .start("+99012345678", Operator::MobileConnect, Origin::Api, None)
        .await
        .unwrap();
    let params = CallbackParams {
        state: Some(state_of(&started.url)),
        ..Default::default()
    };
    assert!(matches!(
        v.complete(params, None).await,
        Completion::Api {
            result: Err(VerifyError::OperatorError(_)),
            ..
        }
    ));
}

#[tokio::test]
async fn missing_and_unknown_states_are_told_apart() {
    let v = verifier();
    let none = CallbackParams::default();
    assert!(matches!(
        v.complete(none, None).await,
        Completion::Unusable(PageError::State(StateProblem::Missing))
    ));
    assert!(matches!(
        v.complete(denied(""), None).await,
        Completion::Unusable(PageError::State(StateProblem::Missing))
    ));
    assert!(matches!(
        v.complete(denied("0123456789abcdef0123456789abcdef"), None).await,
        Completion::Unusable(PageError::State(StateProblem::Unknown))
    ));
}

#[tokio::test]
async fn a_pending_verification_expires() {
    let v = memory(&config(&[]), Duration::ZERO);
    let session = SessionId::random();
    let state = start_in(&v, &session).await;
    assert!(matches!(
        v.complete(denied(&state), Some(&session)).await,
        Completion::Unusable(PageError::State(StateProblem::Expired))
    ));
}

#[tokio::test]
async fn starts_are_limited_per_client() {
    let v = memory(&config(&[("RATE_LIMIT_PER_MINUTE", "2")]), PENDING_TTL);
    let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    for _ in 0..2 {
        v.start("+99012345678", Operator::MobileConnect, Origin::Api, Some(a))
            .await
            .unwrap();
    }
    let refused = v
        .start("+99012345678", Operator::MobileConnect, Origin::Api, Some(a))
        .await;
    assert!(matches!(refused, Err(VerifyError::RateLimited)), "{refused:?}");
    assert!(v
        .start("+99012345678", Operator::MobileConnect, Origin::Api, Some(b))
        .await
        .is_ok());
}

/// A start the store refuses (memory full: `MAX_PENDING`) costs the operator nothing:
/// capacity is checked before the network enablement call, and the refusal is a 503.
#[tokio::test]
async fn a_refused_start_makes_no_operator_call() {
    // The "operator" (the mounted virtual operator's address) is a listener that counts
    // connections and never answers.
    let operator = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    operator.set_nonblocking(true).unwrap();
    let address = operator.local_addr().unwrap().to_string();
    let config = config(&[
        ("LEPTOS_SITE_ADDR", &address),
        ("OPERATOR_TIMEOUT_MS", "500"),
        ("MAX_PENDING", "1"),
    ]);
    let v = memory(&config, PENDING_TTL);
    let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    v.start("+99012345678", Operator::MobileConnect, Origin::Api, Some(a))
        .await
        .unwrap();
    let refused = v.start("+99012345678", Operator::Vonage, Origin::Api, Some(b)).await;
    match &refused {
        Err(e @ VerifyError::StoreUnavailable(reason)) => {
            assert_eq!(e.status().as_u16(), 503);
            assert!(reason.contains("MAX_PENDING"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(operator.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the operator was called"
    );
}

/// A standard CAMARA operator's discovery document is read again on schedule: a moved
/// authorization endpoint is used without a restart, and a refresh that fails keeps the
/// document it had.
#[tokio::test]
async fn camara_discovery_is_refreshed_on_schedule() {
    use std::sync::{Arc, Mutex};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/oidc", listener.local_addr().unwrap());
    // What the operator publishes now: its authorization endpoint, or an outage (None).
    let published: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(Some(format!("{issuer}/authorize-1"))));
    let outage_answers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let document = {
        let (published, issuer, outage_answers) = (published.clone(), issuer.clone(), outage_answers.clone());
        move || {
            let (published, issuer, outage_answers) = (published.clone(), issuer.clone(), outage_answers.clone());
            async move {
                use axum::response::IntoResponse;
                match published.lock().unwrap().clone() {
                    Some(authorize) => axum::Json(serde_json::json!({
                        "issuer": issuer,
                        "authorization_endpoint": authorize,
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                    }))
                    .into_response(),
                    None => {
                        outage_answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                }
            }
        }
    };
    let app = axum::Router::new().route("/oidc/.well-known/openid-configuration", axum::routing::get(document));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let key = include_str!("../../sandbox-keys/camara-client-private.pem");
    let cfg = config(&[
        ("CAMARA_ISSUER", &issuer),
        ("CAMARA_API_ROOT", &issuer),
        ("CAMARA_CLIENT_ID", "client-1"),
        ("CAMARA_CLIENT_KEY", key),
        ("CAMARA_CLIENT_KEY_ID", "kid-1"),
    ]);
    let v = Arc::new(memory(&cfg, PENDING_TTL));
    v.discover_at_start_up(&cfg).await.unwrap();
    // The only CAMARA configured: what "camara" means.
    let operator = v.operator_for(Protocol::Camara).unwrap();
    assert_eq!(operator, Operator::CamaraStandard);
    let authorize = || async {
        let started = v.start("+99012345678", operator, Origin::Api, None).await.unwrap();
        url::Url::parse(&started.url).unwrap().path().to_owned()
    };
    assert_eq!(authorize().await, "/oidc/authorize-1");

    Verifier::refresh_discovery_every(&v, Duration::from_millis(20));
    // The operator is briefly away: refreshes fail, the document read at start-up stays.
    *published.lock().unwrap() = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while outage_answers.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(std::time::Instant::now() < deadline, "no refresh was attempted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(authorize().await, "/oidc/authorize-1");
    // It moves its endpoint: a later refresh picks it up (bounded wait).
    *published.lock().unwrap() = Some(format!("{issuer}/authorize-2"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while authorize().await != "/oidc/authorize-2" {
        assert!(
            std::time::Instant::now() < deadline,
            "the moved endpoint was never read"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// "camara" is the configured profile, resolved once; which operators give test results
/// is decided per operator, so a Vonage flow is judged as Vonage whatever "camara" means.
#[test]
fn camara_is_its_profile_and_test_results_are_judged_per_operator() {
    let v = verifier();
    assert_eq!(v.operator_for(Protocol::Camara).unwrap(), Operator::Vonage);
    assert_eq!(
        v.protocols(),
        [Protocol::MobileConnect, Protocol::Camara, Protocol::CamaraStandard]
    );
    assert!(Operator::ALL.into_iter().all(|o| v.sandbox_backed(o)));

    // A live standard operator is what "camara" means; Vonage is the virtual operator,
    // reached with its published credentials.
    let vonage_key = include_str!("../../sandbox-keys/vonage-sandbox-private.pem");
    let camara_key = include_str!("../../sandbox-keys/camara-client-private.pem");
    let v = memory(
        &config(&[
            ("CAMARA_PROFILE", "standard"),
            ("CAMARA_ISSUER", "https://op.example/oidc"),
            ("CAMARA_API_ROOT", "https://api.op.example"),
            ("CAMARA_CLIENT_ID", "client-1"),
            ("CAMARA_CLIENT_KEY", camara_key),
            ("CAMARA_CLIENT_KEY_ID", "kid-1"),
            ("VONAGE_API_BASE", "http://127.0.0.1:4000/sandbox"),
            (
                "VONAGE_APPLICATION_ID",
                crate::sandbox_contract::credentials::VONAGE_APPLICATION_ID,
            ),
            ("VONAGE_PRIVATE_KEY", vonage_key),
        ]),
        PENDING_TTL,
    );
    assert_eq!(v.operator_for(Protocol::Camara).unwrap(), Operator::CamaraStandard);
    assert_eq!(v.protocols(), [Protocol::Camara]);
    assert!(v.sandbox_backed(Operator::Vonage), "Vonage is the virtual operator");
    assert!(
        !v.sandbox_backed(Operator::CamaraStandard),
        "the standard operator is live"
    );
    assert!(!v.sandbox_backed(Operator::MobileConnect), "not configured");
}
