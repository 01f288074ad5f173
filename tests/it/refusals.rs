//! A start the page refuses (no JavaScript: a plain form post asking for HTML) stores
//! nothing: the browser is sent to one of the page's fixed error texts, and the refusal
//! spends the client's start budget before anything else is looked at. A loop of refused
//! starts from one address therefore cannot fill Redis or push other people's results out
//! of memory.

use crate::helpers::{browser::Browser, location, manual_client, redis::RedisServer, Server, TestApp};

/// A plain form post to the start, asking for HTML, with no cookie and no Origin: the
/// status and where it sends the browser.
async fn refused_start(app: &TestApp, phone: &str, protocol: &str) -> (u16, String) {
    let response = manual_client()
        .post(app.url("/api/start"))
        .header("accept", "text/html")
        .form(&[("phone", phone), ("protocol", protocol)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), location(&response))
}

/// How many page results the Redis under `url` holds (the app's default prefix).
async fn results_in(url: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("nv:result:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.len()
}

/// The page a refusal sends the browser to shows the code's fixed text.
async fn page_at(app: &TestApp, target: &str) -> String {
    let mut browser = Browser::new();
    let html = browser
        .send(browser.client.get(app.url(target)))
        .await
        .text()
        .await
        .unwrap();
    html[html.find("<main").unwrap()..html.find("</main>").unwrap()].to_owned()
}

/// Each refusal kind has its own code; past the budget the code is the rate limit, and
/// the unknown protocols before it spent that budget.
async fn refusals_spend_the_budget_and_store_nothing(app: &TestApp) {
    let (status, target) = refused_start(app, "+99012345678", "carrier-pigeon").await;
    assert_eq!((status, target.as_str()), (302, "/?error=protocol_unavailable"));
    let main = page_at(app, &target).await;
    assert!(main.contains("Error validating phone number."), "{main}");
    assert!(
        main.contains("That verification method is not available here."),
        "{main}"
    );

    let (_, target) = refused_start(app, "+44 7700 9001x3", "camara").await;
    assert_eq!(target, "/?error=phone_character");
    let main = page_at(app, &target).await;
    assert!(main.contains("is not allowed"), "{main}");
    assert!(!main.contains("7700"), "the typed number is not echoed: {main}");

    // PAGE_RATE_LIMIT_PER_MINUTE is 3: the two refusals above and this one spent it.
    let (_, target) = refused_start(app, "07700 900123", "mobile-connect").await;
    assert_eq!(target, "/?error=phone_country_code");
    assert!(page_at(app, &target).await.contains("country code"));
    for _ in 0..20 {
        let (status, target) = refused_start(app, "+99012345678", "carrier-pigeon").await;
        assert_eq!((status, target.as_str()), (302, "/?error=rate_limited"));
    }
    // Even a start that would be accepted is refused now: the refusals spent the budget.
    let (_, target) = refused_start(app, "+99012345678", "camara").await;
    assert_eq!(target, "/?error=rate_limited");
    let main = page_at(app, &target).await;
    assert!(main.contains("Too many verifications at once."), "{main}");
}

#[tokio::test]
async fn refused_page_starts_store_nothing_in_memory() {
    let app = TestApp::start(&[("PAGE_RATE_LIMIT_PER_MINUTE", "3")]).await;
    refusals_spend_the_budget_and_store_nothing(&app).await;
}

#[tokio::test]
async fn refused_page_starts_store_nothing_in_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = TestApp::start(&[("PAGE_RATE_LIMIT_PER_MINUTE", "3"), ("REDIS_URL", &url)]).await;
    let before = results_in(&url).await;
    refusals_spend_the_budget_and_store_nothing(&app).await;
    assert_eq!(results_in(&url).await, before, "refused starts left results in Redis");
}
