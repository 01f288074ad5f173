//! The router: every route of the app and the layers every answer passes through.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, Extensions, HeaderMap, HeaderValue, StatusCode, Version},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer, CompressionLevel,
    },
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use super::{
    client::{resolve_client, ClientResolver, Proxies},
    edge::{self, Edge},
};
use crate::{
    app::{shell, App},
    assets::Precompressed,
    routes::{
        callback::callback,
        handoff,
        health::app_health,
        login::login,
        oidc::{authorize, discovery, token, userinfo},
    },
    state::AppState,
    telemetry::loggable_path,
};

/// Dynamic answers smaller than this are sent as they are: under one TCP segment,
/// compressing saves no round trip.
const DYNAMIC_COMPRESSION_FROM: u16 = crate::page_compression::COMPRESS_FROM as u16;

/// The whole application: page, server functions, API, and (when mounted) the virtual
/// operator under `/sandbox`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let edge = Edge::new(&state.config);

    let app = Router::new()
        .route("/healthz", get(app_health))
        .route("/callback", get(callback))
        .route("/login", post(login))
        // The one-time code, the last channel (JSON for the API, forms for the page).
        .route("/code/send", post(crate::routes::code::send))
        .route("/code/check", post(crate::routes::code::check))
        .route("/code/cancel", post(crate::routes::code::cancel))
        // The desktop's live handoff status (server-sent events).
        .route("/handoff/events", get(handoff::events))
        // The OpenID Provider (404 when it is off). GET /authorize is a page (below).
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route("/authorize", post(authorize::authorize))
        .route("/token", post(token::token))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        // leptos_routes_with_context provides `AppState` to pages and server functions.
        .leptos_routes_with_context(&state, routes, || (), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        });
    #[cfg(feature = "sandbox")]
    let app = match state.config.sandbox {
        crate::config::SandboxMode::Mounted => app.nest(
            crate::sandbox_contract::MOUNT,
            super::virtual_operator::sandbox(&state.config).router().with_state(()),
        ),
        _ => app,
    };
    // The static files, from memory, compressed once (`assets`); anything else not
    // routed gets Leptos' handler (files added since start-up, then the 404 page).
    let app = state.assets.routes().fold(app, |app, (path, served)| {
        let served = served.clone();
        app.route(
            path,
            get(move |headers: HeaderMap| async move { served.respond(&headers).await }),
        )
    });
    let app = app
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), one_origin_for_pages))
        .layer(middleware::from_fn_with_state(
            Arc::new(ClientResolver::new(Proxies::from_config(&state.config))),
            resolve_client,
        ));
    // Outside the client resolver, which writes X-Forwarded-For: this sees the request's own.
    let app = if state.config.sandbox_local_only {
        app.layer(middleware::from_fn(super::local_only::local_only))
    } else {
        app
    };
    let app = app.with_state(state);
    common_layers(app, edge)
}

/// Headers every answer gets, the edge's bounds, compression, and request tracing.
pub(super) fn common_layers(app: Router, edge: Edge) -> Router {
    app.layer(middleware::from_fn_with_state(Arc::new(edge), edge::edge))
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
        // Pages are gzipped whole (`page_compression`); static files come compressed
        // (`assets`). Other dynamic answers (JSON) are compressed as they stream, gzip at
        // the fastest level, from one packet up: brotli's fast levels are no smaller on
        // a few KB and cost more.
        .layer(middleware::from_fn(crate::page_compression::gzip_pages))
        .layer(
            CompressionLayer::new()
                .no_br()
                .quality(CompressionLevel::Fastest)
                .compress_when(
                    SizeAbove::new(DYNAMIC_COMPRESSION_FROM)
                        .and(NotForContentType::IMAGES)
                        .and(NotForContentType::SSE)
                        .and(NotForContentType::const_new("text/html"))
                        .and(|_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions| {
                            extensions.get::<Precompressed>().is_none()
                        }),
                ),
        )
        // The path only: queries carry codes, states, result ids and login hints.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::debug_span!("request", method = %request.method(), path = %loggable_path(request.uri().path()))
        }))
}

/// A browser that opens the page under another host name (say `localhost` instead of
/// `127.0.0.1`) is sent to `APP_PUBLIC_URL` first: the page, the operator hop and the
/// callback must share one origin, or the callback would not see the page's cookie.
async fn one_origin_for_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The hosted page and the phone's handoff page too: their forms, the operator hop and
    // the callback share the cookie.
    let is_page =
        request.method() == axum::http::Method::GET && matches!(request.uri().path(), "/" | "/authorize" | "/handoff");
    if is_page {
        let public = &state.config.public_url;
        let public_authority = public.split_once("://").map(|(_, a)| a).unwrap_or(public);
        if let Some(host) = request_host(request.headers()) {
            if !host.eq_ignore_ascii_case(public_authority) {
                let path = request.uri().path();
                let target = match request.uri().query() {
                    Some(q) => format!("{public}{path}?{q}"),
                    None => format!("{public}{path}"),
                };
                // Anyone can send any Host: shortened and escaped, and at debug, so a
                // client cannot fill the log or write into it.
                tracing::debug!(
                    host = ?shortened(host),
                    "page requested under another host name; redirecting to APP_PUBLIC_URL"
                );
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

/// The most of a client-chosen value the log keeps.
const LOGGED_HOST_CHARS: usize = 64;

/// `host` cut to [`LOGGED_HOST_CHARS`] characters, marked when cut.
fn shortened(host: &str) -> String {
    match host.char_indices().nth(LOGGED_HOST_CHARS) {
        Some((cut, _)) => format!("{}…", &host[..cut]),
        None => host.to_owned(),
    }
}
