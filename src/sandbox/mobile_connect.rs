//! Mobile Connect, device-initiated (GSMA IDY.54 number verify): authorize, token,
//! premium info.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use base64::Engine;
use serde_json::{json, Value};

use super::{
    authorize::{self, has_scope, MAX_PARAM_LEN},
    device::{read_conditions, Fault},
    id_token::read_spec,
    respond::{bearer, form_pairs, json as json_response, malformed_json, oauth_error},
    Grant, Inner, Protocol, Sandbox, MC_SCOPE,
};
use crate::support::{constant_time_eq, sha256_hex, unix_now};

/// `GET /deviceinitiated/v1/authorize` — the device navigates here.
pub(crate) async fn authorize(State(sb): State<Sandbox>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let sb = sb.inner();
    const P: Protocol = Protocol::MobileConnect;
    let req = match authorize::parse_request(sb, P, query.as_deref()) {
        Ok(req) => req,
        Err(res) => return res,
    };
    let scope = req.get("scope").unwrap_or_default().to_owned();
    if !has_scope(&scope, "openid") || !has_scope(&scope, MC_SCOPE) {
        return req.fail(P, "invalid_scope", "scope must contain openid and mc_vm_match_hash.");
    }
    let nonce = match req.get("nonce") {
        None => return req.fail(P, "invalid_request", "nonce is missing."),
        Some(n) if n.len() > MAX_PARAM_LEN => {
            return req.fail(P, "invalid_request", "nonce is too long (at most 512 characters).")
        }
        Some(n) => n.to_owned(),
    };
    match req.get("version") {
        None => return req.fail(P, "invalid_request", "version is missing."),
        Some(v) if !v.starts_with("mc_") || v.len() > 64 => {
            return req.fail(
                P,
                "invalid_request",
                "version must be a Mobile Connect version, e.g. mc_di_r2_v2.3.",
            )
        }
        Some(_) => {}
    }
    match req.get("acr_values") {
        None => return req.fail(P, "invalid_request", "acr_values is missing."),
        Some(acr) if !acr.split_ascii_whitespace().all(|v| matches!(v, "1" | "2" | "3" | "4")) => {
            return req.fail(
                P,
                "invalid_request",
                "acr_values must be levels of assurance 1 to 4, e.g. 2.",
            )
        }
        Some(_) => {}
    }
    let conditions = match read_conditions(&headers) {
        Ok(c) => c,
        Err(description) => return req.fail(P, "invalid_request", &description),
    };
    let id_token = match read_spec(&headers) {
        Ok(spec) => spec,
        Err(description) => return req.fail(P, "invalid_request", &description),
    };
    // The Mobile Connect operator never sees the number under test in clear: no rule 3.
    let outcome =
        authorize::decide(sb, &req, P, conditions, None, scope, Some(nonce)).map(|grant| Grant { id_token, ..grant });
    authorize::start(sb, &req, outcome)
}

/// `client_id:client_secret` of an `Authorization: Basic …` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The token request's parameters: the form body, then the query string (which the
/// original demo used). `Err` is an `invalid_request` description.
pub(crate) fn token_params(query: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    let body = std::str::from_utf8(body).map_err(|_| "The request body is not UTF-8 form data.")?;
    let mut pairs = form_pairs(body).ok_or("The request body is not form data (application/x-www-form-urlencoded).")?;
    pairs.extend(form_pairs(query.unwrap_or("")).ok_or("The query string does not parse.")?);
    Ok(pairs)
}

/// The value of `name` in `pairs` (first one, empty counts as missing).
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The authorization-code grant of both token endpoints (form body, or query string as
/// the original demo sent it): `(code, redirect_uri)`, or the OAuth error to answer.
pub(crate) fn code_grant(
    query: Option<&str>,
    body: &[u8],
) -> Result<(String, String), (StatusCode, &'static str, &'static str)> {
    let pairs = token_params(query, body).map_err(|d| (StatusCode::BAD_REQUEST, "invalid_request", d))?;
    match param(&pairs, "grant_type") {
        None => return Err((StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing.")),
        Some("authorization_code") => {}
        Some(_) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=authorization_code is supported.",
            ))
        }
    }
    let code = param(&pairs, "code").ok_or((StatusCode::BAD_REQUEST, "invalid_request", "code is missing."))?;
    let redirect_uri = param(&pairs, "redirect_uri").ok_or((
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "redirect_uri is missing.",
    ))?;
    Ok((code.to_owned(), redirect_uri.to_owned()))
}

