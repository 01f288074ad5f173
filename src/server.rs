//! The server: configuration → shared state → router.
//!
//! `main.rs` and the integration tests both build the server here, so tests exercise the
//! real router on an ephemeral port.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    compression::{CompressionLayer, CompressionLevel},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    app::{shell, App},
    config::{self, Config},
    handlers::{self, OutcomeStore},
    sandbox::{Sandbox, SandboxConfig},
    verification::Verifier,
};

/// What every handler and server function can reach.
#[derive(Clone, axum::extract::FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub verifier: Arc<Verifier>,
    pub outcomes: Arc<OutcomeStore>,
    /// The virtual operator, when mounted. The app never calls it directly.
    pub sandbox: Option<Sandbox>,
}

impl AppState {
    pub fn new(config: Config, leptos_options: LeptosOptions) -> Result<Self, String> {
        Self::with_pending_ttl(config, leptos_options, crate::verification::PENDING_TTL)
    }

    /// As `new`, with another lifetime for pending verifications (tests use a short one).
    pub fn with_pending_ttl(
        config: Config,
        leptos_options: LeptosOptions,
        pending_ttl: std::time::Duration,
    ) -> Result<Self, String> {
        let config = Arc::new(config);
        let sandbox = config.sandbox.then(|| Sandbox::new(sandbox_config(&config)));
        Ok(Self {
            leptos_options,
            verifier: Arc::new(Verifier::with_pending_ttl(config.clone(), pending_ttl)?),
            outcomes: handlers::new_outcome_store(),
            config,
            sandbox,
        })
    }
}

/// The virtual operator's registrations: its documented test client and application,
/// and the app's own callback as redirect URI.
fn sandbox_config(config: &Config) -> SandboxConfig {
    let mut redirect_uris = vec![config.redirect_uri()];
    redirect_uris.extend(config.sandbox_extra_redirect_uris.iter().cloned());
    SandboxConfig {
        public_base: format!("{}/sandbox", config.public_url),
        redirect_uris,
        default_sim: config.sandbox_default_sim.clone(),
        mc_client_id: config::SANDBOX_MC_CLIENT_ID.into(),
        mc_client_secret: config::SANDBOX_MC_CLIENT_SECRET.into(),
        vonage_application_id: config::SANDBOX_VONAGE_APPLICATION_ID.into(),
        vonage_public_key_pem: config::SANDBOX_VONAGE_PUBLIC_KEY.into(),
        store_cap: crate::sandbox::DEFAULT_STORE_CAP,
    }
}

/// The whole application: page, server functions, API, and (in sandbox mode) the
/// virtual operator under `/sandbox`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);

    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/callback", get(handlers::callback))
        .route("/login", axum::routing::post(handlers::login))
        // leptos_routes_with_context provides `AppState` to pages and server functions.
        .leptos_routes_with_context(&state, routes, || (), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        });
    if let Some(sandbox) = &state.sandbox {
        app = app.nest("/sandbox", sandbox.router().with_state(()));
    }
    app.fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), one_origin_for_pages))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // Operators see where the person came from only as our origin, never the query.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        // Brotli 9 / gzip 9: most of the size win of the maximum levels at a fraction of the CPU.
        .layer(CompressionLayer::new().quality(CompressionLevel::Precise(9)))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

/// A browser that opens the page under another host name (say `localhost` instead of
/// `127.0.0.1`) is sent to `APP_PUBLIC_URL` first: the page, the operator hop and the
/// callback must share one origin, or the callback would not see the page's cookie.
async fn one_origin_for_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_page = request.method() == axum::http::Method::GET && request.uri().path() == "/";
    if is_page {
        let public = &state.config.public_url;
        let public_authority = public.split_once("://").map(|(_, a)| a).unwrap_or(public);
        if let Some(host) = request_host(request.headers()) {
            if !host.eq_ignore_ascii_case(public_authority) {
                let target = match request.uri().query() {
                    Some(q) => format!("{public}/?{q}"),
                    None => format!("{public}/"),
                };
                tracing::info!(%host, "page requested under another host name; redirecting to APP_PUBLIC_URL");
                return Redirect::temporary(&target).into_response();
            }
        }
    }
    next.run(request).await
}

/// The host the browser asked for; behind a reverse proxy, the one it forwarded.
fn request_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or(v).trim())
}

/// Starts serving on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connection info gives handlers the client's address, for the rate limit.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
