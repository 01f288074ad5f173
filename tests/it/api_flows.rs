//! The mobile-app API (`POST /login` → follow the URL → `/callback` JSON) over real HTTP,
//! against the virtual operator, for both protocols and every failure the API names.

use std::time::Duration;

use crate::helpers::{following_client, tutorial_client, TestApp};
use serde_json::{json, Value};

/// `POST /login` for `phone`; returns the operator URL.
async fn login_url(client: &reqwest::Client, app: &TestApp, phone: &str) -> String {
    let login: Value = client
        .post(app.url("/login"))
        .json(&json!({ "phone": phone }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["url"].as_str().expect("a url").to_owned()
}

#[tokio::test]
async fn camara_verifies_the_documented_numbers() {
    let app = TestApp::start(&[]).await;
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345678"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true }))
    );

    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345677"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": false, "sandbox": true }))
    );

    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99011111199"}), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "operator_denied");
    assert!(body["message"].as_str().unwrap().len() > 10);
}

#[tokio::test]
async fn mobile_connect_through_the_api_uses_the_default_sim() {
    let app = TestApp::start(&[]).await;
    let (status, body) = tutorial_client(
        &app.base,
        json!({"phone": "+990 1234 5678", "protocol": "mobile-connect"}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true }))
    );
    let (status, body) = tutorial_client(
        &app.base,
        json!({"phone": "+99012345677", "protocol": "mobile-connect"}),
        &[],
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": false, "sandbox": true }))
    );
}

#[tokio::test]
async fn hashed_camara_mode_verifies_too() {
    let app = TestApp::start(&[("CAMARA_HASHED", "true")]).await;
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345678"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": true, "sandbox": true }))
    );
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345677"}), &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({ "devicePhoneNumberVerified": false, "sandbox": true }))
    );
}

#[tokio::test]
async fn login_accepts_a_form_like_the_android_app() {
    let app = TestApp::start(&[]).await;
    let client = following_client(&[]);
    let login = client
        .post(app.url("/login"))
        .form(&[("phone", "+99012345678")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let url = login.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    let body: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true, "sandbox": true }));
}

#[tokio::test]
async fn login_refuses_bad_input_with_specific_errors() {
    let app = TestApp::start(&[]).await;
    let client = following_client(&[]);
    let cases = [
        (json!({}), 400, "invalid_phone"),
        (json!({"phone": ""}), 400, "invalid_phone"),
        (json!({"phone": "07700 900123"}), 400, "invalid_phone"),
        (json!({"phone": "call me"}), 400, "invalid_phone"),
        (json!({"phone": 12345}), 400, "invalid_phone"),
        (
            json!({"phone": "+99012345678", "protocol": "sms"}),
            400,
            "invalid_protocol",
        ),
    ];
    for (body, status, code) in cases {
        let r = client.post(app.url("/login")).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"], code, "{body}");
        assert!(!answer["message"].as_str().unwrap().is_empty());
    }
    let r = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_phone");

    let missing = "07700 900123";
    let r = client
        .post(app.url("/login"))
        .json(&json!({"phone": missing}))
        .send()
        .await
        .unwrap();
    assert!(r.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("country code"));
}

#[tokio::test]
async fn operator_faults_map_to_their_api_errors() {
    let app = TestApp::start(&[("OPERATOR_TIMEOUT_MS", "1000")]).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        (&[("X-Sandbox-Network", "wifi")], 403, "operator_denied"),
        (&[("X-Sandbox-Fault", "unavailable")], 403, "operator_denied"),
        (&[("X-Sandbox-Fault", "token-500")], 502, "operator_error"),
        (&[("X-Sandbox-Fault", "token-malformed")], 502, "operator_error"),
        (&[("X-Sandbox-Fault", "check-500")], 502, "operator_error"),
        (&[("X-Sandbox-Fault", "check-malformed")], 502, "operator_error"),
        (
            &[("X-Sandbox-Fault", "token-slow"), ("X-Sandbox-Delay-Ms", "3000")],
            504,
            "operator_timeout",
        ),
        (
            &[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "3000")],
            504,
            "operator_timeout",
        ),
    ];
    for protocol in ["camara", "mobile-connect"] {
        for (headers, status, code) in cases {
            let (got_status, body) = tutorial_client(
                &app.base,
                json!({"phone": "+99012345678", "protocol": protocol}),
                headers,
            )
            .await;
            assert_eq!(
                (got_status, body["error"].as_str()),
                (*status, Some(*code)),
                "{protocol} {headers:?}: {body}"
            );
            // The virtual operator's faults are simulated: marked like its verdicts.
            assert_eq!(body["sandbox"], json!(true), "{protocol} {headers:?}: {body}");
        }
    }
    // A Wi-Fi refusal tells the person what to do.
    let (_, body) = tutorial_client(
        &app.base,
        json!({"phone": "+99012345678"}),
        &[("X-Sandbox-Network", "wifi")],
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("mobile data"), "{body}");
}

