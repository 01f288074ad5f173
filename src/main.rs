//! Server entry: configuration → state → router → serve. With `SANDBOX=only` the process
//! is the virtual operator alone.

use std::process::ExitCode;

use axum::Router;
use leptos::config::get_configuration;
use number_verify::{
    config::{Config, SandboxMode},
    server::{router, serve_with_timeout},
    state::AppState,
};
use tracing_subscriber::EnvFilter;

/// mimalloc: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,number_verify=info")),
        )
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let app = match app_for(&config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let listener = match tokio::net::TcpListener::bind(config.site_addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {} (LEPTOS_SITE_ADDR): {e}", config.site_addr);
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        addr = %config.site_addr,
        public_url = %config.public_url,
        sandbox = ?config.sandbox,
        store = if config.redis_url.is_some() { "redis" } else { "memory" },
        "Number Verify listening"
    );

    // Graceful drain: on SIGTERM or SIGINT stop accepting connections, let requests in
    // flight finish within SHUTDOWN_GRACE_MS, then exit 0.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Idle, slow and half-open connections are closed after REQUEST_TIMEOUT_MS, so they
    // cannot hold the drain either.
    let mut server = tokio::spawn(serve_with_timeout(
        listener,
        app,
        async {
            let _ = stopped.await;
        },
        config.request_timeout,
    ));
    tokio::select! {
        ended = &mut server => return served(ended),
        signal = shutdown_signal() => {
            tracing::info!(%signal, grace_ms = config.shutdown_grace.as_millis() as u64, "draining: no new connections");
            let _ = stop.send(());
        }
    }
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(ended) => served(ended),
        Err(_) => {
            tracing::warn!("SHUTDOWN_GRACE_MS passed with requests still in flight; stopping now");
            server.abort();
            ExitCode::SUCCESS
        }
    }
}

/// How the server task ended.
fn served(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> ExitCode {
    match ended {
        Ok(Ok(())) => {
            tracing::info!("drained; bye");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("server error: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("server task failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// The first of SIGTERM (what containers and systemd send) and SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM ({e}); Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// The app, or in `SANDBOX=only` mode the virtual operator alone.
async fn app_for(config: &Config) -> Result<Router, String> {
    if config.sandbox == SandboxMode::Only {
        #[cfg(feature = "sandbox")]
        return Ok(number_verify::server::virtual_operator::router(config));
    }
    let mut leptos_options = get_configuration(None)
        .map_err(|e| format!("configuration error: Leptos settings: {e}"))?
        .leptos_options;
    leptos_options.site_addr = config.site_addr;
    let state = AppState::new(config.clone(), leptos_options).await?;
    Ok(router(state))
}
