//! Standard CAMARA NumberVerification v2.1 as an Open Gateway operator exposes it, with
//! the CAMARA ICM security profile: OIDC discovery, the authorization code flow with
//! PKCE `S256` ([`authorize`]), the token endpoint with `private_key_jwt` client
//! authentication ([`token`]), and the API (`verify`, `device-phone-number`) with
//! single-use access tokens and `x-correlator` ([`api`]); and the JWT-bearer grant of an
//! operator token from a TS.43 credential ([`jwt_bearer`]). Everything lives under
//! `{base}/camara/v2`, which is both the issuer and the API root.

mod api;
mod authorize;
mod jwt_bearer;
mod token;

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::Response};
use serde_json::json;

use super::{operator::VirtualOperator, respond::json as json_response};
use crate::sandbox_contract::JWT_BEARER_GRANT_TYPE;

pub(crate) use api::{device_phone_number, verify};
pub(crate) use authorize::authorize;
pub(crate) use token::{authenticate_client, id_token, token};

/// The operation scopes of NumberVerification v2.
pub(crate) const SCOPE_VERIFY: &str = "number-verification:verify";
pub(crate) const SCOPE_SHARE: &str = "number-verification:device-phone-number:read";
/// The purpose the discovery document names (any `dpv:` purpose is accepted).
const PURPOSE: &str = "dpv:FraudPreventionAndDetection";

/// `GET /camara/v2/.well-known/openid-configuration`
pub(crate) async fn discovery(State(operator): State<Arc<VirtualOperator>>) -> Response {
    let issuer = operator.camara_v2_issuer();
    tracing::info!(target: "sandbox", "camara v2 discovery: served");
    json_response(
        StatusCode::OK,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", JWT_BEARER_GRANT_TYPE],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", PURPOSE, SCOPE_VERIFY, SCOPE_SHARE],
        }),
    )
}

/// CAMARA's `PhoneNumber`: `^\+[1-9][0-9]{4,14}$`.
pub(crate) fn is_phone_number(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_number_pattern_is_camara_v2() {
        for ok in ["+99012345678", "+12345", "+123456789012345"] {
            assert!(is_phone_number(ok), "{ok}");
        }
        for bad in [
            "99012345678",
            "+0123456",
            "+1234",
            "+1234567890123456",
            "+44 7700",
            "",
            "+",
        ] {
            assert!(!is_phone_number(bad), "{bad}");
        }
    }
}
