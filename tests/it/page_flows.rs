//! The page's flow as a browser without JavaScript drives it — form post, operator hops,
//! callback, result page — over real HTTP against the virtual operator.

use crate::helpers::{absolute, browser::Browser, location, manual_client, Server, TestApp};

#[tokio::test]
async fn the_page_renders_without_javascript() {
    let app = TestApp::start(&[]).await;
    let mut browser = Browser::new();
    let page = browser.send(browser.client.get(app.url("/"))).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for text in [
        "Verify your phone number!",
        r#"autocomplete="tel""#,
        ">Phone number</label>",
        ">Verify</button>",
        "Mobile Connect",
        "CAMARA",
        "Simulated SIM",
        "operator will confirm whether this number belongs to the SIM",
    ] {
        assert!(html.contains(text), "page lacks {text:?}");
    }
    assert!(
        !html.contains(number_verify::sandbox_contract::credentials::MC_CLIENT_SECRET),
        "no secret in the page"
    );
}

#[tokio::test]
async fn both_protocols_verify_and_refuse_on_the_page() {
    let app = TestApp::start(&[]).await;
    for protocol in ["mobile-connect", "camara"] {
        let mut browser = Browser::new();
        let (url, html) = browser.verify(&app, "+990 1234 5678", protocol).await;
        assert!(url.contains("/?result="), "{protocol}: ended at {url}");
        assert!(html.contains("+99012345678: verified!"), "{protocol}: {html}");
        assert!(
            html.contains("Checked by your mobile operator's network."),
            "{protocol}: {html}"
        );
        assert!(html.contains("Verify another number"));

        let (_, html) = browser.verify(&app, "+99012345677", protocol).await;
        assert!(html.contains("+99012345677: invalid!"), "{protocol}");

        // Reloading the result shows it again without re-running the exchange.
        let reload = browser.send(browser.client.get(&url)).await;
        assert!(reload.text().await.unwrap().contains("+99012345678: verified!"));
        // Another browser cannot read it.
        let mut stranger = Browser::new();
        let other = stranger.send(stranger.client.get(&url)).await.text().await.unwrap();
        let main = &other[other.find("<main").unwrap()..other.find("</main>").unwrap()];
        assert!(
            !main.contains("verified!"),
            "{protocol}: another browser saw the result: {main}"
        );
        assert!(other.contains("Error validating phone number."));
    }
}

#[tokio::test]
async fn each_failure_has_its_own_message_on_the_page() {
    let app = TestApp::start(&[("OPERATOR_TIMEOUT_MS", "800")]).await;
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("camara", "+99011111199", "", "", "could not check this number"),
        (
            "mobile-connect",
            "+99012345678",
            "X-Sandbox-Network",
            "wifi",
            "mobile data",
        ),
        ("camara", "+99012345678", "X-Sandbox-Network", "wifi", "mobile data"),
        (
            "mobile-connect",
            "+99012345678",
            "X-Sandbox-Fault",
            "unavailable",
            "temporarily unavailable",
        ),
        (
            "mobile-connect",
            "+99012345678",
            "X-Sandbox-Fault",
            "token-500",
            "could not complete the check",
        ),
        (
            "mobile-connect",
            "+99012345678",
            "X-Sandbox-Fault",
            "check-malformed",
            "could not complete the check",
        ),
        (
            "camara",
            "+99012345678",
            "X-Sandbox-Fault",
            "token-slow",
            "did not answer in time",
        ),
        ("mobile-connect", "07700 900123", "", "", "country code"),
        ("mobile-connect", "+44 77OO", "", "", "is not allowed"),
    ];
    for (protocol, phone, header, value, expected) in cases {
        let mut browser = Browser::new().header("X-Sandbox-Delay-Ms", "2000");
        if !header.is_empty() {
            browser = browser.header(header, value);
        }
        let (_, html) = browser.verify(&app, phone, protocol).await;
        assert!(
            html.contains("Error validating phone number."),
            "{protocol} {phone} {header}"
        );
        assert!(
            html.contains(expected),
            "{protocol} {phone} {header}: expected {expected:?}"
        );
    }
}

#[tokio::test]
async fn a_callback_in_another_browser_or_replayed_is_refused() {
    let app = TestApp::start(&[]).await;
    let mut browser = Browser::new();
    let post = browser
        .send(
            browser
                .client
                .post(app.url("/api/start"))
                .form(&[("phone", "+99012345678"), ("protocol", "camara")]),
        )
        .await;
    // Walk the operator's hops up to (not into) the callback.
    let mut next = absolute(post.url(), &location(&post));
    let callback = loop {
        let r = browser.send(browser.client.get(&next)).await;
        next = absolute(r.url(), &location(&r));
        if next.contains("/callback") {
            break next;
        }
    };
    let mut stranger = Browser::new();
    let r = stranger.send(stranger.client.get(&callback)).await;
    let (_, html) = stranger.follow(r).await;
    assert!(html.contains("started in another browser"), "{html}");
    // The stranger's attempt consumed it: the real browser now sees a replay.
    let r = browser.send(browser.client.get(&callback)).await;
    assert_eq!(location(&r), "/?error=replayed");
    let (_, html) = browser.follow(r).await;
    assert!(html.contains("already been completed"));
}

#[tokio::test]
async fn the_page_is_served_under_one_origin() {
    let app = TestApp::start(&[]).await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let r = manual_client()
        .get(app.url("/?x=1"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(location(&r), format!("{}/?x=1", app.base));
    // The JSON API answers on any host name.
    let host = format!("localhost:{port}");
    let answer = app
        .login_with(serde_json::json!({"phone": "+99012345678"}), &[("host", &host)])
        .await;
    assert_eq!(answer.status, 200, "{answer}");
}

/// Without JavaScript, a verdict from the virtual operator carries its test-result line
/// next to it (both protocols, both verdicts, and its simulated refusals); a start refused
/// before any operator answered does not.
#[tokio::test]
async fn a_virtual_operator_result_is_shown_as_a_test_result() {
    let note = number_verify::outcome::SANDBOX_NOTE;
    assert!(note.starts_with("Test result from the virtual operator"));
    let app = TestApp::start(&[]).await;
    let main_of = |html: &str| html[html.find("<main").unwrap()..html.find("</main>").unwrap()].to_owned();
    for protocol in ["mobile-connect", "camara"] {
        for (phone, verdict) in [
            ("+99012345678", "+99012345678: verified!"),
            ("+99012345677", "+99012345677: invalid!"),
        ] {
            let mut browser = Browser::new();
            let (url, html) = browser.verify(&app, phone, protocol).await;
            assert!(url.contains("/?result="), "{protocol} {phone}: ended at {url}");
            let main = main_of(&html);
            assert!(main.contains(verdict), "{protocol} {phone}: {main}");
            assert!(main.contains(note), "{protocol} {phone}: no test-result line in {main}");
        }
        let mut on_wifi = Browser::new().header("X-Sandbox-Network", "wifi");
        let (_, html) = on_wifi.verify(&app, "+99012345678", protocol).await;
        let main = main_of(&html);
        assert!(
            main.contains("mobile data") && main.contains(note),
            "{protocol}: {main}"
        );
    }
    // Refused by the app itself: no operator result, no test-result line.
    let mut browser = Browser::new();
    let (_, html) = browser.verify(&app, "07700 900123", "camara").await;
    let main = main_of(&html);
    assert!(main.contains("country code"), "{main}");
    assert!(!main.contains("Test result"), "{main}");
}
