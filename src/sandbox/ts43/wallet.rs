//! `POST /virtual-wallet` — what a TS.43 wallet on the simulated device answers to
//! `navigator.credentials.get({digital})`: it checks the request (OpenID4VP over the DC
//! API, the aggregator's signed authorization JWT, the nonce), decides the SIM as the
//! other protocols do (docs/reference.md §5), mints a single-use operator token and
//! returns the SD-JWT presentation whose `encrypted_credential` carries it.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use p256::PublicKey;
use serde_json::{json, Map, Value};
use url::Url;

use super::{
    sd_jwt::{self, Binding},
    OperatorGrant, OperatorToken, AUTHZ_JWT_TYP, CARRIER_ID, OPERATOR_TOKEN_TTL,
};
use crate::{
    phone::E164,
    sandbox::{
        device::{read_conditions, virtual_operator_rule, Fault, RuleOutcome},
        error::SandboxError,
        operator::{Keep, VirtualOperator},
        respond::json as json_response,
        token::EXPIRED_TOKEN_MEMORY,
    },
    sandbox_contract::{TS43_DC_PROTOCOL, TS43_FORMAT, TS43_VCT},
    support::{jwe, random_value, ttl_map::Taken},
};

/// `POST /virtual-wallet` — JSON `{protocol?, data: {response_type, response_mode, nonce,
/// dcql_query}, origin?}` (the origin defaults to the `Origin` header) with the simulated
/// device's cookies or headers → `{vp_token: {<credential id>: ["IssuerJWT~…~KB-JWT"]}}`.
///
/// Pages of another origin may call it (a `SANDBOX=only` operator beside the app): the
/// answer allows the calling origin, with credentials, so that the simulated device's
/// cookies travel ([`preflight`] answers the CORS preflight).
pub(crate) async fn wallet(State(operator): State<Arc<VirtualOperator>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut res = answer(&operator, &headers, &body).await.into_response();
    allow_origin(&mut res, &headers);
    res
}

/// `OPTIONS /virtual-wallet` — the CORS preflight of a cross-origin page's JSON POST.
pub(crate) async fn preflight(headers: HeaderMap) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    allow_origin(&mut res, &headers);
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}

