//! `POST /openid4vp/credentials` — the aggregator's credential request: a relying party
//! (authenticated as the standard CAMARA client, `private_key_jwt`) asks for a DCQL
//! credential query for a TS.43 phone-number credential and gets it with a signed
//! `credential_authorization_jwt` naming the key the wallet encrypts its answer to.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::{PublicKey, SecretKey};
use serde_json::{json, Map, Value};

use super::{CredentialRequest, AUTHZ_JWT_TYP, CARRIER_ID, FALLBACK_OPTIONS, JWT_TTL_SECS, MAX_NONCE_LEN, REQUEST_TTL};
use crate::{
    sandbox::{
        authorize::has_scope,
        camara_v2::{authenticate_client, SCOPE_VERIFY},
        device::{parse_msisdn, read_conditions, Fault},
        error::SandboxError,
        operator::{Keep, VirtualOperator},
        respond::json as json_response,
    },
    sandbox_contract::{TS43_CREDENTIALS_PATH, TS43_FORMAT, TS43_VCT},
    support::{jwe, random_value, unix_now},
};

/// `POST /openid4vp/credentials` — JSON `{scope, nonce, carrier_ids?, phone_number_hint?,
/// encryption_jwk?, client_assertion_type, client_assertion}` →
/// `{id, format, meta: {vct_values, credential_authorization_jwt}}`.
pub(crate) async fn credentials(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    let endpoint = format!("{}{TS43_CREDENTIALS_PATH}", operator.public_base);
    let body = json_object(&body)?;
    let param = |name: &str| body.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
    // The relying party authenticates as at the token endpoint, the assertion's `aud`
    // being this endpoint.
    let client_id = authenticate_client(&operator, &param, &endpoint)?;
    let conditions = read_conditions(&headers).map_err(SandboxError::invalid_request)?;
    let scope = match body.get("scope") {
        Some(Value::String(s)) if has_scope(s, SCOPE_VERIFY) => s.clone(),
        Some(Value::String(_)) => {
            return Err(SandboxError::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "scope must contain number-verification:verify (e.g. \"dpv:FraudPreventionAndDetection number-verification:verify\").",
            ))
        }
        None => return Err(SandboxError::invalid_request("scope is missing.")),
        Some(_) => return Err(SandboxError::invalid_request("scope must be a string.")),
    };
    let nonce = match body.get("nonce") {
        Some(Value::String(n))
            if !n.is_empty() && n.len() <= MAX_NONCE_LEN && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.clone()
        }
        None => return Err(SandboxError::invalid_request("nonce is missing.")),
        Some(_) => {
            return Err(SandboxError::invalid_request(
                "nonce must be a string of 1 to 512 visible ASCII characters.",
            ))
        }
    };
    let hint = match body.get("phone_number_hint") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => Some(
            parse_msisdn(h)
                .map_err(|e| SandboxError::invalid_request(format!("phone_number_hint is not an E.164 number: {e}")))?,
        ),
        Some(_) => return Err(SandboxError::invalid_request("phone_number_hint must be a string.")),
    };
    check_carriers(body.get("carrier_ids"))?;
    if conditions.fault == Some(Fault::CarrierNotSupported) {
        tracing::info!(target: "sandbox", "ts43 credential request: simulated fault carrier-not-supported");
        return Err(carrier_not_supported(
            "The subscriber's carrier is not supported (simulated fault carrier-not-supported).",
        ));
    }
    if conditions.fault == Some(Fault::Unavailable) {
        return Err(SandboxError::oauth(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The aggregator is temporarily unavailable (simulated fault). Try again in a moment.",
        ));
    }
    let (public, response_key) = match body.get("encryption_jwk") {
        None | Some(Value::Null) => {
            let secret = SecretKey::random(&mut rand::thread_rng());
            (secret.public_key(), Some(secret))
        }
        Some(jwk) => (relying_party_key(jwk)?, None),
    };
    let issuer = operator.ts43_issuer.as_ref().ok_or_else(no_issuer)?;
    let id = random_value(16);
    let mut jwk = serde_json::to_value(public.to_jwk()).map_err(|_| no_issuer())?;
    // OpenID4VP 1.0 (response encryption): the key the wallet encrypts to, with its use
    // and algorithm.
    jwk["use"] = json!("enc");
    jwk["alg"] = json!(jwe::ALG);
    jwk["kid"] = json!(id);
    let now = unix_now();
    let consent = json!({ "client_id": client_id, "scope": scope, "carrier_id": CARRIER_ID });
    let claims = json!({
        "iss": operator.public_base,
        "iat": now,
        "exp": now + JWT_TTL_SECS,
        "nonce": nonce,
        "jwks": { "keys": [jwk] },
        "encrypted_response_enc_values_supported": [jwe::ENC],
        "consent_data": URL_SAFE_NO_PAD.encode(consent.to_string()),
    });
    let authorization_jwt = issuer.sign(AUTHZ_JWT_TYP, &claims).map_err(|e| {
        tracing::error!(target: "sandbox", "ts43 credential request: cannot sign the authorization JWT: {e}");
        no_issuer()
    })?;
    let key_source = if response_key.is_some() {
        "aggregator"
    } else {
        "relying party"
    };
    operator.credential_requests.keep(
        id.clone(),
        CredentialRequest {
            client_id,
            nonce,
            hint,
            response_key,
        },
        REQUEST_TTL,
    );
    tracing::info!(target: "sandbox", key_source, "ts43 credential request: issued");
    Ok(json_response(
        StatusCode::OK,
        json!({
            "id": id,
            "format": TS43_FORMAT,
            "meta": {
                "vct_values": [TS43_VCT],
                "credential_authorization_jwt": authorization_jwt,
            },
        }),
    ))
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, SandboxError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SandboxError::invalid_request("The request body must be a JSON object.")),
        Err(_) => Err(SandboxError::invalid_request(
            "The request body is not JSON: send {\"scope\", \"nonce\", …} with the client assertion.",
        )),
    }
}

