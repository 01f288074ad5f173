//! The HTTP edge, over real HTTP: every route bounded
//! (body size, header-read and request time, a drain not held by silent clients), the
//! security headers (CSP with the page's nonce, HSTS, no-store), cross-site server
//! functions refused, only signed session cookies accepted, and what the edge logs.

use std::time::{Duration, Instant};

use crate::helpers::{
    assert_error, call_back, device, hops_to_callback, location, manual_client,
    process::{free_port, Process},
    Server, TestApp,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The upper bound of every wait in this file.
const PATIENCE: Duration = Duration::from_secs(10);

/// Writes `request` on a fresh connection to `base`, then reads until the server closes
/// it (bounded by `PATIENCE`): what it answered, and how long it took to close.
async fn raw(base: &str, request: &[u8]) -> (String, Duration) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let began = Instant::now();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open for {PATIENCE:?}; it answered {:?}",
        String::from_utf8_lossy(&answer)
    );
    (String::from_utf8_lossy(&answer).into_owned(), began.elapsed())
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// Declaring 50 MB is enough to be refused, before a byte of the body is read; so is
/// sending more than the limit without declaring it (chunked). Each in its route's shape.
#[tokio::test]
async fn oversized_bodies_get_413_in_the_routes_shape() {
    let app = TestApp::start(&[]).await;
    let host = app.base.trim_start_matches("http://");
    let fifty_mb = 50 * 1024 * 1024;

    let (answer, _) = raw(
        &app.base,
        format!(
            "POST /api/start HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {fifty_mb}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    // A server function's error: the page shows its message.
    assert_eq!(header_of(&answer, "serverfnerror"), Some("/api/start"), "{answer}");
    assert!(body_of(&answer).contains("too large"), "{answer}");

    let (answer, _) = raw(
        &app.base,
        format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {fifty_mb}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    let json: serde_json::Value = serde_json::from_str(body_of(&answer)).expect("a JSON body");
    assert_eq!(json["error"], "payload_too_large", "{answer}");
    assert!(json["message"].as_str().unwrap().contains("too large"), "{answer}");

    // Undeclared: 1 KiB chunks until past the limit, no end.
    let mut request = format!(
        "POST /api/start HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..(number_verify::server::BODY_LIMIT / 1024 + 2) {
        request.extend_from_slice(chunk.as_bytes());
    }
    let (answer, _) = raw(&app.base, &request).await;
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert!(body_of(&answer).contains("too large"), "{answer}");

    // A body under the limit still reaches the server function.
    let r = manual_client()
        .post(app.url("/api/start"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("phone=%2B99012345678&protocol=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// A client that sends part of its headers and then nothing, one that sends nothing, one
/// whose body never arrives: each is closed within REQUEST_TIMEOUT_MS, and one left
/// open does not keep a SIGTERM drain waiting for SHUTDOWN_GRACE_MS.
#[tokio::test]
async fn slow_and_half_open_clients_are_closed_and_do_not_hold_a_drain() {
    let mut app = Process::spawn(
        "edge-timeouts",
        free_port(),
        &[
            ("REQUEST_TIMEOUT_MS", "400".into()),
            ("SHUTDOWN_GRACE_MS", "60000".into()),
            ("RUST_LOG", "info".into()),
        ],
    );
    app.ready().await;
    let host = app.base.trim_start_matches("http://").to_owned();

    let (answer, took) = raw(
        &app.base,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nAccept: text/ht").as_bytes(),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");

    let (_, took) = raw(&app.base, b"").await;
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");

    let (answer, _) = raw(
        &app.base,
        format!(
            "POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"phone\": "
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(body_of(&answer).contains("\"error\":\"request_timeout\""), "{answer}");

    // A half-open connection at the moment of SIGTERM: the drain still ends promptly.
    let mut silent = TcpStream::connect(host.as_str()).await.unwrap();
    silent.write_all(b"GET / HTTP/1.1\r\nHost: ").await.unwrap();
    let signalled = Instant::now();
    app.terminate();
    let status = app
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("a half-open connection held the drain: {}", app.log_text()));
    assert_eq!(status.code(), Some(0), "{}", app.log_text());
    assert!(signalled.elapsed() < PATIENCE, "{:?}", signalled.elapsed());
    let log = app.log_text();
    assert!(log.contains("draining: no new connections"), "{log}");
    assert!(log.contains("drained; bye"), "{log}");
    assert!(!log.contains("SHUTDOWN_GRACE_MS passed"), "{log}");
}

/// A handler slower than REQUEST_TIMEOUT_MS is abandoned with the route's error.
#[tokio::test]
async fn a_request_slower_than_the_timeout_gets_504() {
    let mut app = Process::spawn(
        "edge-slow-handler",
        free_port(),
        &[
            ("REQUEST_TIMEOUT_MS", "1000".into()),
            ("OPERATOR_TIMEOUT_MS", "20000".into()),
        ],
    );
    app.ready().await;
    // The virtual operator answers the token request 5 s late, so the callback waits.
    let slow = device(&[("x-sandbox-fault", "token-slow"), ("x-sandbox-delay-ms", "5000")]);
    let callback = app
        .callback_url(
            serde_json::json!({"phone": "+99012345678", "protocol": "mobile-connect"}),
            &slow,
        )
        .await;
    let began = Instant::now();
    let answer = call_back(&callback).await;
    assert!(began.elapsed() < Duration::from_secs(4), "{:?}", began.elapsed());
    assert_error(&answer, 504, "timeout");
}

/// The `'nonce-…'` of a Content-Security-Policy.
fn nonce_in(policy: &str) -> String {
    let start = policy.find("'nonce-").unwrap_or_else(|| panic!("no nonce in {policy}")) + 7;
    policy[start..].split('\'').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_page_has_a_csp_whose_nonce_is_on_its_scripts_and_new_each_time() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let r = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let policy = r
            .headers()
            .get("content-security-policy")
            .expect("a CSP on the page")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(r.headers().get(number_verify::http::NONCE_HEADER).is_none());
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "'wasm-unsafe-eval'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(directive), "{directive} missing from {policy}");
        }
        let nonce = nonce_in(&policy);
        assert!(nonce.len() >= 16, "{nonce}");
        let html = r.text().await.unwrap();
        // Every script on the page carries this response's nonce, and there are some.
        let scripts: Vec<&str> = html
            .split("<script")
            .skip(1)
            .map(|s| &s[..s.find('>').unwrap()])
            .collect();
        assert!(!scripts.is_empty(), "no script on the page");
        for script in scripts {
            assert!(
                script.contains(&format!("nonce=\"{nonce}\"")),
                "<script{script}> lacks {nonce}"
            );
        }
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "the nonce must differ between responses");

    // Other answers get a policy too (no nonce: they have no inline script).
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    let policy = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("frame-ancestors 'none'") && !policy.contains("nonce"),
        "{policy}"
    );
}

#[tokio::test]
async fn hsts_only_when_the_public_url_is_https() {
    let plain = TestApp::start(&[]).await;
    let r = manual_client().get(plain.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());

    let secure = TestApp::start(&[("APP_PUBLIC_URL", "https://verify.example.com"), ("SANDBOX", "on")]).await;
    let r = manual_client().get(secure.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

#[tokio::test]
async fn results_callbacks_the_api_and_server_functions_are_not_stored() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let answers = [
        (
            "result page",
            client.get(app.url("/?result=0123456789abcdef0123456789abcdef")),
        ),
        ("callback", client.get(app.url("/callback?code=a&state=b"))),
        (
            "login",
            client
                .post(app.url("/login"))
                .json(&serde_json::json!({"phone": "+99012345678"})),
        ),
        (
            "server function",
            client
                .post(app.url("/api/start"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("phone=%2B99012345678&protocol="),
        ),
    ];
    for (name, request) in answers {
        let r = request.send().await.unwrap();
        let status = r.status();
        let cache = r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        assert!(!body.is_empty(), "{name}: {status} with no body");
        assert_eq!(cache.as_deref(), Some("no-store"), "{name}: {status} {body}");
    }
    // Static files stay cacheable.
    let r = client.get(app.url("/favicon.ico")).send().await.unwrap();
    assert_ne!(
        r.headers().get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

pub(crate) fn form_start(client: &reqwest::Client, app: &TestApp) -> reqwest::RequestBuilder {
    client
        .post(app.url("/api/start"))
        .header("accept", "text/html")
        .header("referer", app.url("/"))
        .form(&[("phone", "+99012345678"), ("protocol", "mobile-connect")])
}

#[tokio::test]
async fn cross_site_server_function_calls_are_refused_without_a_cookie() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let refusals = [
        ("sec-fetch-site", "cross-site".to_owned()),
        ("origin", "https://attacker.example".to_owned()),
        ("origin", "null".to_owned()),
    ];
    for (header, value) in refusals {
        let r = form_start(&client, &app).header(header, &value).send().await.unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        assert!(r.headers().get("set-cookie").is_none(), "{header}: {value}");
        assert!(r.headers().get("location").is_none(), "{header}: {value}");
        assert!(r.text().await.unwrap().contains("another site"), "{header}: {value}");
    }
    // The page's own posts (same origin, same site, or no Origin at all) go through.
    let allowed = [
        vec![
            ("origin", app.base.clone()),
            ("sec-fetch-site", "same-origin".to_owned()),
        ],
        vec![("sec-fetch-site", "same-site".to_owned())],
        vec![("sec-fetch-site", "none".to_owned())],
        vec![],
    ];
    for headers in allowed {
        let mut request = form_start(&client, &app);
        for (k, v) in &headers {
            request = request.header(*k, v);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 302, "{headers:?}");
        assert!(r.headers().get("set-cookie").is_some(), "{headers:?}");
    }
}

/// The value a response's `Set-Cookie` gives `name`, if it sets it.
pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[tokio::test]
async fn a_forged_session_cookie_is_not_a_session() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    // Shaped like the ids this app makes, but never issued by it.
    let forged = "0123456789abcdef0123456789abcdef";

    let start = form_start(&client, &app)
        .header("cookie", format!("nv_session={forged}"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let issued = set_cookie(&start, "nv_session").expect("a new session cookie instead of the forged one");
    assert_ne!(issued, forged);
    let (id, tag) = issued.split_once('.').expect("a signed value: <id>.<MAC>");
    assert!(id.len() == 32 && !tag.is_empty(), "{issued}");

    // The verification is bound to the issued session: the forged cookie does not see it.
    let callback = hops_to_callback(&client, &location(&start)).await;
    let r = client
        .get(&callback)
        .header("accept", "text/html")
        .header("cookie", format!("nv_session={forged}"))
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert!(to.starts_with("/?error="), "the forged session was sent to {to}");

    // The issued cookie is a session: it is kept, and sees its own result.
    let start = form_start(&client, &app)
        .header("cookie", format!("nv_session={issued}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        set_cookie(&start, "nv_session"),
        None,
        "the issued session was replaced"
    );
    let callback = hops_to_callback(&client, &location(&start)).await;
    let r = client
        .get(&callback)
        .header("accept", "text/html")
        .header("cookie", format!("nv_session={issued}"))
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert!(to.starts_with("/?result="), "{to}");
    let page = client
        .get(app.url(&to))
        .header("cookie", format!("nv_session={issued}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("+99012345678: verified!"), "{page}");
    // And the forged cookie cannot read that result either.
    let page = client
        .get(app.url(&to))
        .header("cookie", format!("nv_session={forged}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("verified!"), "{page}");
}

/// Under https the cookie is `__Host-nv_session`; the unprefixed name is not read.
#[tokio::test]
async fn under_https_the_session_cookie_has_the_host_prefix() {
    let app = TestApp::start(&[("APP_PUBLIC_URL", "https://verify.example.com"), ("SANDBOX", "on")]).await;
    let r = manual_client()
        .post(app.url("/api/start"))
        .header("origin", "https://verify.example.com")
        .form(&[("phone", "+99012345678")])
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-nv_session="), "{set}");
    assert!(
        set.contains("Secure") && set.contains("Path=/") && !set.contains("Domain"),
        "{set}"
    );
}

/// At RUST_LOG=trace: a numeric phone is refused with a message naming the field, and
/// neither it nor a callback's query reaches the log; the request span has the path.
#[tokio::test]
async fn the_edge_logs_paths_and_field_names_never_values() {
    let mut app = Process::spawn("edge-logs", free_port(), &[("RUST_LOG", "trace".into())]);
    app.ready().await;
    let client = manual_client();

    let r = client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(r#"{"phone": 447700900123}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["error"], "invalid_phone");
    let message = json["message"].as_str().unwrap();
    assert!(message.contains("\"phone\" must be a string"), "{message}");
    assert!(!message.contains("447700900123"), "{message}");

    let r = client
        .get(app.url("/callback?code=c0de5ecret&state=57a7e5ecret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    app.wait_for_log("login: unreadable body", PATIENCE).await;
    app.wait_for_log("callback received", PATIENCE).await;
    let log = app.log_text();
    assert!(log.contains("path=/login"), "no request span with the path:\n{log}");
    assert!(log.contains("path=/callback"), "no request span with the path:\n{log}");
    for secret in ["447700900123", "7700900123", "c0de5ecret", "57a7e5ecret"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

/// The signing key lives in the store: a cookie one instance issued is a session on
/// another instance on the same Redis, and on no instance with a key of its own.
#[tokio::test]
async fn instances_on_one_redis_accept_each_others_session_cookies() {
    let redis = crate::helpers::redis::RedisServer::start();
    let url = redis.url();
    let first = TestApp::start(&[("REDIS_URL", url.as_str())]).await;
    let second = TestApp::start(&[("REDIS_URL", url.as_str())]).await;
    let elsewhere = TestApp::start(&[]).await;
    let client = manual_client();

    let start = form_start(&client, &first).send().await.unwrap();
    let issued = set_cookie(&start, "nv_session").expect("a session cookie");
    let on = |app: &TestApp| {
        form_start(&client, app)
            .header("cookie", format!("nv_session={issued}"))
            .send()
    };
    let again = on(&second).await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(
        set_cookie(&again, "nv_session"),
        None,
        "the other instance did not accept it"
    );
    let other = on(&elsewhere).await.unwrap();
    assert_eq!(other.status(), 302);
    let replaced = set_cookie(&other, "nv_session").expect("a store with another key issues its own");
    assert_ne!(replaced, issued);
}
