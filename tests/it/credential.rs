//! The phone-number credential channel against the virtual operator as its own server
//! (`SANDBOX=only`): the aggregator's credential request, the wallet's answer to the
//! browser's request, the app's checks of it, the JWT-bearer grant of its operator token,
//! then `verify` — through the operator client, the verifier's two steps, and the page's
//! two server functions (the browser's side is in end2end/tests/credential.spec.ts).

use number_verify::{
    config::Config,
    operators::{
        camara::CamaraClient,
        http_client,
        ts43::{self, browser_request, EphemeralKey, Expected},
        RedirectUri,
    },
    phone::normalise,
    sandbox_contract::VIRTUAL_WALLET_PATH,
    support::{random_token, unix_now},
};
use serde_json::{json, Value};

use crate::helpers::{Server, TestApp};
use number_verify::{
    outcome::Verdict,
    verification::{
        credential::CredentialVerdict,
        store::{Settings, Store},
        SessionId, StateProblem, Verifier, VerifyError, RESULT_TTL,
    },
};

/// The app's CAMARA client configured for the virtual operator at `operator`.
fn config_for(operator: &TestApp) -> Config {
    Config::from_pairs(&[("SANDBOX", "on"), ("APP_PUBLIC_URL", operator.base.as_str())]).unwrap()
}

async fn operator() -> TestApp {
    TestApp::start(&[
        ("SANDBOX", "only"),
        ("SANDBOX_REDIRECT_URIS", "https://verify.example/callback"),
    ])
    .await
}

fn client_for(operator: &TestApp) -> CamaraClient {
    let config = config_for(operator);
    let settings = config.camara_standard.expect("the virtual operator's standard CAMARA");
    assert!(settings.ts43.is_some(), "sandbox mode configures the credential path");
    CamaraClient::new(
        &settings,
        RedirectUri::for_origin(&operator.base).unwrap(),
        http_client(std::time::Duration::from_secs(5)).unwrap(),
    )
}

