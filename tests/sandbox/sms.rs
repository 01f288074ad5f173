//! The SMS gateway: Vonage's SMS API on the wire (always HTTP 200, a `status` per
//! message), the inbox that shows what was delivered, the faults chosen by the
//! destination, the inbox's bounds — and the app's Vonage sender talking to it.

use std::time::{Duration, Instant};

use number_verify::{
    operators::{
        http_client,
        sms::{SmsFailure, SmsSender, SmsSenderSettings, VonageSms, VonageSmsSettings},
    },
    phone::normalise,
    sandbox::{INBOX_PER_NUMBER, MAX_TEXT_CHARS},
    sandbox_contract::credentials::{SMS_API_KEY, SMS_API_SECRET, SMS_FROM},
    support::redacted::Secret,
};
use reqwest::{header, StatusCode};
use serde_json::Value;
use url::Url;

use crate::harness::{json_of, start, start_with_cap, Harness};

const TEXT: &str = "Your Number Verify code is 123456. It expires in 5 minutes.\n\n@127.0.0.1 #123456";

/// A complete, valid form to `to` (digits, no `+`), with `changes` applied: `Some`
/// replaces a field, `None` leaves it out.
fn form<'a>(to: &'a str, changes: &[(&'a str, Option<&'a str>)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("api_key", SMS_API_KEY),
        ("api_secret", SMS_API_SECRET),
        ("from", SMS_FROM),
        ("to", to),
        ("text", TEXT),
    ];
    for (name, value) in changes {
        fields.retain(|(n, _)| n != name);
        if let Some(value) = value {
            fields.push((name, value));
        }
    }
    fields
}

