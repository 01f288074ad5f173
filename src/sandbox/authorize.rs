//! What the authorization endpoints share: the checks that forbid a redirect, the
//! intermediate hop (every authorization answers with at least two redirects, as real
//! operators' header-enrichment hops do) and the decision a code stands for.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::{
    device::{virtual_operator_rule, Conditions, Fault, RuleOutcome},
    error::SandboxError,
    operator::{Api, AuthorizationOutcome, CodeState, Grant, Keep, PendingAuthorization, VirtualOperator},
    respond::{form_pairs, found, redirect_with, unique_params},
    CODE_TTL, HOP_TTL,
};
use crate::{
    phone::E164,
    support::{random_value, ttl_map::Taken},
};

/// Longest accepted `state` / `nonce` / `login_hint` (they are stored until the hop).
pub(crate) const MAX_PARAM_LEN: usize = 512;

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

    /// The error redirect that refuses this request.
    pub fn refuse(&self, error: &'static str, description: impl Into<Cow<'static, str>>) -> SandboxError {
        SandboxError::redirect(&self.redirect_uri, self.state.clone(), error, description)
    }

    /// The optional `nonce`, refused when too long to store.
    pub fn nonce(&self) -> Result<Option<String>, SandboxError> {
        match self.get("nonce") {
            Some(n) if n.len() > MAX_PARAM_LEN => {
                Err(self.refuse("invalid_request", "nonce is too long (at most 512 characters)."))
            }
            n => Ok(n.map(str::to_owned)),
        }
    }
}

/// Checks the client and the redirect URI — the errors that must not redirect (RFC 6749
/// §4.1.2.1) answer a 400 page — then the parameters every authorization takes.
pub(crate) fn parse_request(
    operator: &VirtualOperator,
    api: Api,
    query: Option<&str>,
) -> Result<AuthorizeRequest, SandboxError> {
    let pairs = form_pairs(query.unwrap_or("")).ok_or_else(|| not_redirectable("The query string does not parse."))?;
    let duplicate = unique_params(pairs.clone()).err();
    let first = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let client_id = first("client_id").ok_or_else(|| not_redirectable("client_id is missing."))?;
    let registered = [
        &operator.mc_client_id,
        &operator.vonage_application_id,
        &operator.camara_client_id,
    ];
    if !registered.contains(&&client_id) {
        return Err(not_redirectable(
            "client_id is not a registered application of this operator.",
        ));
    }
    let redirect_uri = first("redirect_uri").ok_or_else(|| not_redirectable("redirect_uri is missing."))?;
    if !operator.is_registered_redirect(&redirect_uri) {
        return Err(not_redirectable(
            "redirect_uri is not registered for this application, so the operator will not redirect to it.",
        ));
    }
    if matches!(duplicate.as_deref(), Some("client_id" | "redirect_uri")) {
        return Err(not_redirectable("client_id and redirect_uri must be given once."));
    }
    let state = first("state").filter(|s| s.len() <= MAX_PARAM_LEN);
    let req = AuthorizeRequest {
        params: pairs.into_iter().collect(),
        client_id,
        redirect_uri,
        state,
    };
    if let Some(name) = duplicate {
        return Err(req.refuse("invalid_request", format!("Parameter {name} is repeated.")));
    }
    check_common_params(operator, api, &req)?;
    Ok(req)
}

fn not_redirectable(message: &'static str) -> SandboxError {
    SandboxError::page(StatusCode::BAD_REQUEST, "Invalid authorization request", message)
}

