//! `POST /camara/v2/token`: `private_key_jwt` client authentication, the PKCE proof, and
//! the id_token of standard CAMARA; the JWT-bearer grant is [`super::jwt_bearer`].

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use axum::{body::Bytes, extract::State, response::Response};
use base64::Engine;
use serde_json::{json, Value};

use crate::{
    sandbox::{
        client_assertion::{self, ASSERTION_TYPE, FAULT_CLOCK_AHEAD_SECS},
        device::Fault,
        error::SandboxError,
        operator::{Api, CodeState, Grant, Keep, VirtualOperator},
        respond::{form_pairs, unique_params},
        token::{check_grant_type, redeem, token_response},
    },
    sandbox_contract::JWT_BEARER_GRANT_TYPE,
    support::{constant_time_eq, unix_now},
};

/// `POST /camara/v2/token` — `private_key_jwt`; form `grant_type, code, redirect_uri,
/// code_verifier, client_assertion_type, client_assertion`.
pub(crate) async fn token(State(operator): State<Arc<VirtualOperator>>, body: Bytes) -> Result<Response, SandboxError> {
    let params = token_form(&body)?;
    let param = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let token_endpoint = format!("{}/token", operator.camara_v2_issuer());
    if param("grant_type") == Some(JWT_BEARER_GRANT_TYPE) {
        return super::jwt_bearer::grant(&operator, &param).await;
    }
    // Client authentication first (RFC 6749 §5.2: a failure is 401 invalid_client).
    let client_id = authenticate_client(&operator, &param, &token_endpoint)?;
    check_grant_type(param("grant_type"))?;
    let code = param("code").ok_or_else(|| SandboxError::invalid_request("code is missing."))?;
    let redirect_uri =
        param("redirect_uri").ok_or_else(|| SandboxError::invalid_request("redirect_uri is missing."))?;
    let (grant, expires_at) = redeem(&operator, Api::CamaraV2, &client_id, code, redirect_uri)?;
    if let Err(description) = check_pkce(grant.code_challenge.as_deref(), param("code_verifier")) {
        // A failed proof spends the code: no second guess at the verifier.
        operator
            .codes
            .keep_until(code.to_owned(), CodeState::Redeemed { access_token: None }, expires_at);
        return Err(SandboxError::invalid_grant(description));
    }
    token_response(&operator, code, grant, expires_at).await
}

/// The form body, each parameter at most once.
pub(crate) fn token_form(body: &[u8]) -> Result<HashMap<String, String>, SandboxError> {
    let pairs = std::str::from_utf8(body).ok().and_then(form_pairs).ok_or_else(|| {
        SandboxError::invalid_request("The request body is not form data (application/x-www-form-urlencoded).")
    })?;
    unique_params(pairs).map_err(|name| {
        let name: String = name.chars().take(64).collect();
        SandboxError::invalid_request(format!("Parameter {name} is repeated."))
    })
}

/// Checks the client assertion (`client_assertion_type`, `client_assertion`, an optional
/// `client_id`) whose `aud` must be `audience` (or the v2 issuer); `Ok` is the client it
/// authenticates.
pub(crate) fn authenticate_client<'a>(
    operator: &VirtualOperator,
    param: &impl Fn(&str) -> Option<&'a str>,
    audience: &str,
) -> Result<String, SandboxError> {
    match param("client_assertion_type") {
        Some(ASSERTION_TYPE) => {}
        None => {
            return Err(invalid_client(
                "Client authentication is required: private_key_jwt (client_assertion_type and client_assertion).",
            ))
        }
        Some(_) => {
            return Err(invalid_client(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            ))
        }
    }
    let assertion = param("client_assertion").ok_or_else(|| invalid_client("client_assertion is missing."))?;
    // The fault sticks to the code: look at it without redeeming it.
    let clock_ahead = match param("code").and_then(|code| operator.codes.get(code)) {
        Some(CodeState::Fresh(grant)) if grant.fault == Some(Fault::ClientAssertionExpired) => {
            tracing::info!(target: "sandbox", "camara v2 token: simulated fault client-assertion-expired");
            FAULT_CLOCK_AHEAD_SECS
        }
        _ => 0,
    };
    let issuer = operator.camara_v2_issuer();
    let client_id =
        client_assertion::verify(operator, assertion, &issuer, audience, clock_ahead).map_err(invalid_client)?;
    if param("client_id").is_some_and(|id| id != client_id) {
        return Err(invalid_client(
            "client_id is not the client the assertion authenticates.",
        ));
    }
    Ok(client_id)
}

/// No `WWW-Authenticate`: private_key_jwt is no HTTP authentication scheme.
pub(crate) fn invalid_client(description: impl Into<Cow<'static, str>>) -> SandboxError {
    SandboxError::invalid_client(description).without_challenge()
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub(crate) fn s256(verifier: &str) -> String {
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The PKCE check of a token request against its authorization's challenge.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err("PKCE verification failed: a code_verifier was sent, but the authorization had no code_challenge.")
        }
        (Some(_), None) => Err("PKCE verification failed: code_verifier is missing."),
        (Some(_), Some(v)) if !is_code_verifier(v) => {
            Err("PKCE verification failed: code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].")
        }
        (Some(c), Some(v)) if constant_time_eq(s256(v).as_bytes(), c.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err("PKCE verification failed: code_verifier does not match the code_challenge."),
    }
}

/// The OIDC id_token of a standard CAMARA grant: `iss` the issuer, `aud`/`azp` the
/// client, a pairwise `sub`, the `nonce` if one was sent, `amr` how the user was
/// authenticated; RS256 unless the authorization asked otherwise
/// ([`crate::sandbox::id_token`]).
pub(crate) fn id_token(operator: &VirtualOperator, grant: &Grant, ttl: u64) -> Result<String, String> {
    let mut claims = crate::sandbox::id_token::claims(
        &grant.id_token,
        &operator.camara_v2_issuer(),
        &grant.client_id,
        &operator.sub_for(&grant.sim),
        grant.nonce.as_deref(),
        unix_now(),
        ttl,
    );
    if let Some(c) = claims.as_object_mut() {
        if c.get("nonce").is_some_and(Value::is_null) {
            c.remove("nonce");
        }
        c.remove("acr");
        let amr = if grant.fault == Some(Fault::NotNetworkAuth) {
            "pwd"
        } else {
            "network"
        };
        c.insert("amr".into(), json!([amr]));
    }
    operator.signing.sign(&grant.id_token, &claims)
}

#[cfg(test)]
mod tests {
    use super::{super::authorize::is_s256_challenge, *};

    #[test]
    fn s256_is_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(is_code_verifier(verifier));
        assert!(is_s256_challenge(&s256(verifier)));
        let challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(check_pkce(challenge, Some(verifier)), Ok(()));
        assert!(check_pkce(challenge, Some(&verifier.replace('d', "e"))).is_err());
        assert!(check_pkce(challenge, None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err());
        assert_eq!(check_pkce(None, None), Ok(()));
    }

    #[test]
    fn code_verifiers_follow_rfc_7636() {
        assert!(is_code_verifier(&"a".repeat(43)));
        assert!(is_code_verifier(&"a-._~".repeat(26)[..128]));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }
}
