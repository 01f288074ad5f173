//! Mobile Connect "Number Verify", device-initiated (docs/reference.md §2.1):
//!
//! 1. the browser goes to `{MC}/deviceinitiated/v1/authorize`; the operator recognises
//!    the SIM on its network and redirects to `/callback?code=…&state=…`;
//! 2. the server exchanges the code at `{MC}/deviceinitiated/v1/token` (HTTP Basic);
//! 3. the server asks `{MC}/premiuminfo/v1/` whether the SIM's number has the hash of
//!    the number the person typed.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;
use url::Url;

use super::{endpoint, hash_number, send_json, AccessToken, AuthCode, Nonce, OperatorFailure, State};
use crate::{
    config::{MobileConnectConfig, RedirectUri, Secret},
    phone::E164,
};

pub const SCOPE: &str = "openid mc_vm_match_hash";
pub const VERSION: &str = "mc_di_r2_v2.3";
pub const ACR_VALUES: &str = "2";

/// A Mobile Connect operator, as this app's registered client sees it.
pub struct MobileConnectClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret,
    redirect_uri: RedirectUri,
    authorize: Url,
    token: Url,
    premiuminfo: Url,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct PremiumInfo {
    device_msisdn_verified: bool,
}

impl MobileConnectClient {
    pub fn new(config: &MobileConnectConfig, redirect_uri: RedirectUri, http: reqwest::Client) -> Self {
        Self {
            http,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri,
            authorize: endpoint(&config.api_base, "deviceinitiated/v1/authorize"),
            token: endpoint(&config.api_base, "deviceinitiated/v1/token"),
            premiuminfo: endpoint(&config.api_base, "premiuminfo/v1/"),
        }
    }

    /// Step 1: where the browser must go, top-level.
    pub fn authorize_url(&self, state: &State, nonce: &Nonce) -> String {
        let mut url = self.authorize.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("scope", SCOPE)
            .append_pair("response_type", "code")
            .append_pair("state", state.secret())
            .append_pair("acr_values", ACR_VALUES)
            .append_pair("version", VERSION)
            .append_pair("nonce", nonce.secret());
        // `url` encodes spaces as `+`; the operators' examples use `%20`.
        url.as_str().replace('+', "%20")
    }

    /// Step 2: code → access token, with HTTP Basic client authentication. The
    /// `id_token` must carry the nonce this verification was started with.
    pub async fn exchange_code(&self, code: &AuthCode, nonce: &Nonce) -> Result<AccessToken, OperatorFailure> {
        const STEP: &str = "Mobile Connect token";
        let basic = STANDARD.encode(format!("{}:{}", self.client_id, self.client_secret.expose()));
        let request = self
            .http
            .post(self.token.clone())
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code", code.secret()),
            ]);
        let token: TokenResponse = send_json(STEP, request).await?;
        if token.access_token.is_empty() {
            return Err(OperatorFailure::Malformed {
                step: STEP,
                reason: "empty access_token".into(),
            });
        }
        let id_token = token.id_token.ok_or_else(|| OperatorFailure::Malformed {
            step: STEP,
            reason: "no id_token".into(),
        })?;
        check_id_token(&id_token, &self.client_id, &self.client_secret, nonce)
            .map_err(|reason| OperatorFailure::Malformed { step: STEP, reason })?;
        Ok(AccessToken::new(token.access_token))
    }

    /// Step 3: is the SIM's number the one typed? Only its hash leaves the server.
    pub async fn check_number(&self, token: &AccessToken, number: &E164) -> Result<bool, OperatorFailure> {
        let body = serde_json::json!({ "mc_claims": { "device_msisdn_hash": hash_number(number) } });
        let request = self
            .http
            .post(self.premiuminfo.clone())
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let info: PremiumInfo = send_json("Mobile Connect premiuminfo", request).await?;
        Ok(info.device_msisdn_verified)
    }
}

/// Checks the id_token's `nonce` and audience. Its signature is verified where the
/// operator signs with the client secret (HS256, as the virtual operator does); an
/// operator that signs with RS256 publishes its keys (JWKS), which this app does not
/// fetch, so there only the claims are checked — the token came straight from the
/// operator over TLS, on a request authenticated with our secret.
fn check_id_token(id_token: &str, client_id: &str, client_secret: &Secret, nonce: &Nonce) -> Result<(), String> {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

    #[derive(Deserialize)]
    struct Claims {
        nonce: Option<String>,
    }
    let header = decode_header(id_token).map_err(|e| format!("id_token: {e}"))?;
    let claims: Claims = if header.alg == Algorithm::HS256 {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        decode::<Claims>(
            id_token,
            &DecodingKey::from_secret(client_secret.expose().as_bytes()),
            &validation,
        )
        .map_err(|e| format!("id_token: {e}"))?
        .claims
    } else {
        let payload = id_token.split('.').nth(1).ok_or("id_token: not a JWT")?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| "id_token: payload is not base64url")?;
        serde_json::from_slice(&bytes).map_err(|e| format!("id_token: {e}"))?
    };
    match claims.nonce {
        Some(n) if n == nonce.secret() => Ok(()),
        Some(_) => Err("id_token nonce does not match this verification".into()),
        None => Err("id_token carries no nonce".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> MobileConnectClient {
        let config = MobileConnectConfig {
            api_base: Url::parse("https://mc.example/api").unwrap(),
            client_id: "client-1".into(),
            client_secret: Secret::new("s3cret"),
        };
        MobileConnectClient::new(
            &config,
            RedirectUri::for_origin("https://app.example"),
            reqwest::Client::new(),
        )
    }

    fn check(id_token: &str, nonce: &str) -> Result<(), String> {
        check_id_token(id_token, "client-1", &Secret::new("s3cret"), &Nonce::new(nonce))
    }

    #[test]
    fn authorize_url_has_exactly_the_spec_parameters() {
        let url = client().authorize_url(&State::new("st-1"), &Nonce::new("n-1"));
        assert_eq!(
            url,
            "https://mc.example/api/deviceinitiated/v1/authorize?client_id=client-1\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=openid%20mc_vm_match_hash\
             &response_type=code&state=st-1&acr_values=2&version=mc_di_r2_v2.3&nonce=n-1"
        );
    }

    #[test]
    fn the_client_owns_its_endpoints() {
        let c = client();
        assert_eq!(c.token.as_str(), "https://mc.example/api/deviceinitiated/v1/token");
        assert_eq!(c.premiuminfo.as_str(), "https://mc.example/api/premiuminfo/v1/");
    }

    fn hs256(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn id_token_nonce_audience_and_signature_are_checked() {
        let exp = jsonwebtoken::get_current_timestamp() + 300;
        let good = hs256(
            serde_json::json!({"nonce": "n-1", "aud": "client-1", "exp": exp}),
            "s3cret",
        );
        assert_eq!(check(&good, "n-1"), Ok(()));
        assert!(check(&good, "n-2").unwrap_err().contains("nonce"));
        let forged = hs256(
            serde_json::json!({"nonce": "n-1", "aud": "client-1", "exp": exp}),
            "other",
        );
        assert!(check(&forged, "n-1").is_err());
        let wrong_aud = hs256(
            serde_json::json!({"nonce": "n-1", "aud": "someone", "exp": exp}),
            "s3cret",
        );
        assert!(check(&wrong_aud, "n-1").is_err());
        let no_nonce = hs256(serde_json::json!({"aud": "client-1", "exp": exp}), "s3cret");
        assert!(check(&no_nonce, "n-1").unwrap_err().contains("no nonce"));
        assert!(check("garbage", "n-1").is_err());
    }
}
