//! Nothing secret reaches the logs, at any level. One server process (the app with the
//! virtual operator mounted, so both are ours to check) runs at `RUST_LOG=trace` with its
//! output captured, while every flow runs through it: success and mismatch for both
//! protocols, on the API and on the page, Wi-Fi, each fault, bad bodies (a numeric phone
//! included), forged and replayed callbacks, TS.43 credentials (request, wallet, grant), a
//! desktop's handoff to a phone. Every code, state, nonce, session, result id, handoff
//! link and watch id the test sees on the wire is collected; afterwards the log must contain none of
//! them, no full phone number, no JWT, no token-shaped value and none of the secrets.

use std::{collections::BTreeSet, time::Duration};

use crate::helpers::{
    absolute, location, manual_client,
    process::{free_port, Process},
    Server,
};
use base64::Engine;
use number_verify::sandbox_contract::credentials;
use reqwest::Url;
use serde_json::{json, Value};

/// The numbers the flows use, and one only ever sent in bad bodies.
const VERIFIED: &str = "+99012345678";
const OTHER_SIM: &str = "+99012345677";
const DENIED: &str = "+99011111199";
const IN_BAD_BODIES: &str = "+447700900123";

/// What the test saw on the wire that must never be logged.
#[derive(Default)]
struct Seen {
    values: BTreeSet<String>,
}

impl Seen {
    /// Every query value of `url` that is a protocol secret (code, state, nonce, hint…).
    fn url(&mut self, url: &str) {
        let Ok(url) = Url::parse(url) else { return };
        for (name, value) in url.query_pairs() {
            if matches!(
                name.as_ref(),
                "code" | "state" | "nonce" | "login_hint" | "result" | "id" | "code_challenge" | "h" | "handoff" | "w"
            ) && value.len() >= 6
            {
                self.values.insert(value.into_owned());
            }
        }
        // Path segments that are ids (the virtual operator's hop ids).
        for segment in url.path_segments().into_iter().flatten() {
            if segment.len() >= 16 {
                self.values.insert(segment.to_owned());
            }
        }
    }

    fn cookies(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Some((_, value)) = set.to_str().unwrap().split(';').next().unwrap().split_once('=') {
                if value.len() >= 16 {
                    self.values.insert(value.to_owned());
                }
            }
        }
    }
}

/// A device or browser: no redirects followed, optional simulated conditions and cookies.
fn client() -> reqwest::Client {
    manual_client()
}

/// Follows redirects by hand from `url` (sending `headers` and `cookie`), recording every
/// URL, until an answer that is not a redirect or a redirect to the app's page; returns
/// the last response.
async fn walk(
    seen: &mut Seen,
    app: &Process,
    mut url: String,
    headers: &[(&str, &str)],
    cookie: &mut String,
) -> reqwest::Response {
    for _ in 0..12 {
        seen.url(&url);
        let mut request = client().get(&url).header("accept", "text/html");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if !cookie.is_empty() {
            request = request.header("cookie", cookie.clone());
        }
        let response = request.send().await.unwrap();
        seen.cookies(&response);
        remember(cookie, &response);
        if !response.status().is_redirection() {
            return response;
        }
        let next = absolute(response.url(), &location(&response));
        if next.starts_with(&app.url("/?")) || next == app.url("/") {
            seen.url(&next);
            return client()
                .get(&next)
                .header("cookie", cookie.clone())
                .send()
                .await
                .unwrap();
        }
        url = next;
    }
    panic!("too many redirects from {url}");
}

/// Keeps the `name=value` pairs a response sets, as a browser's jar would.
fn remember(jar: &mut String, response: &reqwest::Response) {
    for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
        let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
        let name = pair.split('=').next().unwrap().to_owned();
        let mut kept: Vec<String> = jar
            .split("; ")
            .filter(|c| !c.is_empty() && !c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
            .collect();
        kept.push(pair);
        *jar = kept.join("; ");
    }
}

/// The mobile-app API's flow for `phone`, with the device's simulated `conditions`;
/// then the same callback once more (a replay). Returns both answers' bodies.
async fn api_flow(
    seen: &mut Seen,
    app: &Process,
    protocol: &str,
    phone: &str,
    conditions: &[(&str, &str)],
) -> (Value, Value) {
    login_flow(seen, app, json!({ "phone": phone, "protocol": protocol }), conditions).await
}

