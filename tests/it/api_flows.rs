//! The mobile-app API (`POST /login` → follow the URL → `/callback` JSON) over real HTTP,
//! against the virtual operator, for both protocols and every failure the API names.

use std::time::Duration;

use crate::helpers::{
    assert_error, assert_sandbox_verdict, call_back, location, manual_client, Answer, Server, TestApp,
};
use serde_json::json;

#[tokio::test]
async fn camara_verifies_the_documented_numbers() {
    let app = TestApp::start(&[]).await;
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);

    let denied = app.tutorial(json!({"phone": "+99011111199"}), &[]).await;
    assert_error(&denied, 403, "operator_denied");
    assert!(denied.body["message"].as_str().unwrap().len() > 10, "{denied}");
}

#[tokio::test]
async fn mobile_connect_through_the_api_uses_the_default_sim() {
    let app = TestApp::start(&[]).await;
    let answer = app
        .tutorial(json!({"phone": "+990 1234 5678", "protocol": "mobile-connect"}), &[])
        .await;
    assert_sandbox_verdict(&answer, true);
    let answer = app
        .tutorial(json!({"phone": "+99012345677", "protocol": "mobile-connect"}), &[])
        .await;
    assert_sandbox_verdict(&answer, false);
}

#[tokio::test]
async fn hashed_camara_mode_verifies_too() {
    let app = TestApp::start(&[("CAMARA_HASHED", "true")]).await;
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345678"}), &[]).await, true);
    assert_sandbox_verdict(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);
}

/// Form-encoded bodies are no longer read: a browser on any site can send one without
/// CORS, so `/login` takes JSON only (415, named).
#[tokio::test]
async fn login_refuses_a_form() {
    let app = TestApp::start(&[]).await;
    let login = Answer::read(
        "POST /login as a form",
        manual_client()
            .post(app.url("/login"))
            .form(&[("phone", "+99012345678")]),
    )
    .await;
    assert_error(&login, 415, "unsupported_media_type");
}

#[tokio::test]
async fn login_refuses_bad_input_with_specific_errors() {
    let app = TestApp::start(&[]).await;
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
        let answer = app.login(body).await;
        assert_error(&answer, status, code);
        assert!(!answer.body["message"].as_str().unwrap().is_empty(), "{answer}");
    }
    let not_json = Answer::read(
        "POST /login {not json",
        manual_client()
            .post(app.url("/login"))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_error(&not_json, 400, "invalid_phone");

    let missing = app.login(json!({"phone": "07700 900123"})).await;
    assert!(
        missing.body["message"].as_str().unwrap().contains("country code"),
        "{missing}"
    );
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
            let answer = app
                .tutorial(json!({"phone": "+99012345678", "protocol": protocol}), headers)
                .await;
            assert_error(&answer, *status, code);
            // The virtual operator's faults are simulated: marked like its verdicts.
            assert_eq!(answer.body["sandbox"], json!(true), "{answer}");
        }
    }
    // A Wi-Fi refusal tells the person what to do.
    let answer = app
        .tutorial(json!({"phone": "+99012345678"}), &[("X-Sandbox-Network", "wifi")])
        .await;
    assert!(
        answer.body["message"].as_str().unwrap().contains("mobile data"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_chosen_sim_decides_for_both_protocols() {
    let app = TestApp::start(&[]).await;
    for protocol in ["camara", "mobile-connect"] {
        let answer = app
            .tutorial(
                json!({"phone": "+447700900123", "protocol": protocol}),
                &[("X-Sandbox-Msisdn", "+447700900123")],
            )
            .await;
        assert_sandbox_verdict(&answer, true);
    }
}

#[tokio::test]
async fn callback_state_problems_answer_by_accept_header() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();

    for query in ["", "?code=abc", "?code=abc&state=forged", "?state=", "?state=%ZZ&&code"] {
        let answer = call_back(&app.url(&format!("/callback{query}"))).await;
        assert_error(&answer, 400, "invalid_state");
        // No flow, no operator: nothing to mark.
        assert!(answer.body.get("sandbox").is_none(), "{answer}");
    }
    // A browser gets the page, with the reason.
    let r = client
        .get(app.url("/callback?code=abc&state=forged"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/?error=unknown_state");
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let app = TestApp::start(&[]).await;
    let callback = app
        .callback_url(json!({"phone": "+99012345678"}), &manual_client())
        .await;
    assert_sandbox_verdict(&call_back(&callback).await, true);
    let again = call_back(&callback).await;
    assert_error(&again, 400, "invalid_state");
    assert!(again.body["message"].as_str().unwrap().contains("already"), "{again}");
}

#[tokio::test]
async fn an_expired_pending_verification_is_refused() {
    let app = TestApp::start_with_ttl(&[], Duration::from_millis(300)).await;
    let callback = app
        .callback_url(json!({"phone": "+99012345678"}), &manual_client())
        .await;
    // Wait out the (shortened) lifetime: the thing under test is expiry itself.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = call_back(&callback).await;
    assert_error(&late, 400, "invalid_state");
    assert!(late.body["message"].as_str().unwrap().contains("expired"), "{late}");
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
    for _ in 0..3 {
        let answer = app.login(json!({"phone": "+99012345678"})).await;
        assert_eq!(answer.status, 200, "{answer}");
    }
    let limited = app.login(json!({"phone": "+99012345678"})).await;
    assert_error(&limited, 429, "rate_limited");
    assert!(limited.body["message"].as_str().unwrap().contains("wait"), "{limited}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // SANDBOX=on: under auto the virtual operator serves no request through a proxy.
    let app = TestApp::start(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("TRUST_PROXY", "true"),
        ("SANDBOX", "on"),
    ])
    .await;
    let app = &app;
    let login = |forwarded: &'static str| async move {
        app.login_with(json!({"phone": "+99012345678"}), &[("x-forwarded-for", forwarded)])
            .await
            .status
    };
    assert_eq!(login("198.51.100.7, 203.0.113.1").await, 200);
    assert_eq!(login("198.51.100.7, 203.0.113.2").await, 200, "another client");
    assert_eq!(login("203.0.113.1").await, 429, "the first client again");
}

/// Every verdict the virtual operator gives says it is a test result, for both
/// protocols, whatever the request carries: the marker comes from the configuration.
#[tokio::test]
async fn virtual_operator_verdicts_are_marked_as_test_results() {
    let app = TestApp::start(&[]).await;
    for protocol in ["camara", "mobile-connect"] {
        for (phone, verified) in [("+99012345678", true), ("+99012345677", false)] {
            // A client cannot talk the marker away.
            let answer = app
                .tutorial(json!({"phone": phone, "protocol": protocol}), &[("X-Sandbox", "false")])
                .await;
            assert_sandbox_verdict(&answer, verified);
        }
    }
}
