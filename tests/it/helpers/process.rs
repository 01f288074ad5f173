//! The server binary as a real process: started with only the variables a test gives it,
//! its output in a log file of its own, stopped (SIGKILL) when dropped. For what only a
//! process shows: signals, exit codes, restarts, two systems in two processes.

use std::{
    fs::File,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use super::Server;

/// How often the bounded waits look again.
const POLL: Duration = Duration::from_millis(25);

/// A server process, stopped when dropped.
pub struct Process {
    child: Child,
    pub base: String,
    pub port: u16,
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
    /// Starts the binary on `127.0.0.1:<port>` (also its `APP_PUBLIC_URL`) with a cleared
    /// environment, `RUST_LOG=warn`, and `vars` (which may override any of these). Its
    /// stdout and stderr both go to its log file.
    pub fn spawn(name: &str, port: u16, vars: &[(&str, String)]) -> Process {
        // A log of its own even when a process is started again on the same port.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let base = format!("http://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!(
            "nv-{name}-{}-{port}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = File::create(&log).expect("a log file");
        let stdout = stderr.try_clone().expect("a second handle on the log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_number-verify"));
        // Only what this test sets, from a directory without a .env file.
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env("LEPTOS_OUTPUT_NAME", "number-verify")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("APP_PUBLIC_URL", &base)
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        for (k, v) in vars {
            command.env(k, v);
        }
        let child = command.spawn().expect("start the server binary");
        Process { child, base, port, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/healthz` answers (bounded), or fails with the process's log.
    pub async fn ready(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
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

    /// Sends SIGTERM, as a container runtime or systemd does.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.pid());
    }

    /// The exit status once the process has ended, or `None` if it is still running after
    /// `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the log contains `text` (bounded); fails with the log otherwise.
    pub async fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(text) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: no {text:?} in the log within {timeout:?}:\n{}",
                    self.base,
                    self.log_text()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Everything the process has written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Server for Process {
    fn base(&self) -> &str {
        &self.base
    }
}

/// A port free right now (the process binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Two different free ports: both listeners are held until both are known, so the
/// kernel cannot hand out the same port twice.
pub fn two_free_ports() -> (u16, u16) {
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    let second = TcpListener::bind("127.0.0.1:0").unwrap();
    (first.local_addr().unwrap().port(), second.local_addr().unwrap().port())
}

/// The virtual operator alone (`SANDBOX=only`), serving the app whose callback is
/// `app_callback`. Not yet ready: call `ready()`.
pub fn spawn_operator(operator_port: u16, app_callback: &str) -> Process {
    Process::spawn(
        "operator",
        operator_port,
        &[
            ("SANDBOX", "only".into()),
            ("SANDBOX_REDIRECT_URIS", app_callback.into()),
        ],
    )
}

/// The app, knowing the operator at `operator_base` only by the README's sandbox
/// credentials — exactly as it would know a live operator — plus `extra_vars`. Not yet
/// ready: call `ready()`.
pub fn spawn_app(app_port: u16, operator_base: &str, extra_vars: &[(&str, String)]) -> Process {
    Process::spawn("app", app_port, &app_vars(operator_base, extra_vars))
}

/// The app's variables: the operator's address and the README's sandbox credentials.
fn app_vars<'a>(operator_base: &str, extra_vars: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    use number_verify::sandbox_contract::credentials;
    let operator_api = format!("{}/sandbox", operator_base.trim_end_matches('/'));
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
    let mut vars = vec![
        ("MC_API_BASE", operator_api.clone()),
        ("MC_CLIENT_ID", credentials::MC_CLIENT_ID.into()),
        ("MC_CLIENT_SECRET", credentials::MC_CLIENT_SECRET.into()),
        ("VONAGE_API_BASE", operator_api),
        ("VONAGE_APPLICATION_ID", credentials::VONAGE_APPLICATION_ID.into()),
        ("VONAGE_PRIVATE_KEY", key.into()),
    ];
    vars.extend(extra_vars.iter().cloned());
    vars
}

/// The operator alone and the app pointed at it (`extra_vars` added), both ready.
pub async fn start_both(extra_vars: &[(&str, String)]) -> (Process, Process) {
    let (operator_port, app_port) = two_free_ports();
    let mut operator = spawn_operator(operator_port, &format!("http://127.0.0.1:{app_port}/callback"));
    let mut app = spawn_app(app_port, &operator.base, extra_vars);
    operator.ready().await;
    app.ready().await;
    (operator, app)
}
