//! The axum router and its middleware: the only file that wires routes. `main.rs` and
//! the integration tests both build the server here, so tests exercise the real router
//! on an ephemeral port.
//!
//! The HTTP edge (issue 10) lives here too: every request is bounded (body size, time,
//! header-read time), server functions refuse cross-site callers, and every answer gets
//! its security headers (CSP with the page's script nonce, HSTS under https, no-store
//! where an answer is someone's own).

use std::{
    convert::Infallible,
    future::{poll_fn, Future},
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{ConnectInfo, Request, State},
    http::{header, Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Version},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Router,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use leptos::server_fn::error::{FromServerFnError, ServerFnError, SERVER_FN_ERROR_HEADER};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::time::{timeout_at, Instant};
use tower::Layer;
use tower_http::{
    compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer, CompressionLevel,
    },
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    app::{shell, App},
    assets::Precompressed,
    config::Config,
    http::json_error,
    routes::{callback::callback, login::login},
    state::AppState,
};

/// The most a request body may hold, on every route. What this app is sent is small (a
/// phone number, a protocol, an OAuth code); 64 KiB leaves room for 10 KB fields to get
/// their own clear error rather than this one.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Dynamic answers smaller than this are sent as they are: under one TCP segment,
/// compressing saves no round trip.
const DYNAMIC_COMPRESSION_FROM: u16 = crate::page_compression::COMPRESS_FROM as u16;

/// Connections are bounded by this when the caller gives no `REQUEST_TIMEOUT_MS`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(15_000);

use crate::http::NONCE_HEADER;

/// The whole application: page, server functions, API, and (when mounted) the virtual
/// operator under `/sandbox`.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let edge = Edge::new(&state.config);

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
        .with_state(state);
    common_layers(app, edge)
}

/// Headers every answer gets, the edge's bounds, compression, and request tracing.
fn common_layers(app: Router, edge: Edge) -> Router {
    app.layer(middleware::from_fn_with_state(Arc::new(edge), self::edge))
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

/// A path as logs may show it: segments that are random ids (the virtual operator's
/// single-use hop ids, say) are replaced by `{id}`.
fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let mixed = segment.bytes().any(|b| b.is_ascii_digit())
                || (segment.bytes().any(|b| b.is_ascii_uppercase()) && segment.bytes().any(|b| b.is_ascii_lowercase()));
            let id_like = segment.len() >= 16
                && mixed
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if id_like {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
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

/// What the edge needs from the configuration, for the app and the virtual operator alone.
#[derive(Debug, Clone)]
pub struct Edge {
    request_timeout: Duration,
    /// `APP_PUBLIC_URL`'s origin: the one `Origin` server functions accept.
    origin: String,
    https: bool,
    /// Where a form on the page may lead: here, and the configured operators (the no-JS
    /// form is answered with a redirect to the operator, and browsers apply form-action
    /// to a form's redirects).
    form_action: String,
    /// `cargo leptos watch` only: the page's live-reload socket.
    reload_socket: Option<String>,
}

impl Edge {
    pub fn new(config: &Config) -> Self {
        let origin = origin_of(&config.public_url).unwrap_or_else(|| config.public_url.clone());
        let mut form_action = vec!["'self'".to_owned()];
        let operators = [
            config.mobile_connect.as_ref().map(|mc| mc.api_base.origin()),
            config.vonage.as_ref().map(|vg| vg.api_base.origin()),
            // Its authorization endpoint is discovered later; operators serve it from
            // the issuer's origin.
            config.camara_standard.as_ref().map(|c| c.issuer.origin()),
        ];
        for operator in operators.into_iter().flatten().filter(|o| o.is_tuple()) {
            let operator = operator.ascii_serialization();
            if operator != origin && !form_action.contains(&operator) {
                form_action.push(operator);
            }
        }
        let reload_socket = std::env::var("LEPTOS_WATCH").is_ok().then(|| {
            let host = config.site_addr.ip();
            "ws://".to_owned() + &SocketAddr::new(host, config.site_addr.port() + 1).to_string()
        });
        Self {
            request_timeout: config.request_timeout,
            https: origin.starts_with("https://"),
            origin,
            form_action: form_action.join(" "),
            reload_socket,
        }
    }

    /// The Content-Security-Policy: scripts from here only, the page's inline hydration
    /// script by its nonce, wasm compiled (`'wasm-unsafe-eval'`), no framing.
    fn content_security_policy(&self, nonce: Option<&str>) -> String {
        let scripts = match nonce {
            Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
            None => "'self' 'wasm-unsafe-eval'".to_owned(),
        };
        let connect = match &self.reload_socket {
            Some(socket) => format!("'self' {socket}"),
            None => "'self'".to_owned(),
        };
        format!(
            "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
             connect-src {connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
             form-action {}",
            self.form_action
        )
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin())
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization())
}

/// Every request, every route: server functions refuse cross-site callers; the body is
/// read up to [`BODY_LIMIT`] within `REQUEST_TIMEOUT_MS`, and the answer must come within
/// the same deadline; then the security headers.
async fn edge(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let deadline = Instant::now() + edge.request_timeout;
    let path = request.uri().path().to_owned();
    let shape = Shape::of(&path);

    let mut response = 'answer: {
        if shape == Shape::ServerFunction {
            if let Some(reason) = cross_site(&edge, request.headers()) {
                tracing::warn!(%path, reason, "cross-site server-function request refused");
                break 'answer refuse(
                    shape,
                    &path,
                    StatusCode::FORBIDDEN,
                    "cross_site",
                    "This request came from another site and was refused.",
                );
            }
        }
        let (parts, body) = request.into_parts();
        let body = match timeout_at(deadline, read_bounded(&parts.headers, body)).await {
            Ok(Ok(body)) => body,
            Ok(Err(BodyProblem::TooLarge)) => {
                tracing::info!(%path, limit = BODY_LIMIT, "request body too large; refused");
                break 'answer refuse(
                    shape,
                    &path,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    &format!("The request body is too large: at most {} KiB.", BODY_LIMIT / 1024),
                );
            }
            Ok(Err(BodyProblem::Unreadable)) => {
                tracing::info!(%path, "request body unreadable (the connection broke or the framing is wrong)");
                break 'answer refuse(
                    shape,
                    &path,
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    "The request body could not be read.",
                );
            }
            Err(_) => {
                tracing::info!(%path, timeout_ms = edge.request_timeout.as_millis() as u64, "request body too slow; refused");
                break 'answer refuse(
                    shape,
                    &path,
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "The request body did not arrive in time.",
                );
            }
        };
        let request = Request::from_parts(parts, Body::from(body));
        match timeout_at(deadline, next.run(request)).await {
            Ok(response) if shape == Shape::ServerFunction => bad_arguments_are_a_client_error(&path, response).await,
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(%path, timeout_ms = edge.request_timeout.as_millis() as u64, "request took longer than REQUEST_TIMEOUT_MS; abandoned");
                refuse(
                    shape,
                    &path,
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    "The server took too long to answer. Please try again.",
                )
            }
        }
    };
    secure_headers(&edge, &path, response.headers_mut());
    response
}

