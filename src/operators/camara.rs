//! CAMARA Number Verification through Vonage (SPEC §2.2):
//!
//! 1. the server asks `{VG}/v0.1/network-enablement` for an `auth_url` for this number;
//! 2. the browser goes to `auth_url`; the operator redirects to `/callback?code=…&state=…`;
//! 3. the server exchanges the code at `{VG}/oauth2/token` (application JWT);
//! 4. the server asks `{VG}/camara/number-verification/v031/verify` about the number.

use std::collections::HashMap;

use serde::Deserialize;

use super::{hash_number, send_json, AccessToken, AppJwt, AuthCode, OperatorFailure};
use crate::{config::VonageConfig, phone::E164};

pub const SCOPE: &str = "dpv:FraudPreventionAndDetection#number-verification-verify-read";

#[derive(Deserialize)]
struct Enablement {
    scopes: HashMap<String, ScopeGrant>,
}

#[derive(Deserialize)]
struct ScopeGrant {
    auth_url: String,
}

/// Step 1: the authorization URL the device must visit for this number.
pub async fn network_enablement(
    http: &reqwest::Client,
    config: &VonageConfig,
    jwt: &AppJwt,
    number: &E164,
    state: &str,
) -> Result<String, OperatorFailure> {
    const STEP: &str = "Vonage network enablement";
    let body = serde_json::json!({ "phone_number": number.as_str(), "scopes": [SCOPE], "state": state });
    let request = http
        .post(format!("{}/v0.1/network-enablement", config.api_base))
        .bearer_auth(jwt.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body);
    let enablement: Enablement = send_json(STEP, request).await?;
    let auth_url = enablement
        .scopes
        .get(SCOPE)
        .map(|grant| grant.auth_url.clone())
        .ok_or_else(|| OperatorFailure::Malformed {
            step: STEP,
            reason: "no auth_url for the verify scope".into(),
        })?;
    match url::Url::parse(&auth_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(auth_url),
        _ => Err(OperatorFailure::Malformed {
            step: STEP,
            reason: "auth_url is not an http(s) URL".into(),
        }),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// Step 3: code → access token, authenticated with the application JWT.
pub async fn exchange_code(
    http: &reqwest::Client,
    config: &VonageConfig,
    jwt: &AppJwt,
    redirect_uri: &str,
    code: &AuthCode,
) -> Result<AccessToken, OperatorFailure> {
    const STEP: &str = "Vonage token";
    let request = http
        .post(format!("{}/oauth2/token", config.api_base))
        .bearer_auth(jwt.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ]);
    let token: TokenResponse = send_json(STEP, request).await?;
    if token.access_token.is_empty() {
        return Err(OperatorFailure::Malformed {
            step: STEP,
            reason: "empty access_token".into(),
        });
    }
    Ok(AccessToken::new(token.access_token))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResponse {
    device_phone_number_verified: bool,
}

/// Step 4: is the device on this number? With `hashed`, only the number's SHA-256 of
/// "+E.164" is sent.
pub async fn verify(
    http: &reqwest::Client,
    config: &VonageConfig,
    token: &AccessToken,
    number: &E164,
) -> Result<bool, OperatorFailure> {
    let body = if config.hashed {
        serde_json::json!({ "hashedPhoneNumber": hash_number(number) })
    } else {
        serde_json::json!({ "phoneNumber": number.as_str() })
    };
    let request = http
        .post(format!("{}/camara/number-verification/v031/verify", config.api_base))
        .bearer_auth(token.secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body);
    let answer: VerifyResponse = send_json("CAMARA verify", request).await?;
    Ok(answer.device_phone_number_verified)
}
