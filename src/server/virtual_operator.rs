//! The virtual operator's wiring: the one place the app's configuration meets it.

use axum::{routing::get, Router};

use crate::{
    config::{Config, SandboxMode},
    sandbox::{Sandbox, SandboxConfig, DEFAULT_STORE_CAP},
    sandbox_contract::{credentials, MOUNT},
};

/// The virtual operator for this configuration: registered with the documented test
/// client and application; mounted, it accepts the app's own callback (plus
/// `SANDBOX_REDIRECT_URIS`); alone, exactly `SANDBOX_REDIRECT_URIS`.
pub fn sandbox(config: &Config) -> Sandbox {
    let redirect_uris = match config.sandbox {
        SandboxMode::Only => config.sandbox_redirect_uris.clone(),
        _ => std::iter::once(config.redirect_uri().as_str().to_owned())
            .chain(config.sandbox_redirect_uris.iter().cloned())
            .collect(),
    };
    Sandbox::new(SandboxConfig {
        public_base: config.sandbox_public_base(),
        redirect_uris,
        default_sim: config.sandbox_default_sim.clone(),
        mc_client_id: credentials::MC_CLIENT_ID.into(),
        mc_client_secret: credentials::MC_CLIENT_SECRET.into(),
        vonage_application_id: credentials::VONAGE_APPLICATION_ID.into(),
        vonage_public_key_pem: credentials::VONAGE_PUBLIC_KEY.into(),
        camara_client_id: credentials::CAMARA_CLIENT_ID.into(),
        camara_client_key_id: credentials::CAMARA_CLIENT_KEY_ID.into(),
        camara_client_public_key_pem: credentials::CAMARA_CLIENT_PUBLIC_KEY.into(),
        sms_api_key: credentials::SMS_API_KEY.into(),
        sms_api_secret: credentials::SMS_API_SECRET.into(),
        store_cap: DEFAULT_STORE_CAP,
    })
}

/// `SANDBOX=only`: the virtual operator alone, under `/sandbox`, with `/healthz`; no
/// page and no API.
pub fn router(config: &Config) -> Router {
    let app = Router::new()
        .route("/healthz", get(crate::routes::health::healthz))
        .nest(MOUNT, sandbox(config).router());
    super::router::common_layers(app, super::edge::Edge::new(config))
}
