//! The app against standard CAMARA NumberVerification v2.1, over real HTTP: the virtual
//! operator runs as its own process (`SANDBOX=only`) and the app knows it only by
//! `CAMARA_ISSUER`, `CAMARA_API_ROOT` and the documented sandbox client — exactly as it
//! would know any Open Gateway operator (OIDC discovery at start-up, PKCE,
//! `private_key_jwt`, id_token against the discovered `jwks_uri`). And the mounted
//! virtual operator: "CAMARA (standard)" beside the Vonage profile.

use crate::helpers::{
    assert_answer, assert_error, assert_sandbox_verdict, assert_verified, call_back, following_client, manual_client,
    process::{two_free_ports, Process},
    Answer, Server, TestApp,
};
use number_verify::sandbox_contract::credentials;
use serde_json::json;

/// The virtual operator alone and an app whose only operator is its v2.1, both ready and
/// logging at info (the operator's lines carry the x-correlator it received).
struct Standard {
    operator: Process,
    app: Process,
}

async fn start_standard(extra: &[(&str, &str)]) -> Standard {
    let (operator_port, app_port) = two_free_ports();
    let mut operator = Process::spawn(
        "operator",
        operator_port,
        &[
            ("SANDBOX", "only".into()),
            ("SANDBOX_REDIRECT_URIS", format!("http://127.0.0.1:{app_port}/callback")),
            ("RUST_LOG", "info".into()),
        ],
    );
    // The app reads the operator's discovery document before it listens.
    operator.ready().await;
    let issuer = format!("{}/sandbox/camara/v2", operator.base);
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/camara-client-private.pem");
    let mut vars = vec![
        ("CAMARA_ISSUER", issuer.clone()),
        ("CAMARA_API_ROOT", issuer),
        ("CAMARA_CLIENT_ID", credentials::CAMARA_CLIENT_ID.into()),
        ("CAMARA_CLIENT_KEY", key.into()),
        ("CAMARA_CLIENT_KEY_ID", credentials::CAMARA_CLIENT_KEY_ID.into()),
        ("RUST_LOG", "info".into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let mut app = Process::spawn("app", app_port, &vars);
    app.ready().await;
    Standard { operator, app }
}

/// Waits (bounded) until `process` has logged `text`.
async fn logged(process: &Process, text: &str) {
    process.wait_for_log(text, std::time::Duration::from_secs(5)).await;
}

/// The tutorial client's flow for the default SIM's number, the device sending `headers`.
async fn verify_default(app: &Process, headers: &[(&str, &str)]) -> Answer {
    app.tutorial(json!({"phone": "+99012345678"}), headers).await
}

/// The `correlator=` values of the app's log lines that contain `marker`.
fn correlators(log: &str, marker: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| line.split("correlator=").nth(1))
        .map(|rest| {
            rest.trim_start_matches('"')
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn verified_and_not_verified_with_the_correlator_in_both_logs() {
    let Standard { operator, app } = start_standard(&[]).await;
    // Only the standard operator is configured, so "camara" (the default) means it.
    assert_sandbox_verdict(&verify_default(&app, &[]).await, true);
    let answer = app
        .tutorial(json!({"phone": "+99012345677", "protocol": "camara-standard"}), &[])
        .await;
    assert_sandbox_verdict(&answer, false);

    // Each verification's log line names its x-correlator, and it is the one the
    // operator received: what an operator's support asks for.
    let app_log = app.log_text();
    let found = correlators(&app_log, "verification completed");
    assert_eq!(found.len(), 2, "{app_log}");
    let operator_log = operator.log_text();
    for correlator in &found {
        assert_eq!(correlator.len(), 36, "a UUID: {correlator}");
        assert!(
            operator_log.contains(correlator.as_str()),
            "{correlator} not in:\n{operator_log}"
        );
    }
    assert_ne!(found[0], found[1]);
    // The number is masked in the logs, and the flow's secrets never appear.
    assert!(!app_log.contains("+99012345678"), "{app_log}");
    assert!(!app_log.contains("client_assertion="), "{app_log}");
}

#[tokio::test]
async fn wifi_and_a_token_without_network_authentication_ask_for_mobile_data() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    for header in [("x-sandbox-network", "wifi"), ("x-sandbox-fault", "not-network-auth")] {
        let answer = verify_default(app, &[header]).await;
        assert_error(&answer, 403, "operator_denied");
        assert!(
            answer.body["message"].as_str().unwrap().contains("mobile data"),
            "{answer}"
        );
    }
    // The 403 NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK is named in the log.
    logged(app, "not authenticated by the mobile network").await;
}

#[tokio::test]
async fn operator_errors_are_operator_errors_with_a_log_line() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    let cases = [
        ("check-500", 502, "operator_error", "CAMARA verify: HTTP 500"),
        ("token-500", 502, "operator_error", "CAMARA token: HTTP 500"),
        (
            "token-malformed",
            502,
            "operator_error",
            "CAMARA token: malformed answer",
        ),
        ("unavailable", 403, "operator_denied", "temporarily_unavailable"),
    ];
    for (fault, status, code, log_line) in cases {
        let answer = verify_default(app, &[("x-sandbox-fault", fault)]).await;
        assert_error(&answer, status, code);
        assert!(!answer.body["message"].as_str().unwrap_or("").is_empty(), "{answer}");
        logged(app, log_line).await;
    }
    // The virtual operator's rule: numbers ending in 99 fail at the operator.
    let answer = app.tutorial(json!({"phone": "+99011111199"}), &[]).await;
    assert_error(&answer, 403, "operator_denied");
}

/// `POST /login`, then the operator's hops up to (not into) `/callback`, returned parsed.
async fn callback_of(client: &reqwest::Client, app: &Process, phone: &str) -> url::Url {
    url::Url::parse(&app.callback_url(json!({"phone": phone}), client).await).unwrap()
}

fn param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

#[tokio::test]
async fn a_swapped_code_fails_pkce_and_is_refused() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    let client = manual_client();
    let a = callback_of(&client, app, "+99012345678").await;
    let b = callback_of(&client, app, "+99012345678").await;
    // A's code delivered with B's state: the app exchanges it with B's PKCE verifier,
    // which does not match the challenge A's authorization carried.
    let mut swapped = b.clone();
    swapped
        .query_pairs_mut()
        .clear()
        .append_pair("code", &param(&a, "code"))
        .append_pair("state", &param(&b, "state"));
    assert_error(&call_back(swapped.as_str()).await, 502, "operator_error");
    logged(app, "CAMARA token: HTTP 400 (invalid_grant)").await;
    // B's verification is spent (single use): its own callback cannot now succeed.
    assert_error(&call_back(b.as_str()).await, 400, "invalid_state");
}

#[tokio::test]
async fn an_expired_client_assertion_is_refused_by_the_operator() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    let answer = verify_default(app, &[("x-sandbox-fault", "client-assertion-expired")]).await;
    assert_error(&answer, 502, "operator_error");
    logged(app, "CAMARA token: HTTP 401 (invalid_client)").await;
}