/// `POST /login` with `body`, the hops, the callback and its replay.
async fn login_flow(seen: &mut Seen, app: &Process, body: Value, conditions: &[(&str, &str)]) -> (Value, Value) {
    let mut url = app.login(body).await.url();
    // Up to the callback, recording every hop.
    let callback = loop {
        seen.url(&url);
        let mut request = client().get(&url);
        for (k, v) in conditions {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_redirection(), "{url}: {}", response.status());
        let next = absolute(response.url(), &location(&response));
        if next.contains("/callback") {
            break next;
        }
        url = next;
    };
    seen.url(&callback);
    let mut first: Value = client().get(&callback).send().await.unwrap().json().await.unwrap();
    // The signed verdict is a secret too: it must not reach the log either.
    if let Some(token) = first.as_object_mut().and_then(|o| o.remove("verification_token")) {
        seen.values.insert(token.as_str().unwrap().to_owned());
    }
    let replay = client().get(&callback).send().await.unwrap().json().await.unwrap();
    (first, replay)
}

/// A code by SMS after a failure on Wi-Fi: the ticket, the code (read from the virtual
/// inbox), a wrong guess and the right one — none of which may be logged.
async fn code_flow(seen: &mut Seen, app: &Process, phone: &str) -> Value {
    let (failed, _) = api_flow(seen, app, "camara", phone, &[("X-Sandbox-Network", "wifi")]).await;
    let ticket = failed["fallback"]["ticket"].as_str().expect("a ticket").to_owned();
    seen.values.insert(ticket.clone());
    let post = |path: &str, body: Value| client().post(app.url(path)).json(&body).send();
    let sent = post("/code/send", json!({ "ticket": ticket })).await.unwrap();
    assert_eq!(sent.status(), 200);
    let inbox: Vec<Value> = client()
        .get(app.url("/sandbox/sms/messages"))
        .query(&[("to", phone)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = inbox.last().unwrap()["text"].as_str().unwrap().to_owned();
    let code = text.rsplit('#').next().unwrap().trim().to_owned();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    seen.values.insert(code.clone());
    seen.values.insert(wrong.to_owned());
    let refused: Value = post("/code/check", json!({ "ticket": ticket, "code": wrong }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["error"], "wrong_code", "{refused}");
    let mut verified: Value = post("/code/check", json!({ "ticket": ticket, "code": code }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if let Some(token) = verified.as_object_mut().and_then(|o| o.remove("verification_token")) {
        seen.values.insert(token.as_str().unwrap().to_owned());
    }
    verified
}

/// The API's share flow (standard CAMARA): the device's number comes back.
async fn share_flow(seen: &mut Seen, app: &Process, conditions: &[(&str, &str)]) -> (Value, Value) {
    let body = json!({ "purpose": "share", "protocol": "camara-standard" });
    login_flow(seen, app, body, conditions).await
}

/// The page's flow without JavaScript: the form post, the operator, the result page.
async fn page_flow(seen: &mut Seen, app: &Process, protocol: &str, phone: &str, conditions: &[(&str, &str)]) -> String {
    let mut cookie = String::new();
    let post = client()
        .post(app.url("/api/start"))
        .header("accept", "text/html")
        .header("referer", app.url("/"))
        .form(&[("phone", phone), ("protocol", protocol)])
        .send()
        .await
        .unwrap();
    seen.cookies(&post);
    remember(&mut cookie, &post);
    assert!(post.status().is_redirection(), "start: {}", post.status());
    let next = absolute(post.url(), &location(&post));
    let page = walk(seen, app, next, conditions, &mut cookie).await;
    page.text().await.unwrap()
}

/// A desktop's handoff to a phone: the desktop's start and live stream, the phone's
/// link, Continue, the operator and the callback. Returns the desktop's last event.
async fn handoff_flow(seen: &mut Seen, app: &Process, phone: &str) -> Value {
    use crate::helpers::sse::EventStream;
    let mut desktop = String::new();
    let post = client()
        .post(app.url("/api/handoff/start"))
        .header("accept", "text/html")
        .header("referer", app.url("/"))
        .form(&[("phone", phone)])
        .send()
        .await
        .unwrap();
    seen.cookies(&post);
    remember(&mut desktop, &post);
    let page = app.url(&location(&post));
    seen.url(&page);
    let html = client()
        .get(&page)
        .header("cookie", desktop.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = html.find("data-handoff-url=\"").unwrap() + "data-handoff-url=\"".len();
    let link = html[at..at + html[at..].find('"').unwrap()].to_owned();
    seen.url(&link);
    let watch = page.split("handoff=").nth(1).unwrap();
    let mut events = EventStream::open(&client(), &app.url(&format!("/handoff/events?w={watch}")), &desktop).await;

    let mut phone_jar = String::new();
    let offer = walk(seen, app, link.clone(), &[], &mut phone_jar).await;
    assert_eq!(offer.status(), 200);
    let secret = link.split("h=").nth(1).unwrap();
    let pressed = client()
        .post(app.url("/api/handoff/continue"))
        .header("accept", "text/html")
        .header("referer", link.as_str())
        .header("cookie", phone_jar.clone())
        .form(&[("h", secret)])
        .send()
        .await
        .unwrap();
    seen.cookies(&pressed);
    remember(&mut phone_jar, &pressed);
    let next = absolute(pressed.url(), &location(&pressed));
    walk(seen, app, next, &[], &mut phone_jar).await;
    loop {
        let event = events.next().await.expect("the verdict before the stream ends");
        if event["final"] == "yes" {
            return event;
        }
    }
}

/// A TS.43 credential verification against the mounted virtual operator, recording every
/// value on the wire: the credential request, the virtual wallet's presentation (its JWE
/// opened with the relying party's key), the JWT-bearer grant, `verify`; then the
/// refusals of a reused operator token and a wrong nonce. Returns whether `check` is the
/// SIM's number.
async fn ts43_flow(seen: &mut Seen, app: &Process, hint: &str, check: &str) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    let base = app.url("/sandbox");
    let sign = |claims: Value| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(credentials::CAMARA_CLIENT_KEY_ID.into());
        let key = EncodingKey::from_ec_pem(credentials::CAMARA_CLIENT_PRIVATE_KEY.as_bytes()).unwrap();
        encode(&header, &claims, &key).unwrap()
    };
    let now = number_verify::support::unix_now();
    let claims = |aud: &str, sub: &str| {
        json!({
            "iss": credentials::CAMARA_CLIENT_ID, "sub": sub, "aud": aud, "iat": now, "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
            "scope": "dpv:FraudPreventionAndDetection number-verification:verify",
        })
    };
    let rp_key = p256::SecretKey::random(&mut rand::thread_rng());
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    seen.values.insert(nonce.clone());
    let endpoint = format!("{base}/openid4vp/credentials");
    let query: Value = client()
        .post(&endpoint)
        .json(&json!({
            "scope": "dpv:FraudPreventionAndDetection number-verification:verify",
            "nonce": nonce,
            "phone_number_hint": hint,
            "encryption_jwk": rp_key.public_key().to_jwk(),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": sign(claims(&endpoint, credentials::CAMARA_CLIENT_ID)),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = query["id"].as_str().expect("a credential query").to_owned();
    seen.values.insert(id.clone());
    let request = |nonce: &str| {
        json!({
            "protocol": "openid4vp-v1-unsigned",
            "origin": "http://127.0.0.1:9",
            "data": {"response_type": "vp_token", "response_mode": "dc_api", "nonce": nonce,
                     "dcql_query": {"credentials": [query.clone()]}},
        })
    };
    let wallet = format!("{base}/virtual-wallet");
    let refused = client()
        .post(&wallet)
        .json(&request("a-wrong-nonce-0123456789"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let answer: Value = client()
        .post(&wallet)
        .header("cookie", "sandbox_network=wifi")
        .json(&request(&nonce))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let presentation = answer["vp_token"][&id][0].as_str().expect("a presentation").to_owned();
    for part in presentation.split('~').filter(|p| !p.is_empty()) {
        seen.values.insert(part.to_owned());
    }
    let disclosure: Value =
        serde_json::from_slice(&B64.decode(presentation.split('~').nth(1).unwrap()).unwrap()).unwrap();
    let jwe = disclosure[2].as_str().unwrap();
    seen.values.insert(jwe.to_owned());
    let opened: Value = serde_json::from_slice(&number_verify::support::jwe::decrypt(jwe, &rp_key).unwrap()).unwrap();
    let temp_token = opened["temp_token"].as_str().unwrap().to_owned();
    seen.values.insert(temp_token.clone());

    let token_endpoint = format!("{base}/camara/v2/token");
    let grant = |assertion: String| {
        client()
            .post(&token_endpoint)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
    };
    let sub = format!("operatortoken:{temp_token}");
    let token: Value = grant(sign(claims(&token_endpoint, &sub)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().expect("an access token").to_owned();
    seen.values.insert(access_token.clone());
    let reused = grant(sign(claims(&token_endpoint, &sub))).await.unwrap();
    assert_eq!(reused.status(), 400);
    let verdict: Value = client()
        .post(format!("{base}/camara/v2/number-verification/v2/verify"))
        .bearer_auth(&access_token)
        .json(&json!({ "phoneNumber": check }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    verdict["devicePhoneNumberVerified"].as_bool().expect("a verdict")
}

fn digits(number: &str) -> String {
    number.trim_start_matches('+').to_owned()
}

/// Runs of at least `len` characters from `alphabet` in `log`.
fn runs(log: &str, len: usize, alphabet: impl Fn(char) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut current = String::new();
    for c in log.chars().chain(std::iter::once(' ')) {
        if alphabet(c) {
            current.push(c);
        } else {
            if current.chars().count() >= len {
                found.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    found
}

/// The log line around the first `needle`, for the failure message.
fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
    let at = log.find(needle).unwrap();
    let start = log[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = log[at..].find('\n').map_or(log.len(), |i| at + i);
    &log[start..end]
}

#[tokio::test]
async fn no_number_code_state_token_or_secret_is_logged_even_at_trace() {
    let port = free_port();
    let mut app = Process::spawn(
        "privacy",
        port,
        &[
            ("RUST_LOG", "trace".into()),
            ("SANDBOX", "on".into()),
            ("OPERATOR_TIMEOUT_MS", "1000".into()),
            // Every flow of three protocols, from one address, within a minute.
            ("RATE_LIMIT_PER_MINUTE", "1000".into()),
        ],
    );
    app.ready().await;
    let mut seen = Seen::default();

    for protocol in ["mobile-connect", "camara", "camara-standard"] {
        // Success, mismatch, operator refusal; each callback replayed.
        let (first, replay) = api_flow(&mut seen, &app, protocol, VERIFIED, &[]).await;
        assert_eq!(
            first,
            json!({"devicePhoneNumberVerified": true, "sandbox": true}),
            "{protocol}"
        );
        assert_eq!(replay["error"], "invalid_state", "{protocol}: {replay}");
        let (first, _) = api_flow(&mut seen, &app, protocol, OTHER_SIM, &[]).await;
        assert_eq!(
            first,
            json!({"devicePhoneNumberVerified": false, "sandbox": true}),
            "{protocol}"
        );
        let (first, _) = api_flow(&mut seen, &app, protocol, VERIFIED, &[("X-Sandbox-Msisdn", OTHER_SIM)]).await;
        assert_eq!(
            first,
            json!({"devicePhoneNumberVerified": false, "sandbox": true}),
            "{protocol}"
        );
        // The number the operator refuses to check (for CAMARA); whatever each protocol
        // answers, it is an answer.
        let (first, _) = api_flow(&mut seen, &app, protocol, DENIED, &[]).await;
        assert!(first.is_object(), "{protocol}: {first}");
        // Wi-Fi, and every fault.
        let (first, _) = api_flow(&mut seen, &app, protocol, VERIFIED, &[("X-Sandbox-Network", "wifi")]).await;
        assert!(first["error"].is_string(), "{protocol}: {first}");
        for fault in [
            "unavailable",
            "token-500",
            "token-slow",
            "token-malformed",
            "check-500",
            "check-slow",
            "check-malformed",
        ] {
            let conditions = [("X-Sandbox-Fault", fault), ("X-Sandbox-Delay-Ms", "2000")];
            let (first, _) = api_flow(&mut seen, &app, protocol, VERIFIED, &conditions).await;
            assert!(first["error"].is_string(), "{protocol} {fault}: {first}");
        }
        if protocol == "camara-standard" {
            // What only standard CAMARA has: its own refusals, and sharing the number.
            for fault in ["not-network-auth", "client-assertion-expired", "token-expired"] {
                let (first, _) = api_flow(&mut seen, &app, protocol, VERIFIED, &[("X-Sandbox-Fault", fault)]).await;
                assert!(first["error"].is_string(), "{protocol} {fault}: {first}");
            }
            let (first, _) = share_flow(&mut seen, &app, &[("X-Sandbox-Msisdn", OTHER_SIM)]).await;
            assert_eq!(first["devicePhoneNumber"], OTHER_SIM, "{first}");
        }
        // The page, verified and not.
        let html = page_flow(&mut seen, &app, protocol, VERIFIED, &[]).await;
        assert!(html.contains("verified!"), "{protocol}: {html}");
        let html = page_flow(&mut seen, &app, protocol, VERIFIED, &[("X-Sandbox-Network", "wifi")]).await;
        assert!(html.contains("Error validating phone number."), "{protocol}");
    }

    // A desktop's handoff, proven on the phone.
    let last = handoff_flow(&mut seen, &app, VERIFIED).await;
    assert_eq!(last["phase"], "verified", "{last}");

    // TS.43 credentials through the virtual wallet: the number's SIM, another one.
    assert!(ts43_flow(&mut seen, &app, VERIFIED, VERIFIED).await);
    assert!(!ts43_flow(&mut seen, &app, OTHER_SIM, OTHER_SIM).await);

    // A code by SMS, the last resort after Wi-Fi.
    let verified = code_flow(&mut seen, &app, VERIFIED).await;
    assert_eq!(verified["devicePhoneNumberVerified"], true, "{verified}");

    // Bad bodies, each carrying a number.
    let digits_only = digits(IN_BAD_BODIES);
    let bad: Vec<(&str, String)> = vec![
        ("application/json", format!(r#"{{"phone": {digits_only}}}"#)),
        ("application/json", format!(r#"{{"phone": ["{IN_BAD_BODIES}"]}}"#)),
        ("application/json", format!(r#"{{"phone": "{IN_BAD_BODIES}""#)),
        ("application/json", format!(r#"{{"phone": "{IN_BAD_BODIES}x"}}"#)),
        ("application/json", format!(r#"{{"phone": "{IN_BAD_BODIES}99999999"}}"#)),
        (
            "application/json",
            format!(r#"{{"phone": "{IN_BAD_BODIES}", "protocol": "sms"}}"#),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("phone={digits_only}&phone=%2B{digits_only}"),
        ),
        ("text/plain", IN_BAD_BODIES.to_owned()),
    ];
    for (content_type, body) in &bad {
        let r = client()
            .post(app.url("/login"))
            .header("content-type", *content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_client_error() && answer["error"].is_string(),
            "{content_type} {body}: {status} {answer}"
        );
    }
    // The page's server function with bad input, and a forged callback.
    let r = client()
        .post(app.url("/api/start"))
        .header("referer", app.url("/"))
        .form(&[("phone", format!("{IN_BAD_BODIES}abc")), ("protocol", "camara".into())])
        .send()
        .await
        .unwrap();
    seen.cookies(&r);
    let forged_code = "f0rgedc0de9f8e7d6c5b4a3";
    let forged_state = "f0rgedstate0123456789abcdef012345";
    seen.values.insert(forged_code.into());
    seen.values.insert(forged_state.into());
    let forged = client()
        .get(app.url(&format!("/callback?code={forged_code}&state={forged_state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // The OpenID Provider: the sandbox's demo relying party verifies, redeems, asks
    // /userinfo, replays its code and tries a wrong secret.
    relying_party_flows(&mut seen, &app).await;

    // Everything written: stop the process (its drain flushes the log).
    app.terminate();
    app.wait_exit(Duration::from_secs(15))
        .await
        .expect("the app stops on SIGTERM");
    // The one number the service may log: the example in its own error messages.
    let log = app
        .log_text()
        .replace(r#"like "+99012345678""#, "like <the example>")
        .replace(r#"like {"phone": "+99012345678"}"#, "like <the example>");
    assert!(
        log.contains("TRACE"),
        "the log was not at trace level:\n{}",
        &log[..log.len().min(2000)]
    );
    assert!(log.contains("verification completed"), "the flows did not run");
    assert!(log.contains("tokens issued"), "the relying party's flows did not run");
    assert!(log.contains("one-time code sent"), "the code flow did not run");

    let mut leaks = Vec::new();
    for number in [VERIFIED, OTHER_SIM, DENIED, IN_BAD_BODIES] {
        let digits = digits(number);
        if log.contains(&digits) {
            leaks.push(format!("number {number}: {}", line_with(&log, &digits)));
        }
        let encoded = format!("%2B{digits}");
        if log.contains(&encoded) {
            leaks.push(format!("number {number} (URL-encoded): {}", line_with(&log, &encoded)));
        }
    }
    for value in &seen.values {
        if log.contains(value.as_str()) {
            leaks.push(format!("wire value {value}: {}", line_with(&log, value)));
        }
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        credentials::MC_CLIENT_ID,
        credentials::MC_CLIENT_SECRET
    ));
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sandbox-keys/vonage-sandbox-private.pem"
    ))
    .unwrap();
    let key_line = key.lines().nth(1).unwrap().to_owned();
    let client_key_line = credentials::CAMARA_CLIENT_PRIVATE_KEY
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let issuer_key_line = include_str!("../../sandbox-keys/ts43-issuer-private.pem")
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    for secret in [
        credentials::MC_CLIENT_SECRET.to_owned(),
        number_verify::sandbox_contract::oidc::DEMO_CLIENT_SECRET.to_owned(),
        "not-the-demo-secret".to_owned(),
        basic,
        key_line,
        client_key_line,
        issuer_key_line,
    ] {
        if log.contains(&secret) {
            leaks.push(format!("secret: {}", line_with(&log, &secret)));
        }
    }
    // A JWT starts with base64url of `{"`.
    if log.contains("eyJ") {
        leaks.push(format!("a JWT: {}", line_with(&log, "eyJ")));
    }
    // Tokens, codes and ids the test could not see (access tokens, nonces): 32 hex digits.
    for run in runs(&log, 32, |c| c.is_ascii_hexdigit()) {
        leaks.push(format!("token-shaped {run}: {}", line_with(&log, &run)));
    }
    assert!(
        leaks.is_empty(),
        "{} leak(s) in the log:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// The demo relying party's flows through the provider, every secret on the wire noted.
async fn relying_party_flows(seen: &mut Seen, app: &Process) {
    use crate::helpers::{
        browser::Browser,
        rp::{param, through_the_page, Press, Rp},
    };
    use number_verify::sandbox_contract::oidc::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
    use openidconnect::OAuth2TokenResponse;
    let base = app.base().to_owned();
    let redirect = "http://127.0.0.1:9/cb";
    let rp = Rp::discover(&base, DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET), redirect).await;
    for number in [VERIFIED, OTHER_SIM] {
        let login = rp.login(Some(number), true);
        seen.url(&login.url);
        seen.values.insert(login.nonce.secret().clone());
        seen.values.insert(login.state.secret().clone());
        let verifier = login.pkce.as_ref().unwrap().secret().clone();
        seen.values.insert(verifier.clone());
        let back = through_the_page(&mut Browser::new(), &base, &login.url, Press::Verify(None)).await;
        seen.url(&back);
        let code = param(&back, "code").unwrap();
        let tokens = rp.exchange(&code, login.pkce).await.unwrap();
        let access = tokens.access_token().secret().clone();
        seen.values.insert(access.clone());
        let info = reqwest::Client::new()
            .get(app.url("/userinfo"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);
        let replay = rp
            .exchange(&code, Some(openidconnect::PkceCodeVerifier::new(verifier)))
            .await;
        assert!(replay.is_err());
    }
    let wrong = Rp::discover(&base, DEMO_CLIENT_ID, Some("not-the-demo-secret"), redirect).await;
    let login = wrong.login(Some(VERIFIED), false);
    let back = through_the_page(&mut Browser::new(), &base, &login.url, Press::Verify(None)).await;
    seen.url(&back);
    assert!(wrong.exchange(&param(&back, "code").unwrap(), None).await.is_err());
}
