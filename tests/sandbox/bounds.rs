//! Bounds: a flood of authorizations never redeemed keeps the stores under their cap.

use std::time::Instant;

use reqwest::StatusCode;

use crate::harness::{location, query_map, start_with_cap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_unredeemed_codes_stays_under_the_cap() {
    const CAP: usize = 1000;
    const REQUESTS: usize = 10_000;
    const CONCURRENCY: usize = 32;
    let h = std::sync::Arc::new(start_with_cap(CAP).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let url = h.mc_authorize_url(&[]);
            let mut codes = 0usize;
            let mut i = worker;
            while i < REQUESTS {
                // Every request is authorized and its code issued, never redeemed.
                let res = h.client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::FOUND);
                let hop = location(&res);
                let res = h.client.get(&hop).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::FOUND);
                assert!(query_map(&location(&res)).contains_key("code"));
                codes += 1;
                i += CONCURRENCY;
            }
            codes
        }));
    }
    let mut issued = 0;
    for t in tasks {
        issued += t.await.unwrap();
    }
    let stats = h.sandbox.stats();
    let elapsed = started.elapsed();
    eprintln!("flood: {issued} codes issued in {elapsed:?}; entries after: {stats:?} (cap {CAP})");
    assert_eq!(issued, REQUESTS);
    assert!(stats.codes <= CAP, "{stats:?}");
    assert!(stats.pending <= CAP, "{stats:?}");
    assert_eq!(stats.codes, CAP, "the store is full, not emptied: {stats:?}");

    // Authorizations whose hop is never followed are bounded too.
    for _ in 0..(CAP + 500) {
        let res = h.client.get(h.mc_authorize_url(&[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    let stats = h.sandbox.stats();
    eprintln!("flood: after {} unfollowed authorizations: {stats:?}", CAP + 500);
    assert!(stats.pending <= CAP, "{stats:?}");
    assert!(stats.codes <= CAP && stats.tokens <= CAP, "{stats:?}");

    // The operator still works: a fresh flow verifies.
    assert!(h.mc_verified(&[], "+99012345678").await);
    assert_eq!(h.sandbox.stats().tokens, 1);
}
