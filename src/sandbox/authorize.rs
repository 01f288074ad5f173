//! What the authorization endpoints share: the checks that forbid a redirect, the
//! intermediate hop (every authorization answers with at least two redirects, as real
//! operators' header-enrichment hops do) and the issuing of codes.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;

use super::{
    device::{virtual_operator_rule, Fault, VirtualOperator},
    respond::{
        error_redirect, form_pairs, found, html_page, json as json_response, malformed_json, oauth_error,
        redirect_with, unique_params,
    },
    CodeState, Grant, Inner, Keep, Pending, Protocol, Sandbox, TokenGrant, CAMARA_V2_TOKEN_TTL_SECS, CODE_TTL,
    MC_TOKEN_TTL_SECS, PENDING_TTL, VONAGE_TOKEN_TTL_SECS,
};
use crate::{phone::E164, support::random_value};

/// Longest accepted `state` / `nonce` / `login_hint` (they are stored until the hop).
pub(crate) const MAX_PARAM_LEN: usize = 512;
/// How long an expired standard CAMARA access token is still recognised as one of ours
/// (then it is merely unknown).
pub(crate) const EXPIRED_TOKEN_MEMORY: Duration = Duration::from_secs(10 * 60);

/// The parsed query of an authorize request whose client and redirect URI are known.
pub(crate) struct AuthorizeRequest {
    pub params: HashMap<String, String>,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
}

impl AuthorizeRequest {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// An error redirect to this request's redirect URI, logged.
    pub fn fail(&self, protocol: Protocol, error: &'static str, description: &str) -> Response {
        tracing::info!(target: "sandbox", ?protocol, error, description, "authorize: refused");
        error_redirect(&self.redirect_uri, error, description, self.state.as_deref())
    }
}

/// Checks the client and the redirect URI — the errors that must not redirect (RFC 6749
/// §4.1.2.1) answer a 400 page — and the parameters common to both protocols.
#[allow(clippy::result_large_err)] // the error is the response itself, built once
pub(crate) fn parse_request(sb: &Inner, protocol: Protocol, query: Option<&str>) -> Result<AuthorizeRequest, Response> {
    let page = |message: &str| {
        tracing::info!(target: "sandbox", ?protocol, reason = message, "authorize: refused without redirect");
        html_page(StatusCode::BAD_REQUEST, "Invalid authorization request", message)
    };
    let Some(pairs) = form_pairs(query.unwrap_or("")) else {
        return Err(page("The query string does not parse."));
    };
    let duplicate = unique_params(pairs.clone()).err();
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let client_id = match first("client_id") {
        Some(c) if !c.is_empty() => c,
        _ => return Err(page("client_id is missing.")),
    };
    if client_id != sb.mc_client_id && client_id != sb.vonage_application_id && client_id != sb.camara_client_id {
        return Err(page("client_id is not a registered application of this operator."));
    }
    let redirect_uri = match first("redirect_uri") {
        Some(r) if !r.is_empty() => r,
        _ => return Err(page("redirect_uri is missing.")),
    };
    if !sb.is_registered_redirect(&redirect_uri) {
        return Err(page(
            "redirect_uri is not registered for this application, so the operator will not redirect to it.",
        ));
    }
    if matches!(duplicate.as_deref(), Some("client_id" | "redirect_uri")) {
        return Err(page("client_id and redirect_uri must be given once."));
    }
    let state = first("state").filter(|s| !s.is_empty() && s.len() <= MAX_PARAM_LEN);
    let params: HashMap<String, String> = pairs.into_iter().collect();
    let req = AuthorizeRequest {
        params,
        client_id,
        redirect_uri,
        state,
    };

    if let Some(name) = duplicate {
        return Err(req.fail(protocol, "invalid_request", &format!("Parameter {name} is repeated.")));
    }
    let own_client = match protocol {
        Protocol::MobileConnect => &sb.mc_client_id,
        Protocol::Camara => &sb.vonage_application_id,
        Protocol::CamaraV2 => &sb.camara_client_id,
    };
    if &req.client_id != own_client {
        return Err(req.fail(
            protocol,
            "unauthorized_client",
            "This client is registered for the other API of this operator, not for this authorization endpoint.",
        ));
    }
    match req.get("response_type") {
        None => return Err(req.fail(protocol, "invalid_request", "response_type is missing.")),
        Some("code") => {}
        Some(_) => {
            return Err(req.fail(
                protocol,
                "unsupported_response_type",
                "Only response_type=code is supported.",
            ))
        }
    }
    match req.params.get("state").map(String::as_str) {
        None | Some("") => return Err(req.fail(protocol, "invalid_request", "state is missing.")),
        Some(s) if s.len() > MAX_PARAM_LEN => {
            return Err(req.fail(
                protocol,
                "invalid_request",
                "state is too long (at most 512 characters).",
            ))
        }
        Some(_) => {}
    }
    if req.get("scope").is_none() {
        return Err(req.fail(protocol, "invalid_request", "scope is missing."));
    }
    Ok(req)
}

