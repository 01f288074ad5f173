//! What every handler and server function can reach. Imports no route.

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    assets::Assets,
    config::Config,
    http::Sessions,
    startup::StartupError,
    verification::{
        store::{Settings, Store},
        Verifier, PENDING_TTL, RESULT_TTL,
    },
};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub verifier: Arc<Verifier>,
    /// Signs and checks session cookies, with the key every instance shares.
    pub sessions: Sessions,
    /// The static files, compressed once, under their hashed names.
    pub assets: Arc<Assets>,
}

impl AppState {
    /// The state over the configured store: Redis when `REDIS_URL` is set (which must
    /// answer now), else this process's memory.
    pub async fn new(config: Config, leptos_options: LeptosOptions) -> Result<Self, StartupError> {
        Self::with_pending_ttl(config, leptos_options, PENDING_TTL).await
    }

    /// As `new`, with another lifetime for pending verifications (tests use a short one).
    pub async fn with_pending_ttl(
        config: Config,
        mut leptos_options: LeptosOptions,
        pending_ttl: Duration,
    ) -> Result<Self, StartupError> {
        let store = connect_store(&config, pending_ttl).await?;
        let sessions = session_signer(&config, &store).await?;
        // Under `cargo leptos watch` the files change while the server runs (the
        // stylesheet is swapped without a restart): they are served from disk as built.
        let assets = if std::env::var_os("LEPTOS_WATCH").is_some() {
            Assets::default()
        } else {
            Assets::load(
                std::path::Path::new(&*leptos_options.site_root),
                &leptos_options.site_pkg_dir,
                &leptos_options.output_name,
            )
        };
        assets.precompress_in_background();
        // The hydration scripts load `{output_name}.js` and `.wasm`: the hashed names.
        if let Some(bundle) = assets.bundle_name() {
            leptos_options.output_name = bundle.into();
        }
        let verifier = Verifier::new(&config, store)?;
        verifier
            .discover_at_start_up(&config)
            .await
            .map_err(|(issuer, failure)| StartupError::Discovery {
                issuer,
                failure: failure.to_string(),
            })?;
        let verifier = Arc::new(verifier);
        Verifier::refresh_discovery(&verifier);
        Ok(Self {
            leptos_options,
            sessions,
            assets: Arc::new(assets),
            verifier,
            config: Arc::new(config),
        })
    }
}

/// The store `config` asks for; a Redis that does not answer stops start-up, named.
pub async fn connect_store(config: &Config, pending_ttl: Duration) -> Result<Store, StartupError> {
    let settings = Settings {
        pending_ttl,
        result_ttl: RESULT_TTL,
        starts_per_minute: config.rate_limit_per_minute,
        max_pending_per_client: config.max_pending_per_client,
        max_pending: config.max_pending,
    };
    match &config.redis_url {
        None => Ok(Store::memory(settings)),
        Some(url) => Store::redis(url.secret(), &config.redis_prefix, settings)
            .await
            .map_err(StartupError::Redis),
    }
}

/// The session signer, its key from the store (shared by every instance on one Redis).
async fn session_signer(config: &Config, store: &Store) -> Result<Sessions, StartupError> {
    let key = store.session_key().await.map_err(StartupError::SessionKey)?;
    Sessions::new(&key, config.public_url.starts_with("https://")).map_err(StartupError::Sessions)
}