/// The error shape of a route: server functions answer as server functions do (the page
/// shows the message), everything else as the JSON API does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    ServerFunction,
    Json,
}

impl Shape {
    fn of(path: &str) -> Self {
        if path.starts_with("/api/") {
            Shape::ServerFunction
        } else {
            Shape::Json
        }
    }
}

fn refuse(shape: Shape, path: &str, status: StatusCode, code: &str, message: &str) -> Response {
    match shape {
        Shape::Json => json_error(status, code, message),
        Shape::ServerFunction => {
            let body = ServerFnError::new(message).ser();
            let mut response = (status, body).into_response();
            if let Ok(path) = HeaderValue::from_str(path) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(SERVER_FN_ERROR_HEADER), path);
            }
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    }
}

/// A server function's arguments that do not decode (a field missing, say) are the
/// caller's mistake: 400, not the 500 server_fn gives every error. Its message, which
/// names the field, is kept for the caller and not logged (it may quote the value).
async fn bad_arguments_are_a_client_error(path: &str, response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        tracing::warn!(%path, "server function error body unreadable");
        return refuse(
            Shape::ServerFunction,
            path,
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server could not answer.",
        );
    };
    if body.starts_with(b"Args|") || body.starts_with(b"Deserialization|") {
        tracing::info!(%path, "server function called with arguments that do not decode");
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(body))
}

/// Why a server-function request is cross-site, if it is: the browser says so
/// (`Sec-Fetch-Site`), or its `Origin` is not `APP_PUBLIC_URL`'s. No `Origin` at all
/// (a non-browser client, an old browser's plain form) is allowed: a browser making a
/// cross-site POST always sends one.
fn cross_site(edge: &Edge, headers: &HeaderMap) -> Option<&'static str> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case(b"cross-site")) {
        return Some("Sec-Fetch-Site: cross-site");
    }
    match headers.get(header::ORIGIN) {
        None => None,
        Some(origin) if origin.as_bytes().eq_ignore_ascii_case(edge.origin.as_bytes()) => None,
        Some(_) => Some("Origin is not APP_PUBLIC_URL"),
    }
}

enum BodyProblem {
    TooLarge,
    Unreadable,
}

/// The whole body, or `TooLarge` as soon as it (or its declared length) passes the limit.
async fn read_bounded(headers: &HeaderMap, body: Body) -> Result<Bytes, BodyProblem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(BodyProblem::TooLarge);
    }
    let mut body = body;
    let mut buffer = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| BodyProblem::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > BODY_LIMIT {
                return Err(BodyProblem::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buffer))
}