#[tokio::test]
async fn rotated_id_token_keys_are_fetched_again() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    // The first verification fetches the operator's JWKS (generation 1 keys).
    assert_verified(&verify_default(app, &[]).await, true);
    // The operator rotates: this id_token is signed with a key the cached JWKS lacks.
    assert_verified(&verify_default(app, &[("x-sandbox-id-token", "rotate")]).await, true);
    logged(app, "id_token kid unknown: fetching the operator's JWKS again").await;
    // A kid the operator never publishes is refused after that one fetch.
    let answer = verify_default(app, &[("x-sandbox-id-token", "unknown-kid")]).await;
    assert_error(&answer, 502, "operator_error");
    logged(app, "CAMARA id_token: refused").await;
}

#[tokio::test]
async fn bad_id_tokens_are_refused() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    for defect in ["wrong-iss", "expired", "wrong-nonce", "wrong-aud"] {
        assert_error(
            &verify_default(app, &[("x-sandbox-id-token", defect)]).await,
            502,
            "operator_error",
        );
    }
    let log = app.log_text();
    for claim in ["id_token iss", "id_token expired", "id_token nonce", "id_token aud"] {
        assert!(log.contains(claim), "{claim} not in:\n{log}");
    }
}

#[tokio::test]
async fn hashed_mode_sends_only_the_hash_and_verifies() {
    let Standard { operator, app } = start_standard(&[("CAMARA_HASHED", "true")]).await;
    assert_verified(&verify_default(&app, &[]).await, true);
    assert_verified(&app.tutorial(json!({"phone": "+99012345677"}), &[]).await, false);
    logged(&operator, "hashedPhoneNumber").await;
    assert!(
        !operator.log_text().contains("given=\"phoneNumber\""),
        "{}",
        operator.log_text()
    );
}

