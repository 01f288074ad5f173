//! Server entry: configuration → state → router → serve.

use std::process::ExitCode;

use leptos::config::get_configuration;
use number_verify::{
    config::Config,
    server::{router, serve, AppState},
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
    let mut leptos_options = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(e) => {
            eprintln!("configuration error: Leptos settings: {e}");
            return ExitCode::from(2);
        }
    };
    leptos_options.site_addr = config.site_addr;

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
        sandbox = config.sandbox,
        "Number Verify listening"
    );

    let state = match AppState::new(config, leptos_options) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("start-up error: {e}");
            return ExitCode::from(2);
        }
    };
    let app = router(state);
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