/// Security headers on every answer: the CSP (with the page's script nonce when it has
/// one), HSTS under https, and no-store where an answer is someone's own (the page, which
/// shows results and carries a one-response nonce; the callback; the API; server
/// functions).
fn secure_headers(edge: &Edge, path: &str, headers: &mut HeaderMap) {
    let nonce = headers
        .remove(NONCE_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    if nonce.is_some() || !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(policy) = HeaderValue::from_str(&edge.content_security_policy(nonce.as_deref())) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    if edge.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if matches!(path, "/" | "/callback" | "/login") || path.starts_with("/api/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
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
            camara_client_id: credentials::CAMARA_CLIENT_ID.into(),
            camara_client_key_id: credentials::CAMARA_CLIENT_KEY_ID.into(),
            camara_client_public_key_pem: credentials::CAMARA_CLIENT_PUBLIC_KEY.into(),
            store_cap: DEFAULT_STORE_CAP,
        })
    }

    /// `SANDBOX=only`: the virtual operator alone, under `/sandbox`, with `/healthz`; no
    /// page and no API.
    pub fn router(config: &Config) -> Router {
        let app = Router::new()
            .route("/healthz", get(super::healthz))
            .nest(MOUNT, sandbox(config).router());
        super::common_layers(app, super::Edge::new(config))
    }
}

/// Starts serving on `listener` until `shutdown` resolves, with the default
/// [`DEFAULT_REQUEST_TIMEOUT`] for idle and slow connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_timeout(listener, app, shutdown, DEFAULT_REQUEST_TIMEOUT).await
}

/// Starts serving on `listener` until `shutdown` resolves, then lets every connection
/// finish its request in flight and returns. A connection that has not sent a complete
/// request head within `header_timeout` (a new one, a half-open one, an idle keep-alive)
/// is closed: axum::serve has no such bound, and one silent client would hold a drain.
pub async fn serve_with_timeout(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    // HTTP/1 only, as before: the version sniffing of the auto builder has no timeout.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let (closing, closing_seen) = tokio::sync::watch::channel(false);
    // Every connection task holds a sender; `recv` answers `None` once all have ended.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<Infallible>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Connection info gives handlers the client's address, for the rate limit.
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
        let builder = builder.clone();
        let mut closing = closing_seen.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            // `map`: the watch guard must not live across the await below.
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = async { closing.wait_for(|closing| *closing).await.map(|_| ()).unwrap_or(()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    drop(open);
    let _ = all_closed.recv().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_paths_hide_random_ids_only() {
        use super::loggable_path;
        assert_eq!(
            loggable_path("/sandbox/hop/1kvpBigKOgTxJPkGVT2eICn-"),
            "/sandbox/hop/{id}"
        );
        assert_eq!(
            loggable_path("/sandbox/hop/pIuJNNOmVmvyRsuUKLUwyjbc"),
            "/sandbox/hop/{id}"
        );
        for path in [
            "/",
            "/callback",
            "/api/start",
            "/pkg/number-verify.wasm",
            "/sandbox/camara/number-verification/v031/verify",
            "/sandbox/deviceinitiated/v1/authorize",
        ] {
            assert_eq!(loggable_path(path), path);
        }
    }

    use super::*;

    fn edge(vars: &[(&str, &str)]) -> Edge {
        let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .expect("a valid configuration");
        Edge::new(&config)
    }

    #[test]
    fn forms_may_lead_here_and_to_the_configured_operators_only() {
        let live = edge(&[
            ("APP_PUBLIC_URL", "https://verify.example.com"),
            ("MC_API_BASE", "https://mc.operator.example/api/v1"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "secret"),
        ]);
        let policy = live.content_security_policy(Some("n0nce"));
        assert!(
            policy.ends_with("form-action 'self' https://mc.operator.example"),
            "{policy}"
        );
        assert!(
            policy.contains("script-src 'self' 'nonce-n0nce' 'wasm-unsafe-eval';"),
            "{policy}"
        );
        assert!(live.https);
        assert_eq!(live.origin, "https://verify.example.com");

        // The mounted virtual operator is this origin: nothing else is allowed.
        let sandbox = edge(&[("APP_PUBLIC_URL", "http://127.0.0.1:3000")]);
        let policy = sandbox.content_security_policy(None);
        assert!(policy.ends_with("form-action 'self'"), "{policy}");
        assert!(!policy.contains("nonce"), "{policy}");
        assert!(!sandbox.https);
    }

    #[test]
    fn server_functions_accept_this_origin_or_none_only() {
        let edge = edge(&[("APP_PUBLIC_URL", "http://127.0.0.1:3000")]);
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, HeaderValue::from_static(v));
            }
            map
        };
        assert_eq!(cross_site(&edge, &headers(&[])), None);
        assert_eq!(
            cross_site(&edge, &headers(&[("origin", "http://127.0.0.1:3000")])),
            None
        );
        assert_eq!(cross_site(&edge, &headers(&[("sec-fetch-site", "same-origin")])), None);
        assert!(cross_site(&edge, &headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&edge, &headers(&[("origin", "http://localhost:3000")])).is_some());
        assert!(cross_site(&edge, &headers(&[("origin", "null")])).is_some());
    }
}