#[tokio::test]
async fn the_share_purpose_answers_the_devices_number() {
    let standard = start_standard(&[]).await;
    let app = &standard.app;
    assert_answer(
        &app.tutorial(json!({"purpose": "share"}), &[]).await,
        200,
        json!({"devicePhoneNumber": "+99012345678", "sandbox": true}),
    );
    let answer = app
        .tutorial(
            json!({"purpose": "share", "protocol": "camara-standard"}),
            &[("x-sandbox-msisdn", "+447700900123")],
        )
        .await;
    assert_answer(
        &answer,
        200,
        json!({"devicePhoneNumber": "+447700900123", "sandbox": true}),
    );
    let answer = app
        .tutorial(json!({"purpose": "share"}), &[("x-sandbox-network", "wifi")])
        .await;
    assert_error(&answer, 403, "operator_denied");
    logged(app, "number shared").await;
    assert!(!app.log_text().contains("+447700900123"), "{}", app.log_text());
}

#[tokio::test]
async fn share_is_standard_only_and_takes_no_phone() {
    // Mounted sandbox, default profile: "camara" is Vonage, which cannot share.
    let app = TestApp::start(&[]).await;
    let cases = [
        (json!({"purpose": "share"}), "invalid_protocol"),
        (
            json!({"purpose": "share", "protocol": "mobile-connect"}),
            "invalid_protocol",
        ),
        (
            json!({"purpose": "share", "protocol": "camara-standard", "phone": "+99012345678"}),
            "invalid_phone",
        ),
        (
            json!({"purpose": "tell-me", "phone": "+99012345678"}),
            "invalid_purpose",
        ),
        (json!({"purpose": 3, "phone": "+99012345678"}), "invalid_purpose"),
        (
            json!({"phone": "+99012345678", "protocol": "camara-v3"}),
            "invalid_protocol",
        ),
    ];
    for (body, code) in cases {
        let answer = app.login(body).await;
        assert_error(&answer, 400, code);
        assert!(answer.body["message"].as_str().unwrap().len() > 20, "{answer}");
    }
    // The mounted v2.1 operator shares too (its discovery read at first use).
    let answer = app
        .tutorial(json!({"purpose": "share", "protocol": "camara-standard"}), &[])
        .await;
    assert_answer(
        &answer,
        200,
        json!({"devicePhoneNumber": "+99012345678", "sandbox": true}),
    );
}

#[tokio::test]
async fn the_mounted_sandbox_offers_both_profiles_and_camara_profile_picks_one() {
    let app = TestApp::start(&[]).await;
    // The page offers the standard profile as a third choice.
    let page = following_client(&[])
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for value in ["mobile-connect", "camara", "camara-standard"] {
        assert!(page.contains(&format!("value=\"{value}\"")), "{value}");
    }
    assert!(page.contains("CAMARA (standard)"));

    // "camara" is Vonage by default; "camara-standard" the v2.1 authorization request.
    let vonage = app.login(json!({"phone": "+99012345678"})).await.url();
    assert!(vonage.contains("/sandbox/oauth2/auth?"), "{vonage}");
    let standard = app
        .login(json!({"phone": "+99012345678", "protocol": "camara-standard"}))
        .await
        .url();
    let url = url::Url::parse(&standard).unwrap();
    assert_eq!(url.path(), "/sandbox/camara/v2/authorize");
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], credentials::CAMARA_CLIENT_ID);
    assert_eq!(params["redirect_uri"], app.url("/callback"));
    assert_eq!(
        params["scope"],
        "openid dpv:FraudPreventionAndDetection number-verification:verify"
    );
    assert_eq!(params["login_hint"], "tel:+99012345678");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43);
    assert_eq!(params["state"].len(), 32);
    assert_eq!(params["nonce"].len(), 32);
    assert!(
        !params.contains_key("code_verifier"),
        "the verifier stays on the server"
    );
    let answer = app
        .tutorial(json!({"phone": "+99012345678", "protocol": "camara-standard"}), &[])
        .await;
    assert_verified(&answer, true);

    // CAMARA_PROFILE=standard: "camara" means v2.1, and the page has no third choice.
    let app = TestApp::start(&[("CAMARA_PROFILE", "standard")]).await;
    let standard = app.login(json!({"phone": "+99012345678"})).await.url();
    assert!(standard.contains("/sandbox/camara/v2/authorize?"), "{standard}");
    let page = following_client(&[])
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("value=\"camara-standard\""));
    assert!(page.contains("value=\"camara\""));
}
