//! Server entry: configuration → [`Application`] → serve until SIGTERM/SIGINT. With
//! `SANDBOX=only` the process is the virtual operator alone.

use std::process::ExitCode;

use number_verify::{
    config::Config,
    startup::{Application, StartupError},
    telemetry,
};

/// mimalloc: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let app = match Config::from_env().map_err(StartupError::from) {
        Ok(config) => Application::build(config).await,
        Err(e) => Err(e),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code());
        }
    };
    match app.run_until_signal().await {
        Ok(()) => {
            tracing::info!("drained; bye");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::from(1)
        }
    }
}
