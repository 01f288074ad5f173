//! Start-up refuses bad configuration with a message naming the variable, and exits.
//!
//! A small binary of its own: `scripts/test.sh` also runs it against the server built
//! without the virtual operator (`cargo test --no-default-features --features ssr --test
//! startup`), where the app's tests (`tests/it/`, which need the virtual operator) are
//! not built. So it carries only the little it needs: a free port and a server process.

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// How long a refused start-up may take; a server still running then was not refused.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(20);

/// A port free right now (the server binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary with only the variables a test gives it, from a directory without a
/// .env file, listening on `127.0.0.1:<port>`; its stdout and stderr each in a file of
/// their own. Killed when dropped.
struct Server {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stdout);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

impl Server {
    fn spawn(port: u16, vars: &[(&str, &str)]) -> Server {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "nv-startup-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let stdout = std::env::temp_dir().join(format!("{name}.stdout"));
        let stderr = std::env::temp_dir().join(format!("{name}.stderr"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_number-verify"));
        // No inherited variables, and a directory without a .env file.
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::from(File::create(&stdout).expect("a file for stdout")))
            .stderr(Stdio::from(File::create(&stderr).expect("a file for stderr")));
        for (k, v) in vars {
            command.env(k, v);
        }
        command.env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"));
        let child = command.spawn().expect("run the server binary");
        Server { child, stdout, stderr }
    }

    /// Its exit code, or `None` if it still runs at `deadline` (then it is killed).
    fn exit_code(&mut self, deadline: Duration) -> Option<i32> {
        let deadline = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What it wrote to stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// For the start-up that succeeds (the virtual operator is in the binary).
#[cfg(feature = "sandbox")]
impl Server {
    /// Everything it wrote so far: stdout, then stderr.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default() + &self.stderr()
    }

    /// Waits until `{base}/healthz` answers (bounded), or fails with its output.
    async fn ready(&mut self, base: &str) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{base} exited with {status}: {}", self.output());
            }
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{base} never became healthy: {}", self.output());
    }
}

/// Runs the server binary with only `vars` and returns its exit code and stderr. A
/// server that starts instead of refusing is killed at [`REFUSAL_DEADLINE`] and reported
/// as `None` (as root, even port 1 can be bound, so "it cannot listen" proves nothing).
fn start_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut server = Server::spawn(free_port(), vars);
    let code = server.exit_code(REFUSAL_DEADLINE);
    (code, server.stderr())
}

