//! The two systems in two processes: a `SANDBOX=only` virtual operator, and an app that
//! knows it only by the README's sandbox credentials and base URLs — exactly as it would
//! know a live operator. The tutorial client's sequence runs end to end across them.
#![cfg(feature = "sandbox")]

mod common;

use std::{
    fs::File,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{following_client, tutorial_client};
use number_verify::sandbox_shared::credentials;
use serde_json::{json, Value};

/// A server process, stopped when dropped.
struct Process {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Process {
    fn spawn(name: &str, port: u16, vars: &[(&str, String)]) -> Process {
        let base = format!("http://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("nv-{name}-{}-{port}.log", std::process::id()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_number-verify"));
        // Only what this test sets, from a directory without a .env file.
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("LEPTOS_OUTPUT_NAME", "number-verify")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("APP_PUBLIC_URL", &base)
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("a log file"));
        for (k, v) in vars {
            command.env(k, v);
        }
        let child = command.spawn().expect("start the server binary");
        Process { child, base, log }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/healthz` answers (bounded), or fails with the process's log.
    async fn ready(&mut self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}: {}", self.base, self.log_text());
            }
            if let Ok(r) = client.get(self.url("/healthz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never became healthy: {}", self.base, self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A port free right now (the process binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The operator alone, and the app pointed at it; both ready.
async fn start_both() -> (Process, Process) {
    let (operator_port, app_port) = (free_port(), free_port());
    let app_callback = format!("http://127.0.0.1:{app_port}/callback");
    let mut operator = Process::spawn(
        "operator",
        operator_port,
        &[("SANDBOX", "only".into()), ("SANDBOX_REDIRECT_URIS", app_callback)],
    );
    let operator_api = operator.url("/sandbox");
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
    let mut app = Process::spawn(
        "app",
        app_port,
        &[
            ("MC_API_BASE", operator_api.clone()),
            ("MC_CLIENT_ID", credentials::MC_CLIENT_ID.into()),
            ("MC_CLIENT_SECRET", credentials::MC_CLIENT_SECRET.into()),
            ("VONAGE_API_BASE", operator_api),
            ("VONAGE_APPLICATION_ID", credentials::VONAGE_APPLICATION_ID.into()),
            ("VONAGE_PRIVATE_KEY", key.into()),
        ],
    );
    operator.ready().await;
    app.ready().await;
    (operator, app)
}

#[tokio::test]
async fn the_tutorial_sequence_runs_across_two_processes() {
    let (operator, app) = start_both().await;

    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345678"}), &[]).await;
    assert_eq!((status, body), (200, json!({"devicePhoneNumberVerified": true})));
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99012345677"}), &[]).await;
    assert_eq!((status, body), (200, json!({"devicePhoneNumberVerified": false})));
    let (status, body) = tutorial_client(&app.base, json!({"phone": "+99011111199"}), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "operator_denied");
    assert!(body["message"].as_str().unwrap().contains("operator"), "{body}");

    // Mobile Connect too: the operator's default SIM.
    let (status, body) = tutorial_client(
        &app.base,
        json!({"phone": "+99012345678", "protocol": "mobile-connect"}),
        &[],
    )
    .await;
    assert_eq!((status, body), (200, json!({"devicePhoneNumberVerified": true})));

    // The URL the app hands out is the other process's.
    let login: Value = following_client(&[])
        .post(app.url("/login"))
        .json(&json!({"phone": "+99012345678"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        login["url"].as_str().unwrap().starts_with(&operator.url("/sandbox/")),
        "{login}"
    );
}

#[tokio::test]
async fn alone_the_virtual_operator_serves_no_page_and_no_api() {
    let (operator, app) = start_both().await;
    let client = common::manual_client();
    for (method, path) in [("GET", "/"), ("POST", "/login"), ("GET", "/callback")] {
        let r = client
            .request(method.parse().unwrap(), operator.url(path))
            .json(&json!({"phone": "+99012345678"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path} on the operator");
    }
    // And the app, built with the virtual operator, does not mount it when it has live
    // credentials: its page offers no simulated SIM.
    let page = client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Verify your phone number"), "{page}");
    assert!(!page.contains("Simulated SIM"), "{page}");
    let r = client
        .post(app.url("/sandbox/v0.1/network-enablement"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