/// Whether the space-separated `scope` holds `wanted`.
pub(crate) fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == wanted)
}

/// Records the authorization's outcome and answers the first redirect, to the hop.
pub(crate) fn start(sb: &Inner, req: &AuthorizeRequest, outcome: super::PendingOutcome) -> Response {
    let id = random_value(18);
    let hop = format!("{}/hop/{id}", sb.public_base);
    sb.pending.keep(
        id,
        Pending {
            redirect_uri: req.redirect_uri.clone(),
            state: req.state.clone(),
            outcome,
        },
        PENDING_TTL,
    );
    found(&hop)
}

/// `GET /hop/{id}` — the second redirect: to the client with a fresh code, or the error
/// decided at authorization.
pub(crate) async fn hop(State(sb): State<Sandbox>, Path(id): Path<String>) -> Response {
    let sb = sb.inner();
    let Some((pending, _)) = sb.pending.take_with_expiry(&id) else {
        tracing::info!(target: "sandbox", "hop: unknown, used or expired authorization");
        return html_page(
            StatusCode::BAD_REQUEST,
            "Authorization expired",
            "This authorization step is unknown, was already used or has expired. Start the verification again.",
        );
    };
    let state = pending.state.as_deref();
    match pending.outcome {
        Ok(grant) => {
            let code = random_value(24);
            tracing::info!(
                target: "sandbox",
                protocol = ?grant.protocol,
                sim = %grant.sim,
                fault = grant.fault.map(|f| f.name()),
                "authorize: code issued"
            );
            sb.codes
                .keep(code.clone(), CodeState::Fresh(Box::new(grant)), CODE_TTL);
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = state {
                params.push(("state", state));
            }
            redirect_with(&pending.redirect_uri, &params)
        }
        Err((error, description)) => {
            tracing::info!(target: "sandbox", error, description, "authorize: failed at the operator");
            error_redirect(&pending.redirect_uri, error, &description, state)
        }
    }
}

/// Decides the authorization's outcome from the simulated conditions (docs/reference.md §5): an
/// unavailable operator, a device on Wi-Fi, then which SIM the device is on — explicit
/// (header, cookie), the virtual operator rule for a number known in clear, or the
/// default SIM.
pub(crate) fn decide(
    sb: &Inner,
    req: &AuthorizeRequest,
    protocol: Protocol,
    conditions: super::device::Conditions,
    known_number: Option<E164>,
    scope: String,
    nonce: Option<String>,
) -> super::PendingOutcome {
    if conditions.fault == Some(Fault::Unavailable) {
        return Err((
            "temporarily_unavailable",
            "The operator is temporarily unavailable (simulated fault). Try again in a moment.".into(),
        ));
    }
    if conditions.wifi {
        return Err((
            "access_denied",
            "The device is not on mobile data, so the operator cannot see its SIM: switch to mobile data (turn Wi-Fi off) and try again."
                .into(),
        ));
    }
    let sim =
        match (conditions.sim, known_number) {
            (Some((sim, source)), _) => {
                tracing::debug!(target: "sandbox", ?source, %sim, "authorize: explicit SIM");
                sim
            }
            (None, Some(number)) => match virtual_operator_rule(&number) {
                VirtualOperator::OnNumber(n) | VirtualOperator::OtherNumber(n) => n,
                VirtualOperator::Fails => return Err((
                    "server_error",
                    "The operator failed to identify the device (virtual operator rule: numbers ending in 99 fail)."
                        .into(),
                )),
            },
            (None, None) => sb.default_sim.clone(),
        };
    Ok(Grant {
        protocol,
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        sim,
        nonce,
        scope,
        fault: conditions.fault,
        delay: conditions.delay,
        // Mobile Connect's and standard CAMARA's authorize set these.
        id_token: Default::default(),
        code_challenge: None,
    })
}

