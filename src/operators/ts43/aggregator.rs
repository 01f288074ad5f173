//! The aggregator's credential request (CAMARA Operator Token Acquisition; OpenID4VP over
//! the Digital Credentials API): before the browser asks its wallet, the server asks the
//! aggregator for a signed authorization of the request, naming its nonce and the
//! ephemeral key the answer is encrypted to. What comes back is the DCQL credential query
//! the page hands to `navigator.credentials.get`.

use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{EphemeralKey, TrustAnchors, FORMAT, VCT_VERIFY};
use crate::{operators::OperatorFailure, phone::E164};

pub const STEP: &str = "TS.43 credential request";

/// The protocol the page asks the browser for (W3C Digital Credentials; OpenID4VP 1.0
/// Appendix A).
pub const DC_PROTOCOL: &str = "openid4vp-v1-unsigned";

/// Where the phone-number credential comes from: `TS43_CREDENTIALS_URL` (the aggregator's
/// credential-request endpoint) and `TS43_TRUST_ANCHORS` (the certificates an issuer's
/// chain must end in).
#[derive(Debug, Clone)]
pub struct Ts43Settings {
    pub credentials_url: Url,
    pub trust_anchors: TrustAnchors,
}

/// The aggregator's answer: one DCQL credential query (OpenID4VP §6).
#[derive(Debug, Deserialize)]
struct CredentialQuery {
    id: String,
    format: String,
    meta: QueryMeta,
}

#[derive(Debug, Deserialize)]
struct QueryMeta {
    vct_values: Vec<String>,
    credential_authorization_jwt: String,
}

/// What the page passes to the browser: `{protocol, data}`, the `data` being the
/// OpenID4VP request with this request's nonce and the aggregator's credential query.
pub fn browser_request(query: &Value, nonce: &str) -> Value {
    json!({
        "protocol": DC_PROTOCOL,
        "data": {
            "response_type": "vp_token",
            "response_mode": "dc_api",
            "nonce": nonce,
            "dcql_query": { "credentials": [query] },
        },
    })
}

/// Sends the credential request (`client_assertion` authenticates this app, as at the
/// operator's token endpoint) and checks the answer's shape: the credential query, ready
/// for [`browser_request`].
pub(crate) async fn request(
    http: &reqwest::Client,
    settings: &Ts43Settings,
    client_assertion: &str,
    nonce: &str,
    key: &EphemeralKey,
    hint: Option<&E164>,
) -> Result<Value, OperatorFailure> {
    let mut body = json!({
        "scope": crate::operators::camara::OPERATOR_TOKEN_SCOPE,
        "nonce": nonce,
        "encryption_jwk": key.public_jwk(),
        "client_assertion_type": crate::operators::camara::ASSERTION_TYPE,
        "client_assertion": client_assertion,
    });
    if let Some(hint) = hint {
        body["phone_number_hint"] = json!(hint.as_str());
    }
    let request = http.post(settings.credentials_url.clone()).json(&body);
    let answer: Value = crate::operators::send_json(STEP, request).await?;
    let query: CredentialQuery = serde_json::from_value(answer.clone()).map_err(|_| OperatorFailure::Malformed {
        step: STEP,
        reason: "not a credential query {id, format, meta: {vct_values, credential_authorization_jwt}}".into(),
    })?;
    let malformed = |reason: &str| OperatorFailure::Malformed {
        step: STEP,
        reason: reason.into(),
    };
    if query.id.is_empty() || query.format != FORMAT {
        return Err(malformed("the credential query's id or format"));
    }
    if !query.meta.vct_values.iter().any(|v| v == VCT_VERIFY) {
        return Err(malformed("the credential query is not for number verification"));
    }
    if query.meta.credential_authorization_jwt.split('.').count() != 3 {
        return Err(malformed("the credential authorization is not a JWT"));
    }
    Ok(answer)
}
