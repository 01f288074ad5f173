//! What every handler and server function can reach. Imports no route; built at
//! start-up (`startup::app_state`).

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{assets::Assets, config::Config, oidc::Provider, sessions::Sessions, verification::Verifier};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub verifier: Arc<Verifier>,
    /// Signs and checks session cookies, with the key every instance shares.
    pub sessions: Sessions,
    /// The static files, compressed once, under their hashed names.
    pub assets: Arc<Assets>,
    /// The OpenID Provider, when configured (always in sandbox mode).
    pub oidc: Option<Arc<Provider>>,
    /// What `METRICS_ADDR` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signed events to the integrator (`EVENTS_URL`), when configured.
    pub events: Option<Arc<crate::events::Events>>,
}
