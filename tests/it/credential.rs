//! The phone-number credential path as the app's operator client runs it, against the
//! virtual operator as its own server (`SANDBOX=only`): the aggregator's credential
//! request, the wallet's answer to the browser's request, the app's checks of it, the
//! JWT-bearer grant of its operator token, then `verify`. (The page does not offer the
//! path yet; this is the client it will use.)

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

use crate::helpers::TestApp;

/// The app's CAMARA client configured for the virtual operator at `operator`.
fn client_for(operator: &TestApp) -> CamaraClient {
    let config = Config::from_pairs(&[("SANDBOX", "on"), ("APP_PUBLIC_URL", operator.base.as_str())]).unwrap();
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
    let operator = TestApp::start(&[
        ("SANDBOX", "only"),
        ("SANDBOX_REDIRECT_URIS", "https://verify.example/callback"),
    ])
    .await;
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