impl Harness {
    /// POSTs `fields` to the gateway; the answer must be HTTP 200 JSON with one message,
    /// which is returned.
    async fn sms_send(&self, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Value {
        let mut req = self.client.post(format!("{}/sms/json", self.base)).form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        assert!(res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let (status, body) = json_of(res).await;
        assert_eq!(status, StatusCode::OK, "Vonage answers 200 even to a refusal: {body}");
        assert_eq!(body["message-count"], "1", "{body}");
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "{body}");
        body["messages"][0].clone()
    }

    /// The inbox of `query` (the value of `to`, already URL-encoded).
    async fn sms_inbox_raw(&self, query: &str) -> (StatusCode, Value) {
        let res = self
            .client
            .get(format!("{}/sms/messages?to={query}", self.base))
            .send()
            .await
            .unwrap();
        json_of(res).await
    }

    async fn sms_inbox(&self, number: &str) -> Vec<Value> {
        let (status, body) = self.sms_inbox_raw(&number.replace('+', "%2B")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().expect("a list").clone()
    }
}

/// A refusal: status `code`, an `error-text` naming `hint`, nothing else of a success.
#[track_caller]
fn assert_refused(message: &Value, code: &str, hint: &str) {
    assert_eq!(message["status"], code, "{message}");
    let text = message["error-text"].as_str().unwrap_or_default();
    assert!(text.contains(hint), "{message}");
    assert!(message.get("message-id").is_none(), "{message}");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn a_sent_message_is_in_the_inbox() {
    let h = start().await;
    let before = now_ms();
    let message = h.sms_send(&form("99012345678", &[]), &[]).await;
    assert_eq!(message["status"], "0", "{message}");
    assert_eq!(message["to"], "99012345678");
    let id = message["message-id"].as_str().unwrap();
    assert_eq!(id.len(), 16, "{id}");
    for field in ["remaining-balance", "message-price", "network"] {
        assert!(message[field].is_string(), "{field}: {message}");
    }

    let inbox = h.sms_inbox("+99012345678").await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["to"], "+99012345678");
    assert_eq!(inbox[0]["text"], TEXT);
    let at = inbox[0]["at"].as_u64().expect("Unix milliseconds");
    assert!(at >= before && at <= now_ms(), "{at}");

    // The number may be given with %2B, with a literal + (a space once decoded) or bare.
    for query in ["%2B99012345678", "+99012345678", "99012345678"] {
        let (status, body) = h.sms_inbox_raw(query).await;
        assert_eq!(
            (status, body.as_array().map(Vec::len)),
            (StatusCode::OK, Some(1)),
            "{query}"
        );
    }
    // A leading + on `to` is tolerated, as Vonage does; newest last.
    let message = h
        .sms_send(&form("+99012345678", &[("text", Some("second"))]), &[])
        .await;
    assert_eq!(message["status"], "0", "{message}");
    let texts: Vec<Value> = h
        .sms_inbox("+99012345678")
        .await
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, [TEXT, "second"]);
    // Other numbers' inboxes are their own.
    assert!(h.sms_inbox("+99012345676").await.is_empty());
}

#[tokio::test]
async fn bad_credentials_are_status_4() {
    let h = start().await;
    for changes in [
        [("api_secret", Some("nv-sandbox-sms-secreT"))],
        [("api_key", Some("another-key"))],
        [("api_secret", Some(SMS_API_KEY))],
    ] {
        let message = h.sms_send(&form("99012345678", &changes), &[]).await;
        assert_refused(&message, "4", "Bad Credentials");
    }
    assert!(h.sms_inbox("+99012345678").await.is_empty());
}

#[tokio::test]
async fn missing_and_invalid_parameters_are_named() {
    let h = start().await;
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    // Fields changed, the status, a word of its error-text.
    type Case<'a> = (Vec<(&'a str, Option<&'a str>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("api_key", None)], "2", "api_key"),
        (vec![("api_secret", None)], "2", "api_secret"),
        (vec![("from", None)], "2", "from"),
        (vec![("to", None)], "2", "to"),
        (vec![("text", None)], "2", "text"),
        (vec![("text", Some(""))], "2", "text"),
        // Credentials are checked before the message.
        (
            vec![("api_secret", Some("wrong")), ("to", None)],
            "4",
            "Bad Credentials",
        ),
        (vec![("to", Some("hello"))], "6", "to"),
        (vec![("to", Some("0099012345678"))], "6", "to"),
        (vec![("to", Some("1234"))], "6", "to"),
        (vec![("from", Some("A Sender Name Too Long"))], "15", "Sender"),
        (vec![("text", Some(long.as_str()))], "12", "too long"),
    ];
    for (changes, code, hint) in cases {
        let message = h.sms_send(&form("99012345678", &changes), &[]).await;
        assert_refused(&message, code, hint);
    }
    // Not a form at all.
    let res = h
        .client
        .post(format!("{}/sms/json", h.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(&body["messages"][0], "3", "form");
    assert!(
        h.sms_inbox("+99012345678").await.is_empty(),
        "nothing refused is delivered"
    );
}

#[tokio::test]
async fn a_number_ending_99_is_never_delivered() {
    let h = start().await;
    let message = h.sms_send(&form("99011111199", &[]), &[]).await;
    assert_refused(&message, "5", "could not be delivered");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.sms_inbox("+99011111199").await.is_empty());
}

#[tokio::test]
async fn a_number_ending_98_gets_its_message_late() {
    let h = start().await;
    let sent = Instant::now();
    let message = h
        .sms_send(&form("99012345698", &[]), &[("X-Sandbox-Delay-Ms", "1000")])
        .await;
    assert_eq!(message["status"], "0", "accepted at once: {message}");
    assert!(sent.elapsed() < Duration::from_millis(1000), "the answer does not wait");
    assert!(h.sms_inbox("+99012345698").await.is_empty(), "not there yet");

    let deadline = sent + Duration::from_secs(10);
    let inbox = loop {
        let inbox = h.sms_inbox("+99012345698").await;
        if !inbox.is_empty() {
            break inbox;
        }
        assert!(Instant::now() < deadline, "the slow message never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(sent.elapsed() >= Duration::from_millis(1000), "{:?}", sent.elapsed());
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["text"], TEXT);
}

#[tokio::test]
async fn inboxes_are_bounded() {
    // Per number: the newest ten.
    let h = start().await;
    let texts: Vec<String> = (0..INBOX_PER_NUMBER + 2).map(|i| format!("message {i}")).collect();
    for text in &texts {
        let message = h
            .sms_send(&form("99012345678", &[("text", Some(text.as_str()))]), &[])
            .await;
        assert_eq!(message["status"], "0");
    }
    let inbox = h.sms_inbox("+99012345678").await;
    let got: Vec<&str> = inbox.iter().map(|m| m["text"].as_str().unwrap()).collect();
    let want: Vec<&str> = texts[2..].iter().map(String::as_str).collect();
    assert_eq!(got, want, "the oldest two went, the order kept");

    // In all: at most the store cap of numbers; a full gateway forgets the oldest inbox.
    let h = start_with_cap(3).await;
    for to in ["99012345600", "99012345602", "99012345604", "99012345606"] {
        assert_eq!(h.sms_send(&form(to, &[]), &[]).await["status"], "0");
    }
    assert_eq!(h.sandbox.stats().sms_inboxes, 3);
    assert!(
        h.sms_inbox("+99012345600").await.is_empty(),
        "the first inbox was forgotten"
    );
    assert_eq!(h.sms_inbox("+99012345606").await.len(), 1);
}

#[tokio::test]
async fn the_inbox_wants_a_number() {
    let h = start().await;
    for (query, hint) in [
        ("hello", "E.164"),
        ("%2B12", "E.164"),
        ("%2B990123456789012345", "E.164"),
        ("", "missing"),
    ] {
        let (status, body) = h.sms_inbox_raw(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"], "invalid_request", "{query}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(hint),
            "{query}: {body}"
        );
    }
    let res = h.client.get(format!("{}/sms/messages", h.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// The app's Vonage sender, pointed at the gateway as configuration points it.
fn vonage_sender(h: &Harness, secret: &str) -> VonageSms {
    let settings = VonageSmsSettings {
        api_base: Url::parse(&h.base).unwrap(),
        api_key: SMS_API_KEY.into(),
        api_secret: Secret::new(secret),
        from: SMS_FROM.into(),
    };
    VonageSms::new(&settings, http_client(Duration::from_secs(5)).unwrap())
}

#[tokio::test]
async fn the_vonage_sender_delivers_through_the_gateway() {
    let h = start().await;
    let settings = SmsSenderSettings::VirtualGateway(VonageSmsSettings {
        api_base: Url::parse(&h.base).unwrap(),
        api_key: SMS_API_KEY.into(),
        api_secret: Secret::new(SMS_API_SECRET),
        from: SMS_FROM.into(),
    });
    let sender = SmsSender::new(&settings, http_client(Duration::from_secs(5)).unwrap());
    assert_eq!(sender.name(), "vonage");
    let to = normalise("+99012345678").unwrap();
    let sent = sender.send(&to, TEXT).await.unwrap();
    assert_eq!(sent.sender, "vonage");
    assert_eq!(sent.message_id.as_deref().map(str::len), Some(16));
    let inbox = h.sms_inbox("+99012345678").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["text"], TEXT, "the text arrives whole, last line included");

    // Text outside ASCII arrives as written.
    let sent = vonage_sender(&h, SMS_API_SECRET)
        .send(&to, "Code 654321 — ünïcode")
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    assert_eq!(h.sms_inbox("+99012345678").await[1]["text"], "Code 654321 — ünïcode");
}

#[tokio::test]
async fn the_vonage_sender_reports_refusals_by_status() {
    let h = start().await;
    let failure = vonage_sender(&h, "wrong secret")
        .send(&normalise("+99012345678").unwrap(), TEXT)
        .await
        .unwrap_err();
    assert_eq!(
        failure,
        SmsFailure::Rejected {
            sender: "vonage",
            code: "4".into(),
            reason: "Bad Credentials".into()
        }
    );
    let failure = vonage_sender(&h, SMS_API_SECRET)
        .send(&normalise("+99011111199").unwrap(), TEXT)
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, SmsFailure::Rejected { code, .. } if code == "5"),
        "{failure:?}"
    );
    let shown = failure.to_string();
    assert!(!shown.contains("123456") && !shown.contains("11111199"), "{shown}");
}