/// Exchanges a code: single use (a replay revokes the token it gave), bound to the
/// protocol, the client and the redirect URI. `Err` is an `invalid_grant` description.
pub(crate) fn redeem(
    sb: &Inner,
    protocol: Protocol,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
) -> Result<(Grant, Instant), &'static str> {
    let Some((state, expires_at)) = sb.codes.take_with_expiry(&code.to_owned()) else {
        return Err("The authorization code is unknown or has expired.");
    };
    match state {
        CodeState::Redeemed { access_token } => {
            if let Some(token) = access_token {
                sb.tokens.remove(&token);
            }
            sb.codes
                .keep_until(code.to_owned(), CodeState::Redeemed { access_token: None }, expires_at);
            Err("The authorization code was already used; the token issued for it is revoked.")
        }
        CodeState::Fresh(grant) => {
            if grant.protocol != protocol || grant.client_id != client_id {
                return Err("The authorization code was issued to another client.");
            }
            if grant.redirect_uri != redirect_uri {
                return Err("redirect_uri does not match the one of the authorization request.");
            }
            Ok((*grant, expires_at))
        }
    }
}

/// Answers a token request for a redeemed code: mints the access token (and the
/// id_token of Mobile Connect and standard CAMARA), applying the fault the authorization
/// chose.
pub(crate) async fn token_response(sb: &Inner, code: &str, grant: Grant, code_expires_at: Instant) -> Response {
    let burn = |access_token: Option<String>| {
        sb.codes
            .keep_until(code.to_owned(), CodeState::Redeemed { access_token }, code_expires_at);
    };
    if grant.fault == Some(Fault::Token500) {
        burn(None);
        tracing::info!(target: "sandbox", "token: simulated fault token-500");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Simulated operator fault (token-500).",
        );
    }
    let ttl = match grant.protocol {
        Protocol::MobileConnect => MC_TOKEN_TTL_SECS,
        Protocol::Camara => VONAGE_TOKEN_TTL_SECS,
        Protocol::CamaraV2 => CAMARA_V2_TOKEN_TTL_SECS,
    };
    let mut body = json!({
        "access_token": "",
        "token_type": "Bearer",
        "expires_in": ttl,
    });
    if grant.protocol == Protocol::CamaraV2 {
        body["scope"] = json!(grant.scope);
    }
    let id_token = match grant.protocol {
        Protocol::MobileConnect => Some(super::mobile_connect::id_token(sb, &grant, ttl)),
        Protocol::CamaraV2 => Some(super::camara_v2::id_token(sb, &grant, ttl)),
        Protocol::Camara => None,
    };
    if let Some(id_token) = id_token {
        match id_token {
            Ok(id_token) => body["id_token"] = json!(id_token),
            Err(e) => {
                burn(None);
                tracing::error!(target: "sandbox", "token: cannot sign the id_token: {e}");
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Cannot sign the id_token.",
                );
            }
        }
    }
    let access_token = random_value(32);
    body["access_token"] = json!(access_token);
    let (expires_at, kept_for) = match grant.protocol {
        // Kept a while past its end so that the API can say "expired" rather than
        // "unknown"; `token-expired` issues it already expired.
        Protocol::CamaraV2 => {
            let life = match grant.fault {
                Some(Fault::TokenExpired) => Duration::ZERO,
                _ => Duration::from_secs(ttl),
            };
            (Some(Instant::now() + life), life + EXPIRED_TOKEN_MEMORY)
        }
        _ => (None, Duration::from_secs(ttl)),
    };
    sb.tokens.keep(
        access_token.clone(),
        TokenGrant {
            protocol: grant.protocol,
            sim: grant.sim.clone(),
            scope: grant.scope.clone(),
            fault: grant.fault,
            delay: grant.delay,
            expires_at,
        },
        kept_for,
    );
    burn(Some(access_token));
    tracing::info!(target: "sandbox", protocol = ?grant.protocol, sim = %grant.sim, "token: issued");
    match grant.fault {
        Some(Fault::TokenSlow) => {
            tracing::info!(target: "sandbox", delay_ms = grant.delay.as_millis() as u64, "token: simulated fault token-slow");
            tokio::time::sleep(grant.delay).await;
        }
        Some(Fault::TokenMalformed) => {
            tracing::info!(target: "sandbox", "token: simulated fault token-malformed");
            let text = body.to_string();
            return malformed_json(&text);
        }
        _ => {}
    }
    json_response(StatusCode::OK, body)
}
