//! What the token endpoints share: the authorization-code grant's parameters, redeeming a
//! code (single use, bound to its API, client and redirect URI) and issuing the tokens,
//! with the fault the authorization chose.

use std::time::{Duration, Instant};

use axum::{http::StatusCode, response::Response};
use serde_json::json;

use super::{
    device::Fault,
    error::SandboxError,
    operator::{Api, CodeState, Grant, Keep, TokenGrant, VirtualOperator},
    respond::{form_pairs, json as json_response, malformed_json},
};
use crate::support::random_value;

/// How long an expired standard CAMARA access token is still recognised as one of ours
/// (then it is merely unknown).
pub(crate) const EXPIRED_TOKEN_MEMORY: Duration = Duration::from_secs(10 * 60);

/// The token request's parameters: the form body, then the query string (which the
/// original demo used).
pub(crate) fn token_params(query: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>, SandboxError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| SandboxError::invalid_request("The request body is not UTF-8 form data."))?;
    let mut pairs = form_pairs(body).ok_or_else(|| {
        SandboxError::invalid_request("The request body is not form data (application/x-www-form-urlencoded).")
    })?;
    let query = form_pairs(query.unwrap_or(""))
        .ok_or_else(|| SandboxError::invalid_request("The query string does not parse."))?;
    pairs.extend(query);
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

/// `grant_type` must be `authorization_code`.
pub(crate) fn check_grant_type(grant_type: Option<&str>) -> Result<(), SandboxError> {
    match grant_type {
        None => Err(SandboxError::invalid_request("grant_type is missing.")),
        Some("authorization_code") => Ok(()),
        Some(_) => Err(SandboxError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only grant_type=authorization_code is supported.",
        )),
    }
}

/// The authorization-code grant of the Mobile Connect and Vonage token endpoints (form
/// body, or query string as the original demo sent it): `(code, redirect_uri)`.
pub(crate) fn code_grant(query: Option<&str>, body: &[u8]) -> Result<(String, String), SandboxError> {
    let pairs = token_params(query, body)?;
    check_grant_type(param(&pairs, "grant_type"))?;
    let code = param(&pairs, "code").ok_or_else(|| SandboxError::invalid_request("code is missing."))?;
    let redirect_uri =
        param(&pairs, "redirect_uri").ok_or_else(|| SandboxError::invalid_request("redirect_uri is missing."))?;
    Ok((code.to_owned(), redirect_uri.to_owned()))
}

/// Exchanges a code: single use (a replay revokes the token it gave), bound to the API,
/// the client and the redirect URI. `Ok` has the code's expiry, which a spent code keeps.
pub(crate) fn redeem(
    operator: &VirtualOperator,
    api: Api,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
) -> Result<(Grant, Instant), SandboxError> {
    let Some((state, expires_at)) = operator.codes.take_with_expiry(code) else {
        return Err(SandboxError::invalid_grant(
            "The authorization code is unknown or has expired.",
        ));
    };
    match state {
        CodeState::Redeemed { access_token } => {
            if let Some(token) = access_token {
                operator.tokens.remove(&token);
            }
            operator
                .codes
                .keep_until(code.to_owned(), CodeState::Redeemed { access_token: None }, expires_at);
            Err(SandboxError::invalid_grant(
                "The authorization code was already used; the token issued for it is revoked.",
            ))
        }
        CodeState::Fresh(grant) => {
            if grant.api != api || grant.client_id != client_id {
                return Err(SandboxError::invalid_grant(
                    "The authorization code was issued to another client.",
                ));
            }
            if grant.redirect_uri != redirect_uri {
                return Err(SandboxError::invalid_grant(
                    "redirect_uri does not match the one of the authorization request.",
                ));
            }
            Ok((*grant, expires_at))
        }
    }
}

/// Answers a token request for a redeemed code: mints the access token (and the
/// id_token of Mobile Connect and standard CAMARA), applying the fault the authorization
/// chose. The code is spent whatever the answer.
pub(crate) async fn token_response(
    operator: &VirtualOperator,
    code: &str,
    grant: Grant,
    code_expires_at: Instant,
) -> Result<Response, SandboxError> {
    let spend = |access_token: Option<String>| {
        operator
            .codes
            .keep_until(code.to_owned(), CodeState::Redeemed { access_token }, code_expires_at);
    };
    let server_error = |description: &'static str| {
        spend(None);
        SandboxError::oauth(StatusCode::INTERNAL_SERVER_ERROR, "server_error", description)
    };
    if grant.fault == Some(Fault::Token500) {
        tracing::info!(target: "sandbox", "token: simulated fault token-500");
        return Err(server_error("Simulated operator fault (token-500)."));
    }
    let ttl = grant.api.token_ttl_secs();
    let mut body = json!({
        "access_token": "",
        "token_type": "Bearer",
        "expires_in": ttl,
    });
    if grant.api == Api::CamaraV2 {
        body["scope"] = json!(grant.scope);
    }
    let id_token = match grant.api {
        Api::MobileConnect => Some(super::mobile_connect::id_token(operator, &grant, ttl)),
        Api::CamaraV2 => Some(super::camara_v2::id_token(operator, &grant, ttl)),
        Api::VonageCamara => None,
    };
    match id_token {
        Some(Ok(id_token)) => body["id_token"] = json!(id_token),
        Some(Err(e)) => {
            tracing::error!(target: "sandbox", "token: cannot sign the id_token: {e}");
            return Err(server_error("Cannot sign the id_token."));
        }
        None => {}
    }
    let access_token = issue_access_token(operator, &grant, ttl);
    body["access_token"] = json!(access_token);
    spend(Some(access_token));
    tracing::info!(target: "sandbox", api = ?grant.api, sim = %grant.sim, "token: issued");
    match grant.fault {
        Some(Fault::TokenSlow) => {
            let delay_ms = grant.delay.as_millis() as u64;
            tracing::info!(target: "sandbox", delay_ms, "token: simulated fault token-slow");
            tokio::time::sleep(grant.delay).await;
        }
        Some(Fault::TokenMalformed) => {
            tracing::info!(target: "sandbox", "token: simulated fault token-malformed");
            return Ok(malformed_json(&body.to_string()));
        }
        _ => {}
    }
    Ok(json_response(StatusCode::OK, body))
}

/// Records a new access token for `grant`, living `ttl` seconds.
fn issue_access_token(operator: &VirtualOperator, grant: &Grant, ttl: u64) -> String {
    let access_token = random_value(32);
    let (expires_at, kept_for) = match grant.api {
        // Kept a while past its end so that the API can say "expired" rather than
        // "unknown"; `token-expired` issues it already expired.
        Api::CamaraV2 => {
            let life = match grant.fault {
                Some(Fault::TokenExpired) => Duration::ZERO,
                _ => Duration::from_secs(ttl),
            };
            (Some(Instant::now() + life), life + EXPIRED_TOKEN_MEMORY)
        }
        _ => (None, Duration::from_secs(ttl)),
    };
    let token = TokenGrant {
        api: grant.api,
        sim: grant.sim.clone(),
        scope: grant.scope.clone(),
        fault: grant.fault,
        delay: grant.delay,
        expires_at,
    };
    operator.tokens.keep(access_token.clone(), token, kept_for);
    access_token
}
