//! The HTTP edge: every request is bounded (body size, time), server functions refuse
//! cross-site callers, and every answer gets its security headers (CSP with the page's
//! script nonce, HSTS under https, no-store where an answer is someone's own).

use std::{future::poll_fn, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes, HttpBody},
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::error::{FromServerFnError, ServerFnError, SERVER_FN_ERROR_HEADER};
use tokio::time::{timeout_at, Instant};

use crate::{
    config::Config,
    http::{json_error, NONCE_HEADER},
};

/// The most a request body may hold, on every route. What this app is sent is small (a
/// phone number, a protocol, an OAuth code); 64 KiB leaves room for 10 KB fields to get
/// their own clear error rather than this one.
pub const BODY_LIMIT: usize = 64 * 1024;

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
        // The hosted page's forms end at a relying party's redirect URI (the code, an
        // error, or a cancel), and form-action covers a form's redirects.
        for relying_party in config.oidc.iter().flat_map(|o| o.clients.redirect_origins()) {
            if relying_party != origin && !form_action.contains(&relying_party) {
                form_action.push(relying_party);
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
pub async fn edge(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
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
        // The deadline is checked first: an answer that is ready only once the deadline
        // has passed (a busy runtime wakes both at once) is late, and refused as late.
        let answered = tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => None,
            response = next.run(request) => Some(response),
        };
        match answered {
            Some(response) if shape == Shape::ServerFunction => bad_arguments_are_a_client_error(&path, response).await,
            Some(response) => response,
            None => {
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
    if matches!(
        path,
        "/" | "/callback" | "/login" | "/authorize" | "/token" | "/userinfo"
    ) || path.starts_with("/api/")
        || path.starts_with("/code/")
    {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(vars: &[(&str, &str)]) -> Edge {
        Edge::new(&Config::from_pairs(vars).expect("a valid configuration"))
    }

    /// On a busy runtime the deadline and the answer can be ready at the same wake-up:
    /// the answer is late then, and refused as late (the paused clock makes both fire at
    /// the same instant).
    #[tokio::test(start_paused = true)]
    async fn an_answer_ready_only_at_the_deadline_is_late() {
        use tower::ServiceExt;
        let edge = Arc::new(edge(&[("REQUEST_TIMEOUT_MS", "1000")]));
        let app = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(edge, super::edge));
        let request = Request::builder().uri("/slow").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
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

        // The mounted virtual operator is this origin: nothing else is allowed but the
        // sandbox's demo relying party, on any loopback port (RFC 8252 §7.3).
        let sandbox = edge(&[("APP_PUBLIC_URL", "http://127.0.0.1:3000")]);
        let policy = sandbox.content_security_policy(None);
        assert!(policy.ends_with("form-action 'self' http://127.0.0.1:*"), "{policy}");
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
