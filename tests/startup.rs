//! Start-up refuses bad configuration with a message naming the variable, and exits.

use std::process::Command;

fn start_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_number-verify"));
    // No inherited variables, and a directory without a .env file.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    for (k, v) in vars {
        command.env(k, v);
    }
    // Port 1 is never ours to bind; a config error must stop the server before that.
    command.env("LEPTOS_SITE_ADDR", "127.0.0.1:1");
    let output = command.output().expect("run the server binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

#[cfg(feature = "sandbox")]
#[test]
fn a_redis_url_that_is_not_one_is_named() {
    let (code, stderr) = start_with(&[("REDIS_URL", "localhost:6379")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}