/// Echoes a well-formed `Origin` as allowed, with credentials (a sandbox endpoint: any
/// page may use the virtual wallet); `Vary: Origin` either way.
fn allow_origin(res: &mut Response, headers: &HeaderMap) {
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    let Some(origin) = headers.get(header::ORIGIN) else {
        return;
    };
    let valid = origin
        .to_str()
        .ok()
        .and_then(|o| Url::parse(o).ok().map(|u| (o, u)))
        .is_some_and(|(o, u)| matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == o);
    if valid {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

async fn answer(operator: &Arc<VirtualOperator>, headers: &HeaderMap, body: &[u8]) -> Result<Response, SandboxError> {
    let body = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(bad("The request body must be a JSON object {protocol, data, origin}.")),
    };
    match body.get("protocol") {
        None => {}
        Some(Value::String(p)) if p == TS43_DC_PROTOCOL => {}
        Some(_) => {
            return Err(bad(
                "protocol must be openid4vp-v1-unsigned: the only one this wallet speaks.",
            ))
        }
    }
    let origin = origin(body.get("origin"), headers)?;
    let data = request_data(body.get("data"))?;
    let nonce = match data.get("nonce") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(bad("data.nonce is missing (OpenID4VP: the request's nonce).")),
    };
    let (id, authorization_jwt) = credential_query(&data)?;
    let issuer = operator.ts43_issuer.as_ref().ok_or_else(|| {
        SandboxError::oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The wallet cannot issue credentials (its sandbox key did not load).",
        )
    })?;
    let authorization = check_authorization_jwt(operator.as_ref(), authorization_jwt)?;
    // The request the aggregator recorded for this credential id, made for this nonce.
    let request = operator.credential_requests.get(&id).ok_or_else(|| {
        bad("The credential request is unknown, was already answered or has expired (they live 5 minutes): ask the aggregator for a new one.")
    })?;
    if authorization.get("nonce").and_then(Value::as_str) != Some(request.nonce.as_str()) {
        return Err(bad(
            "The credential_authorization_jwt was not issued for this credential id.",
        ));
    }
    if nonce != request.nonce {
        // The page's nonce must be the one the aggregator signed: a wallet refuses to
        // bind a presentation to a request it was not authorised for.
        return Err(bad(
            "data.nonce is not the nonce the credential authorization JWT was issued for.",
        ));
    }
    let response_key = response_key(&authorization)?;
    let conditions = read_conditions(headers).map_err(SandboxError::invalid_request)?;
    if conditions.fault == Some(Fault::Unavailable) {
        return Err(SandboxError::oauth(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The operator is temporarily unavailable (simulated fault). Try again in a moment.",
        ));
    }
    // The SIM as for a network authorization (rules 1, 2, 3 with the hint, 4); the
    // network does not matter: TS.43 reaches the operator over any connection.
    let sim = match (conditions.sim, request.hint.as_ref()) {
        (Some((sim, _)), _) => sim,
        (None, Some(hint)) => match virtual_operator_rule(hint) {
            RuleOutcome::OnNumber(n) | RuleOutcome::OtherNumber(n) => n,
            RuleOutcome::Fails => {
                return Err(SandboxError::oauth(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The operator failed to identify the SIM (virtual operator rule: numbers ending in 99 fail).",
                ))
            }
        },
        (None, None) => operator.default_sim.clone(),
    };
    // One answer per request.
    if !matches!(operator.credential_requests.take(&id), Taken::Found(_)) {
        return Err(bad("The credential request was already answered."));
    }
    let temp_token = issue_operator_token(operator, &request.client_id, &sim, conditions.fault, conditions.delay);
    let plaintext = json!({ "temp_token": temp_token, "carrier_hint": CARRIER_ID }).to_string();
    let kid = authorization["jwks"]["keys"][0]["kid"].as_str();
    let encrypted = jwe::encrypt(plaintext.as_bytes(), &response_key, kid).map_err(|e| {
        tracing::error!(target: "sandbox", "virtual wallet: cannot encrypt the credential: {e}");
        bad("The response encryption key cannot be used.")
    })?;
    let binding = Binding {
        iss: &operator.public_base,
        aud: &origin,
        nonce: &nonce,
    };
    let presentation = sd_jwt::present(issuer, &binding, &encrypted).map_err(|e| {
        tracing::error!(target: "sandbox", "virtual wallet: cannot sign the credential: {e}");
        SandboxError::oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The wallet cannot sign the credential.",
        )
    })?;
    tracing::info!(
        target: "sandbox",
        %sim,
        fault = conditions.fault.map(|f| f.name()),
        "virtual wallet: credential presented"
    );
    Ok(json_response(
        StatusCode::OK,
        json!({ "vp_token": { id: [presentation] } }),
    ))
}

fn bad(message: &'static str) -> SandboxError {
    SandboxError::invalid_request(message)
}

/// The page's origin (the key-binding JWT's `aud`): `origin` in the body, else the
/// `Origin` header; an `http(s)` origin with nothing after the host and port.
fn origin(given: Option<&Value>, headers: &HeaderMap) -> Result<String, SandboxError> {
    let value = match given {
        Some(Value::String(o)) => o.clone(),
        Some(_) => return Err(bad("origin must be a string, e.g. \"https://example.com\".")),
        None => headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| bad("origin is missing: give the page's origin (location.origin), the KB-JWT's aud."))?,
    };
    let parsed = Url::parse(&value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    match parsed.map(|u| u.origin().ascii_serialization()) {
        Some(o) if o == value => Ok(o),
        _ => Err(bad(
            "origin must be an http(s) origin, scheme://host[:port] with no path, e.g. \"https://example.com\".",
        )),
    }
}

/// The DC API request's `data` (an object, or its JSON text), with the OpenID4VP
/// parameters this wallet answers: `response_type=vp_token`, `response_mode=dc_api`.
fn request_data(data: Option<&Value>) -> Result<Map<String, Value>, SandboxError> {
    let data = match data {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(bad("data is not a JSON object.")),
        },
        _ => return Err(bad("data is missing: the DC API request's data object.")),
    };
    if data.get("response_type").and_then(Value::as_str) != Some("vp_token") {
        return Err(bad("data.response_type must be vp_token (OpenID4VP)."));
    }
    // OpenID4VP 1.0 Appendix A (the DC API): an unsigned request over the DC API answers by `dc_api`.
    if data.get("response_mode").and_then(Value::as_str) != Some("dc_api") {
        return Err(bad("data.response_mode must be dc_api (OpenID4VP Appendix A)."));
    }
    Ok(data)
}

