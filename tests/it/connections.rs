//! The accept loop's bounds over real TCP: connections capped in total and per address
//! (the excess closed at once), a client that stops reading closed by the write timeout,
//! and an attacker-chosen `Host` never logged whole.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::helpers::{
    process::{free_port, Process},
    TestApp,
};

/// Failure guard only: a connection the server should have closed but did not would
/// otherwise hang the test. Nothing asserts how fast anything happens.
const HANG_GUARD: Duration = Duration::from_secs(20);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// A connection from `source` (an address on loopback) to the app.
async fn connect_from(app: &TestApp, source: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr(app).parse().unwrap()).await.unwrap()
}

/// Sends one `GET /healthz` and reads until the server closes: empty when the server
/// closed the connection without answering.
async fn ask_health(mut stream: TcpStream, host: &str) -> String {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    // The server may already have closed: a failed write is an answer too.
    if stream.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed the connection");
    // A reset (the server closed with our request unread) is a refusal as well.
    if read.is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A connection the server has accepted and keeps (it sends half a request head).
async fn held(app: &TestApp, source: &str) -> TcpStream {
    let mut stream = connect_from(app, source).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    stream
}

#[tokio::test]
async fn past_max_connections_a_new_connection_is_closed_at_once() {
    let app = TestApp::start(&[("MAX_CONNECTIONS", "2"), ("REQUEST_TIMEOUT_MS", "30000")]).await;
    let host = addr(&app);
    let first = held(&app, "127.0.0.1").await;
    let _second = held(&app, "127.0.0.2").await;

    let refused = ask_health(connect_from(&app, "127.0.0.3").await, &host).await;
    assert_eq!(refused, "", "a third connection must be closed unanswered");

    // Once one closes, its place is free again: the count follows closed connections.
    drop(first);
    let served = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let answer = ask_health(connect_from(&app, "127.0.0.3").await, &host).await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a closed connection frees its place");
    assert!(served.ends_with("ok\n"), "{served}");
}

#[tokio::test]
async fn past_max_connections_per_client_that_address_is_refused_and_others_served() {
    let app = TestApp::start(&[("MAX_CONNECTIONS_PER_CLIENT", "2"), ("REQUEST_TIMEOUT_MS", "30000")]).await;
    let host = addr(&app);
    let _first = held(&app, "127.0.0.5").await;
    let _second = held(&app, "127.0.0.5").await;

    let refused = ask_health(connect_from(&app, "127.0.0.5").await, &host).await;
    assert_eq!(
        refused, "",
        "a third connection from one address must be closed unanswered"
    );
    let other = ask_health(connect_from(&app, "127.0.0.6").await, &host).await;
    assert!(other.starts_with("HTTP/1.1 200"), "another address is served: {other}");
}

/// A client that sends requests but never reads the answers is closed once a write has
/// waited `REQUEST_TIMEOUT_MS`: it cannot hold a connection (and a drain) forever.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed() {
    let app = TestApp::start(&[("REQUEST_TIMEOUT_MS", "300")]).await;
    let socket = TcpSocket::new_v4().unwrap();
    // A small receive window, so the server's writes block soon.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr(&app).parse().unwrap()).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", addr(&app));
    // Pipelined requests, never reading: the server must eventually refuse to wait and
    // close, which shows here as a failed write (reset or broken pipe).
    let closed = tokio::time::timeout(HANG_GUARD, async {
        loop {
            if stream.write_all(request.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a connection whose client never reads");
}

/// Any `Host` reaches the page's redirect: it is logged shortened, and not at info.
#[tokio::test]
async fn an_attacker_chosen_host_is_logged_shortened_and_not_at_info() {
    let long_host = format!("evil-{}.example", "a".repeat(300));
    for (level, expect_line) in [("info", false), ("debug", true)] {
        let port = free_port();
        let mut process = Process::spawn(
            "host-log",
            port,
            // SANDBOX=on: under auto a public Host is refused before the redirect.
            &[("RUST_LOG", level.into()), ("SANDBOX", "on".into())],
        );
        process.ready().await;
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/"))
            .header("host", &long_host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307);
        // Once the process has exited, everything it logged is in the file.
        process.terminate();
        process.wait_exit(HANG_GUARD).await.expect("the server exits");
        let log = process.log_text();
        assert!(!log.contains(&long_host), "the whole host is logged at {level}:\n{log}");
        assert_eq!(log.contains("another host name"), expect_line, "at {level}: {log}");
        if expect_line {
            assert!(log.contains(&long_host[..40]), "its start is kept: {log}");
        }
    }
}

/// A trusted proxy carries many people's connections: the per-client cap spares it.
#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_the_per_client_cap() {
    let app = TestApp::start(&[
        ("MAX_CONNECTIONS_PER_CLIENT", "1"),
        ("TRUSTED_PROXIES", "127.0.0.7"),
        ("REQUEST_TIMEOUT_MS", "30000"),
    ])
    .await;
    let host = addr(&app);
    let _held = held(&app, "127.0.0.7").await;
    let served = ask_health(connect_from(&app, "127.0.0.7").await, &host).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    let _other = held(&app, "127.0.0.8").await;
    let refused = ask_health(connect_from(&app, "127.0.0.8").await, &host).await;
    assert_eq!(refused, "", "an ordinary address is capped");
}