/// `POST /deviceinitiated/v1/token` — HTTP Basic client authentication.
pub(crate) async fn token(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let sb = sb.inner();
    let fail = |status: StatusCode, error: &'static str, description: &str| {
        tracing::info!(target: "sandbox", error, description, "mc token: refused");
        oauth_error(status, error, description)
    };
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: send Authorization: Basic base64(client_id:client_secret).",
        );
    };
    if !constant_time_eq(client_id.as_bytes(), sb.mc_client_id.as_bytes())
        || !constant_time_eq(secret.as_bytes(), sb.mc_client_secret.as_bytes())
    {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: unknown client or wrong secret.",
        );
    }
    let (code, redirect_uri) = match code_grant(query.as_deref(), &body) {
        Ok(grant) => grant,
        Err((status, error, description)) => return fail(status, error, description),
    };
    let (code, redirect_uri) = (code.as_str(), redirect_uri.as_str());
    match authorize::redeem(sb, Protocol::MobileConnect, &client_id, code, redirect_uri) {
        Ok((grant, expires_at)) => authorize::token_response(sb, code, grant, expires_at).await,
        Err(d) => fail(StatusCode::BAD_REQUEST, "invalid_grant", d),
    }
}

/// The OIDC id_token of a Mobile Connect grant, signed and shaped as the authorization's
/// simulated id_token asks (HS256 with the client secret by default; see
/// [`super::id_token`]).
pub(crate) fn id_token(sb: &Inner, grant: &Grant, ttl: u64) -> Result<String, String> {
    let now = unix_now();
    let claims = super::id_token::claims(
        &grant.id_token,
        &sb.public_base,
        &grant.client_id,
        &sb.sub_for(&grant.sim),
        grant.nonce.as_deref(),
        now,
        ttl,
    );
    sb.signing.sign(&grant.id_token, &claims)
}

/// `POST /premiuminfo/v1/` — `{"mc_claims": {"device_msisdn_hash": h}}`.
pub(crate) async fn premium_info(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let sb = sb.inner();
    let fail = |status: StatusCode, error: &'static str, description: &str| {
        tracing::info!(target: "sandbox", error, description, "premiuminfo: refused");
        oauth_error(status, error, description)
    };
    let Some(token) = bearer(&headers) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Send Authorization: Bearer <access_token>.",
        );
    };
    let Some(grant) = sb.tokens.get(&token.to_owned()) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is unknown, revoked or expired.",
        );
    };
    if grant.protocol != Protocol::MobileConnect || !has_scope(&grant.scope, MC_SCOPE) {
        return fail(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token was not granted the mc_vm_match_hash scope.",
        );
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be JSON: {\"mc_claims\": {\"device_msisdn_hash\": \"<sha256 hex>\"}}.",
            )
        }
    };
    let Some(hash) = value.pointer("/mc_claims/device_msisdn_hash").and_then(Value::as_str) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "mc_claims.device_msisdn_hash is missing or not a string.",
        );
    };
    if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "device_msisdn_hash must be 64 lowercase hex characters: SHA-256 of the number in E.164 form with its +.",
        );
    }
    let verified = hash == sha256_hex(grant.sim.as_str());
    let body = json!({ "sub": sb.sub_for(&grant.sim), "device_msisdn_verified": verified });
    tracing::info!(target: "sandbox", sim = %grant.sim, verified, "premiuminfo: answered");
    match grant.fault {
        Some(Fault::Check500) => {
            tracing::info!(target: "sandbox", "premiuminfo: simulated fault check-500");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Simulated operator fault (check-500).",
            )
        }
        Some(Fault::CheckMalformed) => {
            tracing::info!(target: "sandbox", "premiuminfo: simulated fault check-malformed");
            let text = body.to_string();
            malformed_json(&text)
        }
        Some(Fault::CheckSlow) => {
            tracing::info!(target: "sandbox", delay_ms = grant.delay.as_millis() as u64, "premiuminfo: simulated fault check-slow");
            tokio::time::sleep(grant.delay).await;
            json_response(StatusCode::OK, body)
        }
        _ => json_response(StatusCode::OK, body),
    }
}
