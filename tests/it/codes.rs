//! The one-time code, the last channel, through the JSON API against the virtual operator
//! and its SMS gateway: which failures offer it (never a mismatch), the code's life
//! (attempts, expiry, resends), the day's limits, the country allow-list, what the store
//! keeps (an HMAC, never the code), what logs, events and metrics say, and the page's
//! forms without JavaScript.

use std::time::Duration;

use base64::Engine;
use number_verify::config::Config;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_sandbox_verdict, browser::Browser, local_listener, manual_client, redis::RedisServer, Answer,
    Server, TestApp,
};

const NUMBER: &str = "+99012345678";
const WIFI: [(&str, &str); 1] = [("X-Sandbox-Network", "wifi")];

/// An app whose codes may be asked for again at once (the 30 s wait adjusted away).
async fn app_without_resend_wait(vars: &[(&str, &str)]) -> TestApp {
    TestApp::start_adjusted(local_listener().await, vars, |config: &mut Config| {
        if let Some(sms) = &mut config.sms {
            sms.resend_after = Duration::ZERO;
        }
    })
    .await
}

/// The API flow for `phone` on Wi-Fi: the callback's refusal, with its offer of a code.
async fn failed_on_wifi(app: &TestApp, phone: &str) -> Answer {
    let answer = app.tutorial(json!({ "phone": phone }), &WIFI).await;
    assert_error(&answer, 403, "operator_denied");
    answer
}

fn ticket_of(answer: &Answer) -> String {
    let fallback = &answer.body["fallback"];
    assert_eq!(fallback["channel"], "sms", "{answer}");
    assert_eq!(fallback["send"], "/code/send", "{answer}");
    assert_eq!(fallback["check"], "/code/check", "{answer}");
    fallback["ticket"]
        .as_str()
        .unwrap_or_else(|| panic!("a ticket in {answer}"))
        .to_owned()
}

async fn send(app: &TestApp, ticket: &str) -> Answer {
    Answer::read(
        "POST /code/send",
        manual_client()
            .post(app.url("/code/send"))
            .json(&json!({ "ticket": ticket })),
    )
    .await
}

async fn check(app: &TestApp, ticket: &str, code: &str) -> Answer {
    Answer::read(
        format!("POST /code/check {code}"),
        manual_client()
            .post(app.url("/code/check"))
            .json(&json!({ "ticket": ticket, "code": code })),
    )
    .await
}

