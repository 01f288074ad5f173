//! Bad input over HTTP, one table: oversized, truncated, wrong content type, wrong JSON
//! types, duplicate parameters, control characters, 10 KB fields — each answered with
//! its documented error code, status and a message that says what is wrong
//! (docs/reference.md §3), never a 500, never a hang.

use crate::helpers::{manual_client, Server, TestApp};
use serde_json::Value;

/// What a row sends.
enum Send {
    /// `POST /login` with this content type and body.
    Login(&'static str, Vec<u8>),
    /// `GET /callback?<query>`, asking for JSON.
    Callback(String),
}

/// What a row must get: status, `error` code, and a piece of the message.
struct Expect {
    status: u16,
    error: &'static str,
    message_has: &'static str,
}

fn json(body: &str) -> Send {
    Send::Login("application/json", body.as_bytes().to_vec())
}

fn expect(status: u16, error: &'static str, message_has: &'static str) -> Expect {
    Expect {
        status,
        error,
        message_has,
    }
}

fn rows() -> Vec<(&'static str, Send, Expect)> {
    let ten_kb = "9".repeat(10 * 1024);
    let big = format!(
        r#"{{"phone": "+99012345678", "pad": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let wrong_number = expect(400, "invalid_phone", "phone");
    vec![
        // Size.
        (
            "a 2 MB body",
            Send::Login("application/json", big.into_bytes()),
            expect(413, "payload_too_large", "too large"),
        ),
        (
            "a 10 KB phone",
            json(&format!(r#"{{"phone": "+{ten_kb}"}}"#)),
            expect(400, "invalid_phone", "long"),
        ),
        (
            "a 10 KB protocol",
            json(&format!(r#"{{"phone": "+99012345678", "protocol": "{ten_kb}"}}"#)),
            expect(400, "invalid_protocol", "protocol"),
        ),
        // Shape.
        ("an empty body", json(""), expect(400, "invalid_phone", "phone")),
        (
            "truncated JSON",
            json(r#"{"phone": "+9901234"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "not UTF-8",
            Send::Login("application/json", vec![b'{', 0xff, 0xfe, b'}']),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "a wrong content type",
            Send::Login("text/plain", b"+99012345678".to_vec()),
            expect(415, "unsupported_media_type", "application/json"),
        ),
        // Types.
        ("phone as a number", json(r#"{"phone": 99012345678}"#), wrong_number),
        (
            "phone as an array",
            json(r#"{"phone": ["+99012345678"]}"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "phone as an object",
            json(r#"{"phone": {"number": "+99012345678"}}"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "phone as null",
            json(r#"{"phone": null}"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "a JSON array",
            json(r#"["+99012345678"]"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "protocol as a number",
            json(r#"{"phone": "+99012345678", "protocol": 1}"#),
            expect(400, "invalid_protocol", "protocol"),
        ),
        // Duplicates.
        (
            "phone twice in JSON",
            json(r#"{"phone": "+99012345678", "phone": "+99012345677"}"#),
            expect(400, "invalid_phone", "phone"),
        ),
        (
            "phone twice in a form",
            Send::Login(
                "application/x-www-form-urlencoded",
                b"phone=%2B99012345678&phone=%2B99012345677".to_vec(),
            ),
            expect(415, "unsupported_media_type", "application/json"),
        ),
        // Characters.
        (
            "a NUL in the phone",
            json(r#"{"phone": "+990123\u000045678"}"#),
            expect(400, "invalid_phone", "U+0000 is not allowed"),
        ),
        (
            "a line break in the phone",
            json(r#"{"phone": "+9901234\n5678"}"#),
            expect(400, "invalid_phone", "U+000A is not allowed"),
        ),
        (
            "letters in the phone",
            json(r#"{"phone": "+99012345abc"}"#),
            expect(400, "invalid_phone", "“a” is not allowed"),
        ),
        (
            "no country code",
            json(r#"{"phone": "012345678"}"#),
            expect(400, "invalid_phone", "country code"),
        ),
        (
            "an unknown protocol",
            json(r#"{"phone": "+99012345678", "protocol": "sms"}"#),
            expect(400, "invalid_protocol", "mobile-connect"),
        ),
        // The callback.
        (
            "a callback without parameters",
            Send::Callback(String::new()),
            expect(400, "invalid_state", "did not say which verification"),
        ),
        (
            "state twice",
            Send::Callback("code=abc&state=one&state=two".into()),
            expect(400, "invalid_state", "malformed"),
        ),
        (
            "code twice",
            Send::Callback("code=abc&code=def&state=one".into()),
            expect(400, "invalid_state", "malformed"),
        ),
        (
            "a control character in the state",
            Send::Callback("code=abc&state=one%0D%0Atwo".into()),
            expect(400, "invalid_state", "malformed"),
        ),
        (
            "a 10 KB state",
            Send::Callback(format!("code=abc&state={ten_kb}")),
            expect(400, "invalid_state", "malformed"),
        ),
        (
            "a 10 KB code",
            Send::Callback(format!("code={ten_kb}&state=one")),
            expect(400, "invalid_state", "malformed"),
        ),
        (
            "broken percent-encoding",
            Send::Callback("code=abc&state=%ZZ%".into()),
            expect(400, "invalid_state", "unknown"),
        ),
    ]
}

#[tokio::test]
async fn every_bad_input_gets_its_documented_error() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let mut wrong = Vec::new();
    for (name, send, expected) in rows() {
        let request = match send {
            Send::Login(content_type, body) => client
                .post(app.url("/login"))
                .header("content-type", content_type)
                .body(body),
            Send::Callback(query) => client
                .get(app.url(&format!("/callback?{query}")))
                .header("accept", "application/json"),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let message = answer["message"].as_str().unwrap_or("");
        if status != expected.status
            || answer["error"] != expected.error
            || !message.to_lowercase().contains(&expected.message_has.to_lowercase())
        {
            wrong.push(format!(
                "{name}: expected {} {} (message with {:?}), got {status} {}",
                expected.status,
                expected.error,
                expected.message_has,
                &body[..body.len().min(300)]
            ));
        }
    }
    assert!(wrong.is_empty(), "{} row(s) wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// The page's server function, bounded like every route: an oversized form is refused
/// before it is read, and a form without the phone field is a clear error, not a 500.
#[tokio::test]
async fn the_page_server_function_refuses_bad_bodies() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let big = format!("phone=%2B99012345678&protocol={}", "x".repeat(2 * 1024 * 1024));
    let r = client
        .post(app.url("/api/start"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "{}", r.text().await.unwrap());

    let r = client
        .post(app.url("/api/start"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("protocol=camara")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("phone"), "{body}");
}