#[test]
fn an_unreadable_vonage_key_stops_start_up_naming_the_variable() {
    let (code, stderr) = start_with(&[
        ("VONAGE_API_BASE", "https://api.example.com"),
        ("VONAGE_APPLICATION_ID", "app"),
        ("VONAGE_PRIVATE_KEY", "/nonexistent/private.key"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("VONAGE_PRIVATE_KEY"), "{stderr}");
    assert!(stderr.contains("cannot read the key file"), "{stderr}");
}

#[test]
fn a_key_that_is_not_rsa_pem_stops_start_up() {
    let dir = std::env::temp_dir().join(format!("nv-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("bad.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let (code, stderr) = start_with(&[
        ("VONAGE_API_BASE", "https://api.example.com"),
        ("VONAGE_APPLICATION_ID", "app"),
        ("VONAGE_PRIVATE_KEY", key.to_str().unwrap()),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("VONAGE_PRIVATE_KEY") && stderr.contains("RSA private key"),
        "{stderr}"
    );
}

#[test]
fn a_bad_variable_is_named() {
    let (code, stderr) = start_with(&[("OPERATOR_TIMEOUT_MS", "soon")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("OPERATOR_TIMEOUT_MS"), "{stderr}");
}

/// Built without the virtual operator (`--no-default-features --features ssr`), the
/// server refuses every mode that asks for it, and says why.
#[cfg(not(feature = "sandbox"))]
#[test]
fn a_server_built_without_the_virtual_operator_refuses_to_run_one() {
    for mode in ["on", "only"] {
        let (code, stderr) = start_with(&[
            ("SANDBOX", mode),
            ("SANDBOX_REDIRECT_URIS", "http://127.0.0.1:3000/callback"),
        ]);
        assert_eq!(code, Some(2), "SANDBOX={mode}: {stderr}");
        assert!(
            stderr.contains("SANDBOX") && stderr.contains("built without"),
            "SANDBOX={mode}: {stderr}"
        );
    }
    // With nothing configured there is no operator at all: a clear error, not a sandbox.
    let (code, stderr) = start_with(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no operator is configured"), "{stderr}");
}

/// `SANDBOX=only` needs to know whose callbacks it serves.
#[cfg(feature = "sandbox")]
#[test]
fn the_virtual_operator_alone_needs_its_redirect_uris() {
    let (code, stderr) = start_with(&[("SANDBOX", "only")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SANDBOX_REDIRECT_URIS"), "{stderr}");
}

/// A Redis that does not answer stops start-up (a store that drops every flow would be
/// worse than no server), naming the variable. With the virtual operator, so that the
/// store is the only thing wrong.
#[cfg(feature = "sandbox")]
#[test]
fn a_redis_that_does_not_answer_stops_start_up() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let (code, stderr) = start_with(&[("REDIS_URL", &url)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("REDIS_URL does not lead to a working Redis"),
        "{stderr}"
    );
    let seeds = format!("redis://127.0.0.1:{port}");
    let (code, stderr) = start_with(&[("REDIS_CLUSTER_URLS", &seeds)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("REDIS_CLUSTER_URLS does not lead to a working Redis"),
        "{stderr}"
    );
}

#[cfg(feature = "sandbox")]
#[test]
fn a_redis_url_that_is_not_one_is_named() {
    let (code, stderr) = start_with(&[("REDIS_URL", "localhost:6379")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

/// Fail closed: a public deployment whose operator secrets did not load must not fall
/// back to the virtual operator (which "verifies" any number anyone asks for). It stops,
/// naming what to set.
#[cfg(feature = "sandbox")]
#[test]
fn a_public_url_without_operator_credentials_stops_start_up() {
    for mode in [None, Some("auto")] {
        let mut vars = vec![("APP_PUBLIC_URL", "https://verify.example.com")];
        vars.extend(mode.map(|m| ("SANDBOX", m)));
        let (code, stderr) = start_with(&vars);
        assert_eq!(code, Some(2), "SANDBOX={mode:?}: {stderr}");
        for name in [
            "MC_API_BASE",
            "MC_CLIENT_ID",
            "MC_CLIENT_SECRET",
            "VONAGE_API_BASE",
            "VONAGE_APPLICATION_ID",
            "VONAGE_PRIVATE_KEY",
            "SANDBOX=on",
        ] {
            assert!(stderr.contains(name), "SANDBOX={mode:?}: no {name} in {stderr}");
        }
    }
}

/// Credentials and tokens are never sent in clear: a live operator's base URL that is
/// `http://` to anything but this machine stops start-up, naming the variable.
#[test]
fn an_http_operator_base_stops_start_up_naming_the_variable() {
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
    let cases: [(&[(&str, &str)], &str); 2] = [
        (
            &[
                ("MC_API_BASE", "http://operator.example"),
                ("MC_CLIENT_ID", "id"),
                ("MC_CLIENT_SECRET", "secret"),
            ],
            "MC_API_BASE",
        ),
        (
            &[
                ("VONAGE_API_BASE", "http://operator.example"),
                ("VONAGE_APPLICATION_ID", "app"),
                ("VONAGE_PRIVATE_KEY", key),
            ],
            "VONAGE_API_BASE",
        ),
    ];
    for (vars, name) in cases {
        let (code, stderr) = start_with(vars);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains("https://"), "{stderr}");
        assert!(!stderr.contains("secret"), "no credential in the message: {stderr}");
    }
}

/// On a laptop (`APP_PUBLIC_URL` on loopback `http://`, no credentials) `SANDBOX=auto`
/// runs the virtual operator, and the start-up log says which operator answers each
/// protocol — without any credential.
#[cfg(feature = "sandbox")]
#[tokio::test]
async fn auto_on_loopback_runs_with_the_virtual_operator_and_says_so() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut app = Server::spawn(
        port,
        &[
            ("APP_PUBLIC_URL", &base),
            ("LEPTOS_OUTPUT_NAME", "number-verify"),
            ("NO_COLOR", "1"),
            ("SANDBOX", "auto"),
            ("RUST_LOG", "info"),
        ],
    );
    app.ready(&base).await;
    // The virtual operator is mounted: its authorize endpoint answers an unknown client
    // with its own 400 page (without it, the path is the app's 404).
    let r = reqwest::get(format!("{base}/sandbox/deviceinitiated/v1/authorize?client_id=nobody"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let log = app.output();
    for protocol in ["Mobile Connect", "CAMARA"] {
        let line = log
            .lines()
            .find(|l| l.contains("operator for protocol") && l.contains(&format!("protocol=\"{protocol}\"")))
            .unwrap_or_else(|| panic!("no start-up line for {protocol}: {log}"));
        assert!(line.contains("virtual operator (test results)"), "{line}");
        assert!(line.contains(&base), "the origin it uses: {line}");
    }
    assert!(
        !log.contains(number_verify::sandbox_contract::credentials::MC_CLIENT_SECRET),
        "no secret in the log: {log}"
    );
}

/// The standard CAMARA operator's OpenID discovery is read before the server listens: an
/// issuer that does not answer stops start-up, naming `CAMARA_ISSUER`.
#[test]
fn an_unreachable_camara_issuer_stops_start_up_naming_it() {
    let issuer = format!("http://127.0.0.1:{}/oidc", free_port());
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/camara-client-private.pem");
    let (code, stderr) = start_with(&[
        ("CAMARA_ISSUER", &issuer),
        ("CAMARA_API_ROOT", "http://127.0.0.1:9/camara"),
        ("CAMARA_CLIENT_ID", "client-1"),
        ("CAMARA_CLIENT_KEY", key),
        ("CAMARA_CLIENT_KEY_ID", "kid-1"),
        ("OPERATOR_TIMEOUT_MS", "2000"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("CAMARA_ISSUER"), "{stderr}");
    assert!(stderr.contains("discovery"), "{stderr}");
    assert!(stderr.contains(&issuer), "the issuer it tried: {stderr}");
}

#[test]
fn a_bad_relying_parties_file_stops_start_up_naming_it() {
    let (code, stderr) = start_with(&[("RELYING_PARTIES", "/no/such/relying-parties.toml")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("RELYING_PARTIES"), "{stderr}");
    let (code, stderr) = start_with(&[("OIDC_SIGNING_KEYS", "k1=/no/such/key.pem")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("OIDC_SIGNING_KEYS"), "{stderr}");
}