/// The virtual operator's inbox for `number`: the texts, oldest first.
async fn inbox(app: &TestApp, number: &str) -> Vec<String> {
    let messages: Vec<Value> = manual_client()
        .get(app.url("/sandbox/sms/messages"))
        .query(&[("to", number)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The code in an SMS, read from its WebOTP line, which must be the last:
/// `@<host> #<code>`.
fn code_in(text: &str, host: &str) -> String {
    let last = text.lines().last().unwrap();
    let code = last
        .strip_prefix(&format!("@{host} #"))
        .unwrap_or_else(|| panic!("the last line binds the code to {host}: {text:?}"));
    assert_eq!(code.len(), 6, "{text:?}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
    assert!(text.contains(&format!("code is {code}.")), "{text:?}");
    code.to_owned()
}

async fn latest_code(app: &TestApp, number: &str) -> String {
    let messages = inbox(app, number).await;
    code_in(messages.last().expect("a message"), "127.0.0.1")
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let last = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{last}", &code[..5])
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_person_on_wifi_is_verified_by_a_code() {
    let app = TestApp::start(&[]).await;
    let failed = failed_on_wifi(&app, NUMBER).await;
    assert_eq!(failed.body["reason"], "not_mobile_data", "{failed}");
    let ticket = ticket_of(&failed);

    let sent = send(&app, &ticket).await;
    assert_eq!(sent.status, 200, "{sent}");
    assert_eq!(
        sent.body,
        json!({"sent": true, "to": "+990••••••78", "expires_in": 300, "resend_after": 30, "resends_left": 3})
    );
    let code = latest_code(&app, NUMBER).await;

    let wrong_once = check(&app, &ticket, &wrong(&code)).await;
    assert_error(&wrong_once, 400, "wrong_code");
    assert_eq!(wrong_once.body["attempts_left"], 4, "{wrong_once}");
    let typo = check(&app, &ticket, "12ab").await;
    assert_error(&typo, 400, "invalid_code");

    let verified = check(&app, &ticket, &code).await;
    assert_sandbox_verdict(&verified, true);
    let token = verified.verification_token.as_deref().expect("a verification token");
    let claims = claims(token);
    assert_eq!(claims["amr"], json!(["sms"]), "{claims}");
    assert_eq!(claims["phone_number"], NUMBER);

    // The code and its ticket answer once.
    assert_error(&check(&app, &ticket, &code).await, 400, "unknown_ticket");
    assert_error(&send(&app, &ticket).await, 400, "unknown_ticket");
}

#[tokio::test]
async fn fallback_is_offered_per_reason_and_never_after_a_mismatch() {
    let app = TestApp::start(&[]).await;
    // Another number: an answer, not a failure — nothing to fall back from.
    assert_sandbox_verdict(&app.tutorial(json!({ "phone": "+99012345677" }), &[]).await, false);
    // The operator's own error: a code may help.
    let broken = app.tutorial(json!({ "phone": "+99011111199" }), &[]).await;
    assert_error(&broken, 403, "operator_denied");
    assert_eq!(broken.body["reason"], "operator_unavailable", "{broken}");
    ticket_of(&broken);
    // A temporary operator fault: likewise.
    let unavailable = app
        .tutorial(json!({ "phone": NUMBER }), &[("X-Sandbox-Fault", "unavailable")])
        .await;
    assert_eq!(unavailable.body["reason"], "operator_unavailable", "{unavailable}");
    ticket_of(&unavailable);
    // A bad request ends nothing: no reason, no offer.
    let refused = app.login(json!({ "phone": "07700" })).await;
    assert_error(&refused, 400, "invalid_phone");
    assert!(refused.body.get("fallback").is_none(), "{refused}");
}

#[tokio::test]
async fn five_wrong_codes_end_the_attempt() {
    let app = TestApp::start(&[]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;
    for left in (1..=4).rev() {
        let answer = check(&app, &ticket, &wrong(&code)).await;
        assert_error(&answer, 400, "wrong_code");
        assert_eq!(answer.body["attempts_left"], left, "{answer}");
    }
    let fifth = check(&app, &ticket, &wrong(&code)).await;
    assert_error(&fifth, 400, "too_many_attempts");
    assert_eq!(fifth.body["message"], "Too many attempts — start again.");
    // Even the right code is refused now, and no new code can be asked for.
    assert_error(&check(&app, &ticket, &code).await, 400, "unknown_ticket");
    assert_error(&send(&app, &ticket).await, 400, "unknown_ticket");
}

#[tokio::test]
async fn guesses_sent_at_once_never_pass_the_attempt_budget() {
    let app = TestApp::start(&[]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let (url, ticket, guess) = (
                app.url("/code/check"),
                ticket.clone(),
                format!("{:06}", (i * 7919) % 1_000_000),
            );
            tokio::spawn(async move {
                manual_client()
                    .post(url)
                    .json(&json!({ "ticket": ticket, "code": guess }))
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut judged = 0;
    for guess in guesses {
        let answer = guess.await.unwrap();
        if matches!(answer["error"].as_str(), Some("wrong_code" | "too_many_attempts")) {
            judged += 1;
        }
    }
    assert!(judged <= 5, "at most five guesses judged, saw {judged}");
    assert_ne!(check(&app, &ticket, &code).await.status, 200, "the budget is spent");
}

#[tokio::test]
async fn a_new_code_waits_and_replaces_the_old_one_three_times_at_most() {
    let app = TestApp::start(&[]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let early = send(&app, &ticket).await;
    assert_error(&early, 429, "too_soon");
    let wait = early.body["retry_after"].as_u64().unwrap();
    assert!((1..=30).contains(&wait), "{early}");

    let app = app_without_resend_wait(&[]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    let mut codes = Vec::new();
    for resends_left in (0..=3).rev() {
        let sent = send(&app, &ticket).await;
        assert_eq!(sent.body["resends_left"], resends_left, "{sent}");
        codes.push(latest_code(&app, NUMBER).await);
    }
    assert_error(&send(&app, &ticket).await, 400, "no_more_codes");
    // Only the last code is good.
    let (last, first) = (codes.last().unwrap().clone(), codes[0].clone());
    if first != last {
        assert_error(&check(&app, &ticket, &first).await, 400, "wrong_code");
    }
    assert_sandbox_verdict(&check(&app, &ticket, &last).await, true);
}

#[tokio::test]
async fn a_code_expires() {
    let app = TestApp::start_adjusted(local_listener().await, &[], |config: &mut Config| {
        config.sms.as_mut().unwrap().code_ttl = Duration::from_millis(300);
    })
    .await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_error(&check(&app, &ticket, &code).await, 400, "code_expired");
}

#[tokio::test]
async fn a_number_gets_so_many_codes_a_day() {
    let app = app_without_resend_wait(&[("SMS_PER_NUMBER_PER_DAY", "2")]).await;
    let first = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &first).await.status, 200);
    assert_eq!(send(&app, &first).await.status, 200);
    let limited = send(&app, &first).await;
    assert_error(&limited, 429, "daily_limit");
    // Another verification of the same number is limited too; another number is not.
    let second = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_error(&send(&app, &second).await, 429, "daily_limit");
    let other = ticket_of(&failed_on_wifi(&app, "+99012345600").await);
    assert_eq!(send(&app, &other).await.status, 200);
}

#[tokio::test]
async fn a_country_gets_so_many_codes_a_day() {
    let app = app_without_resend_wait(&[("SMS_PER_COUNTRY_PER_DAY", "1")]).await;
    let first = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &first).await.status, 200);
    let other = ticket_of(&failed_on_wifi(&app, "+99012345600").await);
    assert_error(&send(&app, &other).await, 429, "daily_limit");
}

#[tokio::test]
async fn codes_go_only_to_listed_countries() {
    // The virtual gateway sends to the test numbers' pseudo-country, and to what is listed.
    let app = TestApp::start(&[]).await;
    let uk = app
        .tutorial(
            json!({ "phone": "+447700900123" }),
            &[("X-Sandbox-Network", "wifi"), ("X-Sandbox-Msisdn", "+447700900123")],
        )
        .await;
    assert_error(&uk, 403, "operator_denied");
    assert_eq!(uk.body["reason"], "not_mobile_data");
    assert!(uk.body.get("fallback").is_none(), "GB is not listed: {uk}");

    let app = TestApp::start(&[("SMS_COUNTRIES", "GB")]).await;
    let uk = app
        .tutorial(
            json!({ "phone": "+447700900123" }),
            &[("X-Sandbox-Network", "wifi"), ("X-Sandbox-Msisdn", "+447700900123")],
        )
        .await;
    let ticket = ticket_of(&uk);
    assert_eq!(send(&app, &ticket).await.status, 200);
    assert_eq!(inbox(&app, "+447700900123").await.len(), 1);
}

#[tokio::test]
async fn a_gateway_that_fails_sends_nothing_and_says_so() {
    // The virtual gateway's delivery failure: numbers ending in 99.
    let app = TestApp::start(&[]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, "+99012345699").await);
    let failed = send(&app, &ticket).await;
    assert_error(&failed, 502, "sms_failed");
    assert!(inbox(&app, "+99012345699").await.is_empty());
}

/// On Redis, the store holds the code's HMAC and never the code (nor the ticket, nor the
/// number). That no log line has a code, at any level, is `it::log_privacy`'s.
#[tokio::test]
async fn the_code_is_kept_as_an_hmac_only() {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = TestApp::start(&[("REDIS_URL", &url)]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;

    let dump = redis.dump_all();
    assert!(dump.contains("sms-code"), "the code's record is in Redis: {dump}");
    assert!(!dump.contains(&code), "the code itself is not: {dump}");
    assert!(!dump.contains(&ticket), "nor the ticket (keys are hashed): {dump}");

    assert_sandbox_verdict(&check(&app, &ticket, &code).await, true);
    let dump = redis.dump_all();
    assert!(
        !dump.contains("99012345678"),
        "a finished verification leaves no number behind: {dump}"
    );
}

/// Metrics count the SMS and the code channel's end.
#[tokio::test]
async fn metrics_count_codes() {
    let app = TestApp::start(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let ticket = ticket_of(&failed_on_wifi(&app, NUMBER).await);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;
    assert_sandbox_verdict(&check(&app, &ticket, &code).await, true);
    let text = reqwest::get(format!("{}/metrics", app.metrics.as_deref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"nv_sms_sent_total{sender="vonage",country="ZZ"} 1"#,
        r#"nv_verifications_started_total{protocol="camara",channel="sms"} 1"#,
        r#"nv_verifications_total{protocol="camara",channel="sms",outcome="verified",reason="none"} 1"#,
        r#"nv_verifications_total{protocol="camara",channel="network",outcome="failed",reason="not_mobile_data"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

/// The page without JavaScript: the failed result offers a code; the code view has the
/// field phones fill in; the right code gives a verdict that says how it was proven.
#[tokio::test]
async fn the_page_offers_a_code_and_takes_it_without_javascript() {
    let app = TestApp::start(&[]).await;
    // The simulated device is on Wi-Fi for every request, the operator's hops included.
    let mut browser = Browser::new().header("X-Sandbox-Network", "wifi");
    let (_, page) = browser.verify(&app, NUMBER, "camara").await;
    assert!(page.contains("Send me a code by SMS"), "{page}");
    assert!(
        page.contains(r#"data-reason="not_mobile_data""#),
        "the page names the reason: {page}"
    );
    let ticket = between(&page, r#"name="ticket" value=""#, "\"");

    let sent = browser
        .send(
            manual_client()
                .post(app.url("/code/send"))
                .header("Accept", "text/html")
                .form(&[("ticket", ticket.as_str())]),
        )
        .await;
    assert_eq!(sent.status(), 303);
    let view = crate::helpers::location(&sent);
    assert_eq!(view, format!("/?sms={ticket}"));
    let page = browser
        .send(manual_client().get(app.url(&view)))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"autocomplete="one-time-code""#), "{page}");
    assert!(page.contains(r#"inputmode="numeric""#), "{page}");
    assert!(page.contains("+990••••••78"), "{page}");
    assert!(page.contains("Simulated SIM: text messages"), "{page}");
    let code = latest_code(&app, NUMBER).await;
    assert!(
        page.contains(&format!("#{code}")),
        "the inbox shows the message: {page}"
    );

    let wrong_once = browser
        .send(
            manual_client()
                .post(app.url("/code/check"))
                .form(&[("ticket", ticket.as_str()), ("code", wrong(&code).as_str())]),
        )
        .await;
    assert_eq!(
        crate::helpers::location(&wrong_once),
        format!("/?sms={ticket}&note=wrong_code&left=4")
    );
    let page = browser
        .send(manual_client().get(app.url(&crate::helpers::location(&wrong_once))))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("That code is not right. 4 attempts left."), "{page}");

    let verified = browser
        .send(
            manual_client()
                .post(app.url("/code/check"))
                .form(&[("ticket", ticket.as_str()), ("code", code.as_str())]),
        )
        .await;
    let result = crate::helpers::location(&verified);
    assert!(result.starts_with("/?result="), "{result}");
    let page = browser
        .send(manual_client().get(app.url(&result)))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("+99012345678: verified!"), "{page}");
    assert!(page.contains("Verified by SMS code"), "{page}");

    // Another browser cannot use this browser's ticket.
    let stranger = check(&app, &ticket, &code).await;
    assert_ne!(stranger.status, 200, "{stranger}");
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap_or_else(|| panic!("{start} in {text}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].to_owned()
}

/// An operator that fails the start itself (here: not reachable) is a network failure too:
/// the API's refusal offers a code, and the page goes straight to the code view, which
/// says why and offers to send one.
#[tokio::test]
async fn a_failed_start_offers_a_code_too() {
    let app = TestApp::start_adjusted(local_listener().await, &[], |config: &mut Config| {
        // Nothing listens on port 9 of this machine: the start's operator call fails.
        config.vonage.as_mut().unwrap().api_base = url::Url::parse("http://127.0.0.1:9/").unwrap();
    })
    .await;
    let refused = app.login(json!({ "phone": NUMBER })).await;
    assert_error(&refused, 502, "operator_error");
    assert_eq!(refused.body["reason"], "operator_unavailable", "{refused}");
    let ticket = ticket_of(&refused);
    assert_eq!(send(&app, &ticket).await.status, 200);
    let code = latest_code(&app, NUMBER).await;
    assert_sandbox_verdict(&check(&app, &ticket, &code).await, true);

    let mut browser = Browser::new();
    let (url, page) = browser.verify(&app, "+99012345600", "camara").await;
    assert!(url.contains("/?sms="), "{url}");
    assert!(
        page.contains("Your operator could not check this number right now. We can send a 6-digit code by SMS to +990••••••00 instead."),
        "{page}"
    );
    assert!(page.contains("Send me a code by SMS"), "{page}");
}

/// A relying party that accepts codes (`sms_fallback` in its registration): when the
/// network cannot answer, the hosted page's browser is offered the code; the right code
/// sends it back with an authorization code whose id_token says `amr: ["sms"]`. Giving up
/// goes back with `access_denied`. A client that does not accept codes is never offered one.
#[tokio::test]
async fn a_relying_party_that_accepts_codes_gets_an_id_token_with_amr_sms() {
    use crate::helpers::rp::{param, payload, Rp, DEVICE_NUMBER, SHOP_REDIRECT, SHOP_SECRET};
    use openidconnect::TokenResponse;
    use sha2::Digest;

    let secret_sha256 = hex::encode(sha2::Sha256::digest(SHOP_SECRET.as_bytes()));
    let parties = json!({"clients": [
        {"id": "sms-shop", "name": "SMS Shop", "redirect_uris": [SHOP_REDIRECT],
         "auth_method": "client_secret_basic", "secret_sha256": secret_sha256, "sms_fallback": true},
    ]})
    .to_string();
    let app = TestApp::start(&[("RELYING_PARTIES", &parties)]).await;
    let rp = Rp::discover(&app.base, "sms-shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;

    let login = rp.login(Some(DEVICE_NUMBER), true);
    let mut browser = Browser::new().header("X-Sandbox-Network", "wifi");
    let (url, page) = hosted_page_on_wifi(&mut browser, &app.base, &login.url).await;
    assert!(url.contains("/?sms="), "{url}");
    assert!(page.contains("Cancel and go back"), "{page}");
    let ticket = param(&url, "sms").unwrap();

    let sent = browser
        .send(
            manual_client()
                .post(app.url("/code/send"))
                .form(&[("ticket", ticket.as_str())]),
        )
        .await;
    assert_eq!(sent.status(), 303);
    let code = latest_code(&app, DEVICE_NUMBER).await;
    let checked = browser
        .send(
            manual_client()
                .post(app.url("/code/check"))
                .form(&[("ticket", ticket.as_str()), ("code", code.as_str())]),
        )
        .await;
    let back = crate::helpers::location(&checked);
    assert!(back.starts_with(SHOP_REDIRECT), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some(login.state.secret().as_str()));
    let tokens = rp
        .exchange(&param(&back, "code").expect("a code"), login.pkce)
        .await
        .unwrap();
    rp.claims(&tokens, &login.nonce);
    let claims = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["amr"], json!(["sms"]), "{claims}");
    assert_eq!(claims["phone_number"], DEVICE_NUMBER);
    assert_eq!(claims["phone_number_verified"], true);

    // Giving up on the code goes back to the relying party, refused.
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let mut browser = Browser::new().header("X-Sandbox-Network", "wifi");
    let (url, _) = hosted_page_on_wifi(&mut browser, &app.base, &login.url).await;
    let ticket = param(&url, "sms").unwrap();
    let cancelled = browser
        .send(
            manual_client()
                .post(app.url("/code/cancel"))
                .form(&[("ticket", ticket.as_str())]),
        )
        .await;
    let back = crate::helpers::location(&cancelled);
    assert!(back.starts_with(SHOP_REDIRECT), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some(login.state.secret().as_str()));

    // Five wrong codes end the attempt; "Start again" still goes back to the relying party.
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let mut browser = Browser::new().header("X-Sandbox-Network", "wifi");
    let (url, _) = hosted_page_on_wifi(&mut browser, &app.base, &login.url).await;
    let ticket = param(&url, "sms").unwrap();
    let form = |path: &str, fields: &[(&str, &str)]| manual_client().post(app.url(path)).form(fields);
    assert_eq!(
        browser.send(form("/code/send", &[("ticket", &ticket)])).await.status(),
        303
    );
    let code = latest_code(&app, DEVICE_NUMBER).await;
    let mut last = String::new();
    for _ in 0..5 {
        let guess = browser
            .send(form("/code/check", &[("ticket", &ticket), ("code", &wrong(&code))]))
            .await;
        last = crate::helpers::location(&guess);
    }
    assert!(last.ends_with("&note=too_many_attempts"), "{last}");
    let page = browser
        .send(manual_client().get(app.url(&last)))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Too many attempts — start again."), "{page}");
    let ended = browser.send(form("/code/cancel", &[("ticket", &ticket)])).await;
    let back = crate::helpers::location(&ended);
    assert!(back.starts_with(SHOP_REDIRECT), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"), "{back}");
}

/// The hosted page at `url`, Verify pressed, the device on Wi-Fi (the browser's headers):
/// where the browser ends up within the app, and that page.
async fn hosted_page_on_wifi(browser: &mut Browser, base: &str, url: &str) -> (String, String) {
    use crate::helpers::rp::{press_on_page, Press};
    let post = press_on_page(browser, base, url, Press::Verify(None)).await;
    browser.follow(post).await
}