/// The client must be this endpoint's; `response_type`, `state` and `scope` are checked
/// alike by every API.
fn check_common_params(operator: &VirtualOperator, api: Api, req: &AuthorizeRequest) -> Result<(), SandboxError> {
    if req.client_id != operator.client_id_of(api) {
        return Err(req.refuse(
            "unauthorized_client",
            "This client is registered for the other API of this operator, not for this authorization endpoint.",
        ));
    }
    match req.get("response_type") {
        None => return Err(req.refuse("invalid_request", "response_type is missing.")),
        Some("code") => {}
        Some(_) => return Err(req.refuse("unsupported_response_type", "Only response_type=code is supported.")),
    }
    match req.params.get("state").map(String::as_str) {
        None | Some("") => return Err(req.refuse("invalid_request", "state is missing.")),
        Some(s) if s.len() > MAX_PARAM_LEN => {
            return Err(req.refuse("invalid_request", "state is too long (at most 512 characters)."))
        }
        Some(_) => {}
    }
    if req.get("scope").is_none() {
        return Err(req.refuse("invalid_request", "scope is missing."));
    }
    Ok(())
}

/// Whether the space-separated `scope` holds `wanted`.
pub(crate) fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_ascii_whitespace().any(|s| s == wanted)
}

/// Records the authorization's outcome and answers the first redirect, to the hop.
pub(crate) fn start(
    operator: &VirtualOperator,
    req: &AuthorizeRequest,
    outcome: AuthorizationOutcome,
) -> Result<Response, SandboxError> {
    let id = random_value(18);
    let hop = format!("{}/hop/{id}", operator.public_base);
    let pending = PendingAuthorization {
        redirect_uri: req.redirect_uri.clone(),
        state: req.state.clone(),
        outcome,
    };
    operator.authorizations.keep(id, pending, HOP_TTL);
    found(&hop)
}

/// `GET /hop/{id}` — the second redirect: to the client with a fresh code, or the error
/// decided at authorization.
pub(crate) async fn hop(
    State(operator): State<Arc<VirtualOperator>>,
    Path(id): Path<String>,
) -> Result<Response, SandboxError> {
    let Taken::Found(pending) = operator.authorizations.take(&id) else {
        return Err(SandboxError::page(
            StatusCode::BAD_REQUEST,
            "Authorization expired",
            "This authorization step is unknown, was already used or has expired. Start the verification again.",
        ));
    };
    let grant = pending.outcome?;
    let code = random_value(24);
    tracing::info!(
        target: "sandbox",
        api = ?grant.api,
        sim = %grant.sim,
        fault = grant.fault.map(|f| f.name()),
        "authorize: code issued"
    );
    operator
        .codes
        .keep(code.clone(), CodeState::Fresh(Box::new(grant)), CODE_TTL);
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = pending.state.as_deref() {
        params.push(("state", state));
    }
    redirect_with(&pending.redirect_uri, &params)
}

/// Decides the authorization's outcome from the simulated conditions (docs/reference.md
/// §5): an unavailable operator, a device on Wi-Fi, then which SIM the device is on —
/// explicit (header, cookie), the virtual operator rule for a number known in clear, or
/// the default SIM.
pub(crate) fn decide(
    operator: &VirtualOperator,
    req: &AuthorizeRequest,
    api: Api,
    conditions: Conditions,
    known_number: Option<E164>,
    scope: String,
    nonce: Option<String>,
) -> AuthorizationOutcome {
    if conditions.fault == Some(Fault::Unavailable) {
        return Err(req.refuse(
            "temporarily_unavailable",
            "The operator is temporarily unavailable (simulated fault). Try again in a moment.",
        ));
    }
    if conditions.wifi {
        return Err(req.refuse(
            "access_denied",
            "The device is not on mobile data, so the operator cannot see its SIM: switch to mobile data (turn Wi-Fi off) and try again.",
        ));
    }
    let sim =
        match (conditions.sim, known_number) {
            (Some((sim, source)), _) => {
                tracing::debug!(target: "sandbox", ?source, %sim, "authorize: explicit SIM");
                sim
            }
            (None, Some(number)) => match virtual_operator_rule(&number) {
                RuleOutcome::OnNumber(n) | RuleOutcome::OtherNumber(n) => n,
                RuleOutcome::Fails => return Err(req.refuse(
                    "server_error",
                    "The operator failed to identify the device (virtual operator rule: numbers ending in 99 fail).",
                )),
            },
            (None, None) => operator.default_sim.clone(),
        };
    Ok(Grant {
        api,
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