/// `carrier_ids` (MCC+MNC strings), if given, must name this operator's carrier.
fn check_carriers(carrier_ids: Option<&Value>) -> Result<(), SandboxError> {
    let ids = match carrier_ids {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(ids)) => ids,
        Some(_) => {
            return Err(SandboxError::invalid_request(
                "carrier_ids must be an array of MCC+MNC strings.",
            ))
        }
    };
    let mut ours = false;
    for id in ids {
        match id.as_str() {
            Some(s) if (5..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => ours |= s == CARRIER_ID,
            _ => {
                return Err(SandboxError::invalid_request(
                    "carrier_ids must hold MCC+MNC strings of 5 or 6 digits, e.g. \"00101\".",
                ))
            }
        }
    }
    if ours || ids.is_empty() {
        Ok(())
    } else {
        tracing::info!(target: "sandbox", carriers = ids.len(), "ts43 credential request: no supported carrier");
        Err(carrier_not_supported(
            "None of carrier_ids is served here: the virtual operator is carrier 00101 (MCC 001, MNC 01).",
        ))
    }
}

/// The aggregator cannot reach the subscriber's carrier: the relying party should take
/// another path. 422: the request is well formed, but cannot be served for this carrier.
fn carrier_not_supported(description: &'static str) -> SandboxError {
    SandboxError::fallback(
        StatusCode::UNPROCESSABLE_ENTITY,
        "carrier_not_supported",
        description,
        FALLBACK_OPTIONS,
    )
}

/// The relying party's own response encryption key: a public P-256 JWK (no `d`).
fn relying_party_key(jwk: &Value) -> Result<PublicKey, SandboxError> {
    let refuse = |m: &'static str| SandboxError::invalid_request(m);
    let Value::Object(map) = jwk else {
        return Err(refuse("encryption_jwk must be a JWK object."));
    };
    if map.contains_key("d") {
        return Err(refuse(
            "encryption_jwk holds a private key (d): send only the public half, and keep the private key.",
        ));
    }
    if map.get("kty").and_then(Value::as_str) != Some("EC") || map.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(refuse("encryption_jwk must be an EC P-256 key (kty EC, crv P-256)."));
    }
    jwe::public_key_from_jwk(jwk).ok_or_else(|| refuse("encryption_jwk is not a valid P-256 public key."))
}

fn no_issuer() -> SandboxError {
    SandboxError::oauth(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "The aggregator cannot sign credential requests (its sandbox key did not load).",
    )
}
