//! What every handler and server function can reach. Imports no route.

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    config::Config,
    verification::{results::Results, Verifier, PENDING_TTL},
};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub verifier: Arc<Verifier>,
    /// Finished verifications, for the page of the browser that started them.
    pub results: Arc<Results>,
}

impl AppState {
    pub fn new(config: Config, leptos_options: LeptosOptions) -> Result<Self, String> {
        Self::with_pending_ttl(config, leptos_options, PENDING_TTL)
    }

    /// As `new`, with another lifetime for pending verifications (tests use a short one).
    pub fn with_pending_ttl(
        config: Config,
        leptos_options: LeptosOptions,
        pending_ttl: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            leptos_options,
            verifier: Arc::new(Verifier::with_pending_ttl(&config, pending_ttl)?),
            results: Arc::new(Results::default()),
            config: Arc::new(config),
        })
    }
}