/// What the browser's `navigator.credentials.get({digital})` returns through the
/// virtual wallet, for a page at `origin` on a device whose SIM is `sim`.
async fn wallet_answer(operator: &TestApp, request: &Value, origin: &str, sim: &str) -> Value {
    let mut body = request.clone();
    body["origin"] = json!(origin);
    let answer = reqwest::Client::new()
        .post(format!("{}/sandbox{VIRTUAL_WALLET_PATH}", operator.base))
        .header("x-sandbox-msisdn", sim)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn a_credential_verifies_through_the_apps_client() {
    let operator = operator().await;
    let client = client_for(&operator);
    let origin = "https://verify.example";
    for (asked, verified) in [("+99012345678", true), ("+99012345677", false)] {
        let (nonce, key) = (random_token(), EphemeralKey::random());
        let number = normalise(asked).unwrap();
        let query = client
            .request_credential(&nonce, &key, Some(&number))
            .await
            .expect("configured")
            .expect("the aggregator authorizes the request");
        let request = browser_request(&query, &nonce);
        assert_eq!(request["protocol"], "openid4vp-v1-unsigned");
        let answer = wallet_answer(&operator, &request, origin, "+99012345678").await;
        let id = query["id"].as_str().unwrap();
        let presentation = answer["vp_token"][id][0].as_str().expect("one presentation");
        let anchors = &client.ts43().unwrap().trust_anchors;
        let expected = Expected {
            nonce: &nonce,
            origin,
            key: &key,
        };
        let token = ts43::verify(presentation, anchors, &expected, unix_now()).unwrap();
        let access = client.exchange_operator_token(token.token.secret()).await.unwrap();
        let correlator = number_verify::operators::camara::Correlator::random();
        assert_eq!(
            client.verify(&access, &number, &correlator).await.unwrap(),
            verified,
            "{asked}"
        );
        // The operator token was single use.
        assert!(client.exchange_operator_token(token.token.secret()).await.is_err());
    }
}

/// A phone continuing a desktop's handoff with its credential: the verdict (proven by
/// an operator token) goes to the desktop, and the link is the phone's from then on.
#[tokio::test]
async fn a_phone_continues_a_handoff_with_its_credential() {
    use number_verify::{
        outcome::Proof,
        verification::{handoff::Phase, HandoffProblem, HandoffRefusal},
    };
    let operator = operator().await;
    let config = config_for(&operator);
    let settings = Settings {
        pending_ttl: std::time::Duration::from_secs(600),
        result_ttl: RESULT_TTL,
        starts_per_minute: 100,
        page_starts_per_minute: 100,
        max_pending_per_client: 5,
        max_pending: 1_000,
    };
    let verifier = Verifier::new(&config, Store::memory(settings)).unwrap();
    let origin = "https://verify.example";
    let (desktop, phone) = (SessionId::random(), SessionId::random());
    let watch_id = verifier
        .start_handoff("+99012345678", desktop.clone(), None)
        .await
        .unwrap();
    let secret = verifier.watch(&watch_id, Some(&desktop)).await.unwrap().unwrap().secret;

    let started = verifier
        .request_handoff_credential(&secret, phone.clone(), None)
        .await
        .unwrap();
    let vp_token = wallet_answer(&operator, &started.request, origin, "+99012345678").await["vp_token"].clone();
    let answered = verifier
        .answer_credential(&started.request_id, &vp_token, &phone, origin)
        .await
        .unwrap();
    assert!(matches!(answered, CredentialVerdict::HandedBack), "{answered:?}");
    let watch = verifier.watch(&watch_id, Some(&desktop)).await.unwrap().unwrap();
    let Phase::Finished(outcome) = watch.phase else {
        panic!("the desktop has its verdict: {:?}", watch.phase)
    };
    assert_eq!(outcome.verdict, Verdict::Verified);
    assert_eq!(outcome.proof, Proof::OperatorToken);
    // The link verified once: nobody, the same phone included, continues it again.
    for who in [phone, SessionId::random()] {
        let again = verifier.request_handoff_credential(&secret, who, None).await;
        assert!(
            matches!(again, Err(HandoffRefusal::Problem(HandoffProblem::Used))),
            "{again:?}"
        );
    }
}

/// The verifier's two steps, as the page's server functions call them: the verdict is
/// kept for the browser that asked, the request answers once, for that browser and that
/// page only.
#[tokio::test]
async fn the_verifier_keeps_a_credentials_verdict_for_its_browser() {
    let operator = operator().await;
    let config = config_for(&operator);
    let settings = Settings {
        pending_ttl: std::time::Duration::from_secs(600),
        result_ttl: RESULT_TTL,
        starts_per_minute: 100,
        page_starts_per_minute: 100,
        max_pending_per_client: 5,
        max_pending: 1_000,
    };
    let verifier = Verifier::new(&config, Store::memory(settings)).unwrap();
    assert!(verifier.offers_credentials());
    let origin = "https://verify.example";
    let browser = SessionId::random();
    let answered = |request: &Value| {
        let request = request.clone();
        let operator = &operator;
        async move {
            let answer = wallet_answer(operator, &request, origin, "+99012345678").await;
            answer["vp_token"].clone()
        }
    };

    for (asked, verdict) in [("+99012345678", Verdict::Verified), ("+99012345677", Verdict::Invalid)] {
        let started = verifier.request_credential(asked, browser.clone(), None).await.unwrap();
        let vp_token = answered(&started.request).await;
        let answered = verifier
            .answer_credential(&started.request_id, &vp_token, &browser, origin)
            .await
            .unwrap();
        let CredentialVerdict::Kept(result) = answered else {
            panic!("a page's verdict is kept for it: {answered:?}")
        };
        let outcome = verifier.result_for(&result, Some(&browser)).await.unwrap().unwrap();
        assert_eq!((outcome.number.unwrap().as_str(), outcome.verdict), (asked, verdict));
        assert!(outcome.sandbox, "a test result");
        assert_eq!(
            verifier.result_for(&result, Some(&SessionId::random())).await.unwrap(),
            None
        );
        // The request answered once.
        let again = verifier
            .answer_credential(&started.request_id, &vp_token, &browser, origin)
            .await;
        assert!(
            matches!(again, Err(VerifyError::InvalidState(StateProblem::Unknown))),
            "{again:?}"
        );
    }

    // Another browser's request: refused, and used up.
    let started = verifier
        .request_credential("+99012345678", browser.clone(), None)
        .await
        .unwrap();
    let vp_token = answered(&started.request).await;
    let stranger = verifier
        .answer_credential(&started.request_id, &vp_token, &SessionId::random(), origin)
        .await;
    assert!(
        matches!(stranger, Err(VerifyError::InvalidState(StateProblem::OtherBrowser))),
        "{stranger:?}"
    );

    // A credential made for another page: refused by the key-binding check.
    let started = verifier
        .request_credential("+99012345678", browser.clone(), None)
        .await
        .unwrap();
    let vp_token = answered(&started.request).await;
    let elsewhere = verifier
        .answer_credential(&started.request_id, &vp_token, &browser, "https://evil.example")
        .await;
    assert!(matches!(elsewhere, Err(VerifyError::OperatorError(_))), "{elsewhere:?}");

    // Not a number.
    let bad = verifier.request_credential("not a number", browser, None).await;
    assert!(matches!(bad, Err(VerifyError::InvalidPhone(_))), "{bad:?}");
}

/// The page's two server functions over HTTP, as the form's script calls them (JSON
/// answers), with the virtual wallet in between: the result page then shows the verdict
/// to this browser.
#[tokio::test]
async fn the_pages_server_functions_run_the_channel() {
    let app = TestApp::start(&[]).await;
    let mut browser = crate::helpers::browser::Browser::new();

    let offer = server_fn(
        &mut browser,
        &app,
        "/api/credential/request",
        &[("phone", "+99012345678")],
    )
    .await;
    let (request_id, request) = (
        offer["Ask"]["request_id"].as_str().expect("a request").to_owned(),
        offer["Ask"]["request"].as_str().unwrap().to_owned(),
    );
    let request: Value = serde_json::from_str(&request).unwrap();
    let data = wallet_answer(&app, &request, &app.base, "+99012345678").await;

    // Another browser cannot use the answer.
    let mut stranger = crate::helpers::browser::Browser::new();
    let refused = server_fn(
        &mut stranger,
        &app,
        "/api/credential/answer",
        &[("request_id", request_id.as_str()), ("response", &data.to_string())],
    )
    .await;
    assert!(refused["Refused"].as_str().unwrap().contains("another browser"));

    // A fresh request, answered by the browser that asked for it.
    let offer = server_fn(
        &mut browser,
        &app,
        "/api/credential/request",
        &[("phone", "+99012345678")],
    )
    .await;
    let request_id = offer["Ask"]["request_id"].as_str().unwrap().to_owned();
    let request: Value = serde_json::from_str(offer["Ask"]["request"].as_str().unwrap()).unwrap();
    let data = wallet_answer(&app, &request, &app.base, "+99012345678").await;
    let answer = server_fn(
        &mut browser,
        &app,
        "/api/credential/answer",
        &[("request_id", request_id.as_str()), ("response", &data.to_string())],
    )
    .await;
    let go_to = answer["GoTo"].as_str().expect("the result page").to_owned();
    assert!(go_to.starts_with("/?result="), "{go_to}");
    let page = browser.send(browser.client.get(app.url(&go_to))).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("+99012345678: verified!"), "{html}");
    assert!(
        html.contains("through your phone's number credential"),
        "how it was proven: {html}"
    );
}

/// A server function called as the form's script calls it: form fields, a JSON answer.
async fn server_fn(
    browser: &mut crate::helpers::browser::Browser,
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> Value {
    let request = browser
        .client
        .post(app.url(path))
        .header("accept", "application/json")
        .form(fields);
    browser.send(request).await.json().await.unwrap()
}
