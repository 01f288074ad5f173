//! `SANDBOX=auto` serves this machine only. `auto` mounts the virtual operator when no
//! credentials and no public `APP_PUBLIC_URL` are set, which is also what a deployment
//! looks like when its env file failed to load. Behind a public reverse proxy, anyone
//! could then make the virtual operator say "verified" for any number. So under `auto`
//! the virtual operator and every flow it backs answer only requests that reach the app
//! directly on a loopback address (`Host` and TCP peer) and carry no forwarding header;
//! anything else gets 403 and a log line saying why. `SANDBOX=on` is a deliberate test
//! deployment and passes through untouched.

use std::{
    net::{IpAddr, SocketAddr},
    sync::atomic::{AtomicBool, Ordering},
};

use axum::{
    extract::{ConnectInfo, Request},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};

use crate::{http::json_error, sandbox_contract::MOUNT, telemetry::loggable_path};

/// The headers a proxy adds: RFC 7239 `Forwarded` and the de facto `X-Forwarded-*` and
/// `X-Real-IP`. Any of them means the request did not come straight from this machine.
const FORWARDING_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip"];

const MESSAGE: &str = "This server runs the built-in virtual operator because SANDBOX=auto found no \
     operator credentials and a loopback APP_PUBLIC_URL. It answers only requests made on this \
     machine, not through a proxy. Set APP_PUBLIC_URL and the operator credentials, or SANDBOX=on \
     for a deliberate test deployment.";

/// Set once the first refusal has been logged at warn: a scanner must not flood the log.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The layer: refuses what is not local on the routes the virtual operator backs.
pub async fn local_only(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(kind) = guarded(path) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let Some(why) = not_local(request.headers(), peer) else {
        return next.run(request).await;
    };
    let path = loggable_path(path);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(%path, why, "SANDBOX=auto: refused a request not made on this machine (logged at info from now on)");
    } else {
        tracing::info!(%path, why, "SANDBOX=auto: refused a request not made on this machine");
    }
    match kind {
        Answer::Json => json_error(StatusCode::FORBIDDEN, "sandbox_local_only", MESSAGE),
        Answer::Page => (
            StatusCode::FORBIDDEN,
            [(header::CACHE_CONTROL, "no-store")],
            Html(format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not \
                 available</title></head><body><h1>Not available here</h1><p>{MESSAGE}</p></body></html>"
            )),
        )
            .into_response(),
    }
}

/// How a refused route answers.
enum Answer {
    /// The JSON API, the server functions and the callback: the API's error shape.
    Json,
    /// The page and the virtual operator's own pages: a plain page.
    Page,
}

/// The routes the virtual operator backs. Under `auto` no live operator is configured
/// (live credentials turn `auto` off), so every flow is one of them; `/healthz` and the
/// static files are not.
fn guarded(path: &str) -> Option<Answer> {
    let under_mount = path == MOUNT || path.strip_prefix(MOUNT).is_some_and(|rest| rest.starts_with('/'));
    match path {
        "/login" | "/callback" => Some(Answer::Json),
        _ if path.starts_with("/api/") => Some(Answer::Json),
        "/" => Some(Answer::Page),
        _ if under_mount => Some(Answer::Page),
        _ => None,
    }
}

/// Why a request is not from this machine, or `None` if it is.
fn not_local(headers: &HeaderMap, peer: Option<IpAddr>) -> Option<&'static str> {
    if FORWARDING_HEADERS.iter().any(|name| headers.contains_key(*name)) {
        return Some("it carries a forwarding header: it came through a proxy");
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match host {
        None => return Some("it has no Host header"),
        Some(host) if !loopback_host(host) => return Some("its Host is not a loopback address"),
        Some(_) => {}
    }
    if peer.is_some_and(|peer| !peer.to_canonical().is_loopback()) {
        return Some("it comes from another machine");
    }
    None
}

/// `localhost`, `127.0.0.1`, `[::1]` and the like, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(v6, _)| v6).unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST:3000",
            "127.0.0.1",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        for host in [
            "verify.example.com",
            "192.0.2.1:3000",
            "[2001:db8::1]:80",
            "localhost.evil",
            "",
        ] {
            assert!(!loopback_host(host), "{host}");
        }
    }
}