/// The DCQL credential query this wallet can answer (OpenID4VP 1.0 §6, DCQL): `format`
/// `dc-authorization+sd-jwt`, `meta.vct_values` naming the TS.43 type, and the
/// aggregator's `credential_authorization_jwt`. `Ok` is its id and that JWT.
fn credential_query(data: &Map<String, Value>) -> Result<(String, &str), SandboxError> {
    let Some(Value::Array(queries)) = data.get("dcql_query").and_then(|q| q.get("credentials")) else {
        return Err(bad("data.dcql_query.credentials is missing (OpenID4VP 1.0 §6, DCQL)."));
    };
    let ours = queries.iter().find(|q| {
        q.get("format").and_then(Value::as_str) == Some(TS43_FORMAT)
            && q["meta"]["vct_values"]
                .as_array()
                .is_some_and(|v| v.iter().any(|t| t == TS43_VCT))
    });
    let Some(query) = ours else {
        return Err(SandboxError::oauth(
            StatusCode::NOT_FOUND,
            "no_credential",
            "This wallet holds no credential the query asks for: it answers format dc-authorization+sd-jwt, vct number-verification/verify/ts43.",
        ));
    };
    let id = query
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .ok_or_else(|| bad("The credential query has no id."))?;
    let jwt = query["meta"]["credential_authorization_jwt"].as_str().ok_or_else(|| {
        bad("The credential query has no meta.credential_authorization_jwt: ask the aggregator for one.")
    })?;
    Ok((id.to_owned(), jwt))
}

/// The aggregator's authorization JWT, checked as a wallet does: ES256 by the sandbox
/// issuer (the key its `x5c` chain certifies), `typ` `oauth-authz-req+jwt`, unexpired.
fn check_authorization_jwt(operator: &VirtualOperator, jwt: &str) -> Result<Value, SandboxError> {
    let issuer = operator
        .ts43_issuer
        .as_ref()
        .ok_or_else(|| bad("The wallet has no trust anchor."))?;
    let header = decode_header(jwt).map_err(|_| bad("credential_authorization_jwt is not a signed JWT."))?;
    if header.typ.as_deref() != Some(AUTHZ_JWT_TYP) {
        return Err(bad("credential_authorization_jwt's typ must be oauth-authz-req+jwt."));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[&operator.public_base]);
    let data = decode::<Value>(jwt, issuer.public(), &validation).map_err(|e| {
        tracing::debug!(target: "sandbox", kind = ?e.kind(), "virtual wallet: authorization JWT refused");
        bad("credential_authorization_jwt does not verify: not signed by the sandbox aggregator, expired, or altered.")
    })?;
    Ok(data.claims)
}

/// The key the answer is encrypted to: the authorization JWT's first `jwks` key, P-256,
/// for `ECDH-ES`, with `A128GCM` among the accepted content encryptions.
fn response_key(authorization: &Value) -> Result<PublicKey, SandboxError> {
    let jwk = &authorization["jwks"]["keys"][0];
    if jwk["alg"] != jwe::ALG {
        return Err(bad("The authorization JWT's response key is not for ECDH-ES."));
    }
    let encs = authorization["encrypted_response_enc_values_supported"].as_array();
    if !encs.is_some_and(|e| e.iter().any(|v| v == jwe::ENC)) {
        return Err(bad("The authorization JWT does not accept A128GCM."));
    }
    jwe::public_key_from_jwk(jwk).ok_or_else(|| bad("The authorization JWT's response key is not P-256."))
}

/// A single-use operator token for `sim`, for `client_id`'s grant; the faults
/// `token-expired` and `token-reused` issue it already expired or spent.
fn issue_operator_token(
    operator: &VirtualOperator,
    client_id: &str,
    sim: &E164,
    fault: Option<Fault>,
    delay: std::time::Duration,
) -> String {
    let token = random_value(32);
    let life = match fault {
        Some(Fault::TokenExpired) => std::time::Duration::ZERO,
        _ => OPERATOR_TOKEN_TTL,
    };
    let state = match fault {
        Some(Fault::TokenReused) => OperatorToken::Spent,
        _ => OperatorToken::Fresh(OperatorGrant {
            client_id: client_id.to_owned(),
            sim: sim.clone(),
            expires_at: Instant::now() + life,
            fault,
            delay,
        }),
    };
    // Kept past its end so that the grant can say "expired" rather than "unknown".
    operator
        .operator_tokens
        .keep(token.clone(), state, life + EXPIRED_TOKEN_MEMORY);
    token
}
