//! The axum router and its middleware: the only file that wires routes. `main.rs` and
//! the integration tests both build the server here, so tests exercise the real router
//! on an ephemeral port.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    compression::{CompressionLayer, CompressionLevel},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    app::{shell, App},
    routes::{callback::callback, login::login},
    state::AppState,
};

/// The whole application: page, server functions, API, and (when mounted) the virtual
/// operator under `/sandbox`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);

    let app = Router::new()
        .route("/healthz", get(app_health))
        .route("/callback", get(callback))
        .route("/login", post(login))
        // leptos_routes_with_context provides `AppState` to pages and server functions.
        .leptos_routes_with_context(&state, routes, || (), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        });
    #[cfg(feature = "sandbox")]
    let app = match state.config.sandbox {
        crate::config::SandboxMode::Mounted => app.nest(
            crate::sandbox_shared::MOUNT,
            virtual_operator::sandbox(&state.config).router().with_state(()),
        ),
        _ => app,
    };
    let app = app
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), one_origin_for_pages))
        .with_state(state);
    common_layers(app)
}

/// Headers every answer gets, compression, and request tracing.
fn common_layers(app: Router) -> Router {
    app.layer(SetResponseHeaderLayer::if_not_present(
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
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

/// `/healthz` of the app: `200 ok` while its store answers, else `503` with the reason,
/// so a load balancer stops sending people to an instance that cannot keep their flow.
async fn app_health(State(state): State<AppState>) -> Response {
    match state.verifier.health().await {
        Ok(()) => healthz().await.into_response(),
        Err(e) => {
            tracing::warn!(reason = %e, "health check: the store does not answer");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                format!("{e}\n"),
            )
                .into_response()
        }
    }
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

/// The virtual operator's wiring: the one place the app's configuration meets it.
#[cfg(feature = "sandbox")]
pub mod virtual_operator {
    use axum::{routing::get, Router};

    use crate::{
        config::{Config, SandboxMode},
        sandbox::{Sandbox, SandboxConfig, DEFAULT_STORE_CAP},
        sandbox_shared::{credentials, MOUNT},
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
            store_cap: DEFAULT_STORE_CAP,
        })
    }

    /// `SANDBOX=only`: the virtual operator alone, under `/sandbox`, with `/healthz`; no
    /// page and no API.
    pub fn router(config: &Config) -> Router {
        let app = Router::new()
            .route("/healthz", get(super::healthz))
            .nest(MOUNT, sandbox(config).router());
        super::common_layers(app)
    }
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
