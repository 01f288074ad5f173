//! `POST /login` — the mobile-app API: `{"phone": "+99012345678"}` → `{"url": …}`. Also
//! takes the same fields form-encoded, as the tutorial's Android app posts them.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    http::{api_error, client_address, json_error},
    protocol::Protocol,
    state::AppState,
    verification::Origin,
};

#[derive(Debug, Default, Deserialize)]
struct LoginRequest {
    phone: Option<String>,
    protocol: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = connection.map(|Extension(ConnectInfo(peer))| peer);
    let client = client_address(state.config.trust_proxy, &headers, peer);
    let request = match parse(&headers, &body) {
        Ok(request) => request,
        Err(reason) => {
            tracing::info!(%reason, "login: unreadable body");
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_phone",
                "Send JSON like {\"phone\": \"+99012345678\"} (or the same field form-encoded).",
            );
        }
    };
    let protocol = match request.protocol.as_deref() {
        None | Some("") => Protocol::Camara,
        Some(p) => match Protocol::parse(p) {
            Some(p) => p,
            None => {
                tracing::info!("login: unknown protocol");
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_protocol",
                    "protocol must be \"camara\" or \"mobile-connect\".",
                );
            }
        },
    };
    let phone = request.phone.as_deref().unwrap_or("");
    match state.verifier.start(phone, protocol, Origin::Api, client).await {
        Ok(started) => Json(json!({ "url": started.url })).into_response(),
        Err(e) => {
            e.log();
            api_error(&e)
        }
    }
}

/// JSON by default; form-encoded when the client says so.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<LoginRequest, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}