#[tokio::test]
async fn a_chosen_sim_decides_for_both_protocols() {
    let app = TestApp::start(&[]).await;
    for protocol in ["camara", "mobile-connect"] {
        let (_, body) = tutorial_client(
            &app.base,
            json!({"phone": "+447700900123", "protocol": protocol}),
            &[("X-Sandbox-Msisdn", "+447700900123")],
        )
        .await;
        assert_eq!(
            body,
            json!({ "devicePhoneNumberVerified": true, "sandbox": true }),
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn callback_state_problems_answer_by_accept_header() {
    let app = TestApp::start(&[]).await;
    let client = crate::helpers::manual_client();

    for query in ["", "?code=abc", "?code=abc&state=forged", "?state=", "?state=%ZZ&&code"] {
        let r = client.get(app.url(&format!("/callback{query}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_state", "{query}");
        // No flow, no operator: nothing to mark.
        assert!(body.get("sandbox").is_none(), "{query}: {body}");
    }
    // A browser gets the page, with the reason.
    let r = client
        .get(app.url("/callback?code=abc&state=forged"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(crate::helpers::location(&r), "/?error=unknown_state");
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let app = TestApp::start(&[]).await;
    let client = crate::helpers::manual_client();
    let callback = crate::helpers::hops_to_callback(&client, &login_url(&client, &app, "+99012345678").await).await;
    let first: Value = client.get(&callback).send().await.unwrap().json().await.unwrap();
    assert_eq!(first, json!({ "devicePhoneNumberVerified": true, "sandbox": true }));
    let again = client.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_state");
    assert!(body["message"].as_str().unwrap().contains("already"), "{body}");
}

#[tokio::test]
async fn an_expired_pending_verification_is_refused() {
    let app = TestApp::start_with_ttl(&[], Duration::from_millis(300)).await;
    let client = crate::helpers::manual_client();
    let callback = crate::helpers::hops_to_callback(&client, &login_url(&client, &app, "+99012345678").await).await;
    // Wait out the (shortened) lifetime: the thing under test is expiry itself.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = client.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_state");
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn healthz_answers() {
    let app = TestApp::start(&[]).await;
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn starts_are_rate_limited_per_client() {
    let app = TestApp::start(&[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    let client = following_client(&[]);
    for _ in 0..3 {
        let r = client
            .post(app.url("/login"))
            .json(&json!({"phone": "+99012345678"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(app.url("/login"))
        .json(&json!({"phone": "+99012345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].as_str().unwrap().contains("wait"), "{body}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::start(&[("RATE_LIMIT_PER_MINUTE", "1"), ("TRUST_PROXY", "true")]).await;
    let client = following_client(&[]);
    let login = |forwarded: &'static str| {
        client
            .post(app.url("/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"phone": "+99012345678"}))
            .send()
    };
    assert_eq!(login("198.51.100.7, 203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(
        login("198.51.100.7, 203.0.113.2").await.unwrap().status(),
        200,
        "another client"
    );
    assert_eq!(
        login("203.0.113.1").await.unwrap().status(),
        429,
        "the first client again"
    );
}

/// Every verdict the virtual operator gives says it is a test result, for both
/// protocols, whatever the request carries: the marker comes from the configuration.
#[tokio::test]
async fn virtual_operator_verdicts_are_marked_as_test_results() {
    let app = TestApp::start(&[]).await;
    for protocol in ["camara", "mobile-connect"] {
        for (phone, verified) in [("+99012345678", true), ("+99012345677", false)] {
            // A client cannot talk the marker away.
            let (status, body) = tutorial_client(
                &app.base,
                json!({"phone": phone, "protocol": protocol}),
                &[("X-Sandbox", "false")],
            )
            .await;
            assert_eq!(status, 200, "{protocol} {phone}: {body}");
            assert_eq!(
                body,
                json!({ "devicePhoneNumberVerified": verified, "sandbox": true }),
                "{protocol} {phone}"
            );
        }
    }
}
