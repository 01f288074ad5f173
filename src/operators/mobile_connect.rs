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

use super::{
    endpoint, hash_number, id_token::Checker, jwks::JwksCache, request_tokens, send_json, AccessToken, AuthCode, Nonce,
    OAuthState, OperatorFailure, RedirectUri,
};
use crate::{phone::E164, support::redacted::Secret};

pub const SCOPE: &str = "openid mc_vm_match_hash";
pub const VERSION: &str = "mc_di_r2_v2.3";
pub const ACR_VALUES: &str = "2";

/// A Mobile Connect operator and this app's registration with it.
#[derive(Debug, Clone)]
pub struct MobileConnectSettings {
    /// Base URL, e.g. `https://api.example-operator.com/mc`; endpoints hang off it.
    pub api_base: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// The operator's signing keys, for RS256/ES256 id_tokens (`None`: only HS256
    /// id_tokens verify).
    pub jwks_url: Option<Url>,
}

/// A Mobile Connect operator, as this app's registered client sees it.
pub struct MobileConnectClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret,
    redirect_uri: RedirectUri,
    authorize: Url,
    token: Url,
    premiuminfo: Url,
    /// Its id_tokens: `iss` is `MC_API_BASE` (with or without a trailing slash), HS256
    /// with the client secret or RS256/ES256 with the JWKS key.
    id_token: Checker,
    /// The operator's keys for RS256/ES256 id_tokens (`MC_JWKS_URL`).
    jwks: JwksCache,
}

#[derive(Deserialize)]
struct PremiumInfo {
    device_msisdn_verified: bool,
}

impl MobileConnectClient {
    pub fn new(config: &MobileConnectSettings, redirect_uri: RedirectUri, http: reqwest::Client) -> Self {
        let issuer = config.api_base.as_str().trim_end_matches('/').to_owned();
        Self {
            id_token: Checker {
                step: "Mobile Connect id_token",
                issuers: vec![format!("{issuer}/"), issuer],
                client_id: config.client_id.clone(),
                hs256_secret: Some(config.client_secret.clone()),
            },
            jwks: JwksCache::new(http.clone(), config.jwks_url.clone(), super::jwks::MOBILE_CONNECT),
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
    pub fn authorize_url(&self, state: &OAuthState, nonce: &Nonce) -> String {
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
        let basic = STANDARD.encode(format!("{}:{}", self.client_id, self.client_secret.secret()));
        let request = self
            .http
            .post(self.token.clone())
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code", code.secret()),
            ]);
        let (access, id_token) = request_tokens(STEP, request).await?.with_id_token(STEP)?;
        self.id_token.check(&self.jwks, &id_token, nonce).await?;
        Ok(access)
    }

    /// Step 3: is the SIM's number the one typed? Only its hash leaves the server.
    pub async fn check_number(&self, token: &AccessToken, number: &E164) -> Result<bool, OperatorFailure> {
        let body = serde_json::json!({ "mc_claims": { "device_msisdn_hash": hash_number(number) } });
        let request = self
            .http
            .post(self.premiuminfo.clone())
            .bearer_auth(token.secret())
            .json(&body);
        let info: PremiumInfo = send_json("Mobile Connect premiuminfo", request).await?;
        Ok(info.device_msisdn_verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> MobileConnectClient {
        let config = MobileConnectSettings {
            api_base: Url::parse("https://mc.example/api").unwrap(),
            client_id: "client-1".into(),
            client_secret: Secret::new("s3cret"),
            jwks_url: None,
        };
        MobileConnectClient::new(
            &config,
            RedirectUri::for_origin("https://app.example").unwrap(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn authorize_url_has_exactly_the_spec_parameters() {
        let url = client().authorize_url(&OAuthState::new("st-1"), &Nonce::new("n-1"));
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

    async fn check(c: &MobileConnectClient, claims: serde_json::Value, nonce: &str) -> Result<(), OperatorFailure> {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        c.id_token.check(&c.jwks, &token, &Nonce::new(nonce)).await
    }

    #[tokio::test]
    async fn the_issuer_is_the_api_base_and_failures_are_refusals() {
        let c = client();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |iss: &str| serde_json::json!({"iss": iss, "aud": "client-1", "nonce": "n-1", "iat": now, "exp": now + 300});
        assert_eq!(check(&c, claims("https://mc.example/api"), "n-1").await, Ok(()));
        assert_eq!(check(&c, claims("https://mc.example/api/"), "n-1").await, Ok(()));
        let err = check(&c, claims("https://mc.example"), "n-1").await.unwrap_err();
        assert!(matches!(err, OperatorFailure::Refused { .. }), "{err:?}");
        assert!(err.to_string().contains("iss"), "{err}");
        let err = check(&c, claims("https://mc.example/api"), "n-2").await.unwrap_err();
        assert!(err.to_string().contains("nonce"), "{err}");
        // RS256 with no MC_JWKS_URL: refused, naming the variable, without a request.
        let rs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims("https://mc.example/api"),
            &jsonwebtoken::EncodingKey::from_rsa_pem(
                include_str!("../../sandbox-keys/mc-id-token-rsa-1.pem").as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
        let err = c.id_token.check(&c.jwks, &rs, &Nonce::new("n-1")).await.unwrap_err();
        assert!(err.to_string().contains("MC_JWKS_URL"), "{err}");
    }
}
