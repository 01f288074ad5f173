//! Server entry: configuration → state → router → serve. With `SANDBOX=only` the process
//! is the virtual operator alone.

use std::process::ExitCode;

use axum::Router;
use leptos::config::get_configuration;
use number_verify::{
    config::{Config, SandboxMode},
    server::{router, serve},
    state::AppState,
};
use tracing_subscriber::EnvFilter;

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
    let app = match app_for(&config) {
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
        "Number Verify listening"
    );

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve(listener, app, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The app, or in `SANDBOX=only` mode the virtual operator alone.
fn app_for(config: &Config) -> Result<Router, String> {
    if config.sandbox == SandboxMode::Only {
        #[cfg(feature = "sandbox")]
        return Ok(number_verify::server::virtual_operator::router(config));
    }
    let mut leptos_options = get_configuration(None)
        .map_err(|e| format!("configuration error: Leptos settings: {e}"))?
        .leptos_options;
    leptos_options.site_addr = config.site_addr;
    let state = AppState::new(config.clone(), leptos_options).map_err(|e| format!("start-up error: {e}"))?;
    Ok(router(state))
}
