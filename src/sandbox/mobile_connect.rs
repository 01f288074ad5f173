//! Mobile Connect, device-initiated (GSMA IDY.54 number verify): authorize, token,
//! premium info.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::Response,
};
use base64::Engine;
use serde_json::{json, Value};

use super::{
    authorize::{self, has_scope, AuthorizeRequest},
    device::read_conditions,
    error::SandboxError,
    id_token::read_spec,
    operator::{Api, Grant, VirtualOperator},
    respond::{bearer, check_answer},
    token::{code_grant, redeem, token_response},
    MC_SCOPE,
};
use crate::support::{constant_time_eq, sha256_hex, unix_now};

/// `GET /deviceinitiated/v1/authorize` — the device navigates here.
pub(crate) async fn authorize(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, SandboxError> {
    let req = authorize::parse_request(&operator, Api::MobileConnect, query.as_deref())?;
    let scope = req.get("scope").unwrap_or_default().to_owned();
    if !has_scope(&scope, "openid") || !has_scope(&scope, MC_SCOPE) {
        return Err(req.refuse("invalid_scope", "scope must contain openid and mc_vm_match_hash."));
    }
    let nonce = req
        .nonce()?
        .ok_or_else(|| req.refuse("invalid_request", "nonce is missing."))?;
    check_version_and_acr(&req)?;
    let conditions = read_conditions(&headers).map_err(|d| req.refuse("invalid_request", d))?;
    let id_token = read_spec(&headers).map_err(|d| req.refuse("invalid_request", d))?;
    // The Mobile Connect operator never sees the number under test in clear: no rule 3.
    let outcome = authorize::decide(
        &operator,
        &req,
        Api::MobileConnect,
        conditions,
        None,
        scope,
        Some(nonce),
    )
    .map(|grant| Grant { id_token, ..grant });
    authorize::start(&operator, &req, outcome)
}

/// Mobile Connect's own parameters: `version` and `acr_values`.
fn check_version_and_acr(req: &AuthorizeRequest) -> Result<(), SandboxError> {
    match req.get("version") {
        None => return Err(req.refuse("invalid_request", "version is missing.")),
        Some(v) if !v.starts_with("mc_") || v.len() > 64 => {
            return Err(req.refuse(
                "invalid_request",
                "version must be a Mobile Connect version, e.g. mc_di_r2_v2.3.",
            ))
        }
        Some(_) => {}
    }
    match req.get("acr_values") {
        None => Err(req.refuse("invalid_request", "acr_values is missing.")),
        Some(acr) if !acr.split_ascii_whitespace().all(|v| matches!(v, "1" | "2" | "3" | "4")) => Err(req.refuse(
            "invalid_request",
            "acr_values must be levels of assurance 1 to 4, e.g. 2.",
        )),
        Some(_) => Ok(()),
    }
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

/// `POST /deviceinitiated/v1/token` — HTTP Basic client authentication.
pub(crate) async fn token(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let (client_id, secret) = basic_credentials(&headers).ok_or_else(|| {
        SandboxError::invalid_client(
            "Client authentication failed: send Authorization: Basic base64(client_id:client_secret).",
        )
    })?;
    if !constant_time_eq(client_id.as_bytes(), operator.mc_client_id.as_bytes())
        || !constant_time_eq(secret.as_bytes(), operator.mc_client_secret.as_bytes())
    {
        return Err(SandboxError::invalid_client(
            "Client authentication failed: unknown client or wrong secret.",
        ));
    }
    let (code, redirect_uri) = code_grant(query.as_deref(), &body)?;
    let (grant, expires_at) = redeem(&operator, Api::MobileConnect, &client_id, &code, &redirect_uri)?;
    token_response(&operator, &code, grant, expires_at).await
}

/// The OIDC id_token of a Mobile Connect grant, signed and shaped as the authorization's
/// simulated id_token asks (HS256 with the client secret by default; see
/// [`super::id_token`]).
pub(crate) fn id_token(operator: &VirtualOperator, grant: &Grant, ttl: u64) -> Result<String, String> {
    let claims = super::id_token::claims(
        &grant.id_token,
        &operator.public_base,
        &grant.client_id,
        &operator.sub_for(&grant.sim),
        grant.nonce.as_deref(),
        unix_now(),
        ttl,
    );
    operator.signing.sign(&grant.id_token, &claims)
}

/// `POST /premiuminfo/v1/` — `{"mc_claims": {"device_msisdn_hash": h}}`.
pub(crate) async fn premium_info(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let invalid_token =
        |description: &'static str| SandboxError::oauth(StatusCode::UNAUTHORIZED, "invalid_token", description);
    let token = bearer(&headers).ok_or_else(|| invalid_token("Send Authorization: Bearer <access_token>."))?;
    let grant = operator
        .tokens
        .get(token)
        .ok_or_else(|| invalid_token("The access token is unknown, revoked or expired."))?;
    if grant.api != Api::MobileConnect || !has_scope(&grant.scope, MC_SCOPE) {
        return Err(SandboxError::oauth(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token was not granted the mc_vm_match_hash scope.",
        ));
    }
    let hash = msisdn_hash(&body)?;
    let verified = hash == sha256_hex(grant.sim.as_str());
    let answer = json!({ "sub": operator.sub_for(&grant.sim), "device_msisdn_verified": verified });
    tracing::info!(target: "sandbox", sim = %grant.sim, verified, "premiuminfo: answered");
    check_answer(&grant, answer, || {
        SandboxError::oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Simulated operator fault (check-500).",
        )
    })
    .await
}

/// The `device_msisdn_hash` of a premium info request: 64 lowercase hex characters.
fn msisdn_hash(body: &[u8]) -> Result<String, SandboxError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        SandboxError::invalid_request(
            "The body must be JSON: {\"mc_claims\": {\"device_msisdn_hash\": \"<sha256 hex>\"}}.",
        )
    })?;
    let hash = value
        .pointer("/mc_claims/device_msisdn_hash")
        .and_then(Value::as_str)
        .ok_or_else(|| SandboxError::invalid_request("mc_claims.device_msisdn_hash is missing or not a string."))?;
    if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(SandboxError::invalid_request(
            "device_msisdn_hash must be 64 lowercase hex characters: SHA-256 of the number in E.164 form with its +.",
        ));
    }
    Ok(hash.to_owned())
}
