//! The JWT-bearer authorization grant at `POST /camara/v2/token` (RFC 7523 §2.1, CAMARA
//! ICM): `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an `assertion`
//! signed with the client's registered key whose `sub` is `operatortoken:<token>`, the
//! single-use operator token of a TS.43 credential (`super::super::ts43`). The access
//! token it gives answers `verify` for the token's SIM, as the authorization code's does.

use std::time::{Duration, Instant};

use axum::{http::StatusCode, response::Response};
use serde_json::{json, Value};

use super::{authenticate_client, SCOPE_VERIFY};
use crate::{
    sandbox::{
        authorize::has_scope,
        client_assertion,
        device::Fault,
        error::SandboxError,
        operator::{Api, Keep, TokenGrant, VirtualOperator},
        respond::{json as json_response, malformed_json},
        token::EXPIRED_TOKEN_MEMORY,
        ts43::OperatorToken,
        CAMARA_V2_TOKEN_TTL_SECS,
    },
    sandbox_contract::OPERATOR_TOKEN_SUB_PREFIX,
    support::random_value,
};

/// Answers a JWT-bearer grant: the assertion (RFC 7523 §3), then the operator token it
/// names (single use, unexpired, issued for this client), then a v2 access token.
pub(crate) async fn grant<'a>(
    operator: &VirtualOperator,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Response, SandboxError> {
    let issuer = operator.camara_v2_issuer();
    let token_endpoint = format!("{issuer}/token");
    // RFC 7523 §3.1: client authentication is optional with this grant; a client assertion
    // sent is checked as ever, and must name the assertion's client.
    let authenticated = match (param("client_assertion_type"), param("client_assertion")) {
        (None, None) => None,
        _ => Some(authenticate_client(operator, param, &token_endpoint)?),
    };
    let assertion = param("assertion").ok_or_else(|| {
        SandboxError::invalid_request("assertion is missing: the JWT-bearer grant needs a signed JWT (RFC 7523 §2.1).")
    })?;
    if assertion.contains(',') {
        // RFC 7523 §2.1: exactly one JWT.
        return Err(SandboxError::invalid_request(
            "assertion must be a single JWT (RFC 7523 §2.1).",
        ));
    }
    // RFC 7523 §3.1: an assertion that is not valid is `invalid_grant`.
    let claims = client_assertion::verify_grant(operator, assertion, &issuer, &token_endpoint)
        .map_err(SandboxError::invalid_grant)?;
    let client_id = operator.camara_client_id.clone();
    if authenticated.as_deref().is_some_and(|c| c != client_id) {
        return Err(SandboxError::invalid_grant(
            "The assertion's iss is not the client that authenticated.",
        ));
    }
    let token = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|sub| sub.strip_prefix(OPERATOR_TOKEN_SUB_PREFIX))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            SandboxError::invalid_grant(
                "The assertion's sub must be operatortoken:<the operator token from the credential> (CAMARA ICM); tel: subjects are not supported here.",
            )
        })?
        .to_owned();
    // The scope the assertion (or, failing that, the form) asks for: NumberVerification's
    // verify operation; `dpv:` purposes are accepted and not granted.
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .or_else(|| param("scope"))
        .unwrap_or_default();
    if !has_scope(scope, SCOPE_VERIFY) {
        return Err(SandboxError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The assertion's scope must contain number-verification:verify (an operator token serves verify only).",
        ));
    }
    let grant = redeem(operator, &token, &client_id)?;
    // The token faults the wallet's device chose stick to its operator token, as to a
    // code; the operator token is spent whatever the answer.
    if grant.fault == Some(Fault::Token500) {
        tracing::info!(target: "sandbox", "camara v2 token: simulated fault token-500 (jwt-bearer)");
        return Err(SandboxError::oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Simulated operator fault (token-500).",
        ));
    }
    let access_token = random_value(32);
    let ttl = Duration::from_secs(CAMARA_V2_TOKEN_TTL_SECS);
    operator.tokens.keep(
        access_token.clone(),
        TokenGrant {
            api: Api::CamaraV2,
            sim: grant.sim.clone(),
            scope: SCOPE_VERIFY.to_owned(),
            fault: grant.fault,
            delay: grant.delay,
            expires_at: Some(Instant::now() + ttl),
        },
        ttl + EXPIRED_TOKEN_MEMORY,
    );
    tracing::info!(target: "sandbox", sim = %grant.sim, "camara v2 token: operator token redeemed (jwt-bearer)");
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": CAMARA_V2_TOKEN_TTL_SECS,
        "scope": SCOPE_VERIFY,
    });
    match grant.fault {
        Some(Fault::TokenSlow) => {
            tracing::info!(target: "sandbox", delay_ms = grant.delay.as_millis() as u64, "camara v2 token: simulated fault token-slow (jwt-bearer)");
            tokio::time::sleep(grant.delay).await;
        }
        Some(Fault::TokenMalformed) => {
            tracing::info!(target: "sandbox", "camara v2 token: simulated fault token-malformed (jwt-bearer)");
            return Ok(malformed_json(&body.to_string()));
        }
        _ => {}
    }
    Ok(json_response(StatusCode::OK, body))
}

/// Spends the operator token `token` for `client_id`: unknown, spent, expired or another
/// client's is `invalid_grant` (RFC 6749 §5.2), and leaves the token as it was.
fn redeem(
    operator: &VirtualOperator,
    token: &str,
    client_id: &str,
) -> Result<crate::sandbox::ts43::OperatorGrant, SandboxError> {
    let Some((state, kept_until)) = operator.operator_tokens.take_with_expiry(token) else {
        return Err(SandboxError::invalid_grant(
            "The operator token is unknown: it was never issued, or long expired.",
        ));
    };
    let put_back = |state: OperatorToken| operator.operator_tokens.keep_until(token.to_owned(), state, kept_until);
    match state {
        OperatorToken::Spent => {
            put_back(OperatorToken::Spent);
            Err(SandboxError::invalid_grant(
                "The operator token was already used: each serves one grant. Ask the wallet for a new credential.",
            ))
        }
        OperatorToken::Fresh(grant) if Instant::now() >= grant.expires_at => {
            put_back(OperatorToken::Fresh(grant));
            Err(SandboxError::invalid_grant(
                "The operator token has expired (they live 5 minutes). Ask the wallet for a new credential.",
            ))
        }
        OperatorToken::Fresh(grant) if grant.client_id != client_id => {
            put_back(OperatorToken::Fresh(grant));
            Err(SandboxError::invalid_grant(
                "The operator token was issued for another client's credential request.",
            ))
        }
        OperatorToken::Fresh(grant) => {
            put_back(OperatorToken::Spent);
            Ok(grant)
        }
    }
}
