//! CAMARA Number Verification through Vonage (docs/reference.md §2.2):
//!
//! 1. the server asks `{VG}/v0.1/network-enablement` for an `auth_url` for this number;
//! 2. the browser goes to `auth_url`; the operator redirects to `/callback?code=…&state=…`;
//! 3. the server exchanges the code at `{VG}/oauth2/token` (application JWT);
//! 4. the server asks `{VG}/camara/number-verification/v031/verify` about the number.

use std::collections::HashMap;

use serde::Deserialize;
use url::Url;

use super::{
    app_jwt::AppJwtSource, endpoint, number_body, request_tokens, send_json, AccessToken, AppJwt, AuthCode, OAuthState,
    OperatorFailure, RedirectUri, SigningKey,
};
use crate::{phone::E164, support::redacted::Secret};

pub const SCOPE: &str = "dpv:FraudPreventionAndDetection#number-verification-verify-read";
/// Where Vonage sends the device to authorize: the host of its Network Auth API's
/// authorization endpoint (`GET https://oidc.idp.vonage.com/oauth2/auth`, Vonage Network
/// Auth API reference), which is what its network enablement answers as `auth_url`.
pub const DEFAULT_AUTH_HOSTS: &str = "oidc.idp.vonage.com";

/// How the app proves it is the Vonage application.
#[derive(Debug, Clone)]
pub enum VonageCredentials {
    /// The app mints its own application JWT with this RSA private key.
    PrivateKey(SigningKey),
    /// A pre-made application JWT, used as is until `expires_at` (seconds since the epoch).
    Jwt { jwt: Secret, expires_at: u64 },
}

/// A Vonage application: its API base, id and credentials.
#[derive(Debug, Clone)]
pub struct VonageSettings {
    pub api_base: Url,
    pub application_id: String,
    pub credentials: VonageCredentials,
    /// Send `hashedPhoneNumber` instead of `phoneNumber` to `verify`.
    pub hashed: bool,
    /// The hosts an `auth_url` may point at (`VONAGE_AUTH_HOSTS`; the virtual operator's
    /// own host when it backs Vonage), lowercase.
    pub auth_hosts: Vec<String>,
}

/// Vonage's Network APIs, as this app's registered application sees them.
pub struct VonageClient {
    http: reqwest::Client,
    app_jwt: AppJwtSource,
    redirect_uri: RedirectUri,
    /// Send only the number's hash to `verify`.
    hashed: bool,
    enablement: Url,
    token: Url,
    verify: Url,
    api_base: Url,
    auth_hosts: Vec<String>,
}

#[derive(Deserialize)]
struct Enablement {
    scopes: HashMap<String, ScopeGrant>,
}

#[derive(Deserialize)]
struct ScopeGrant {
    auth_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResponse {
    device_phone_number_verified: bool,
}

impl VonageClient {
    pub fn new(config: &VonageSettings, redirect_uri: RedirectUri, http: reqwest::Client) -> Self {
        Self {
            http,
            app_jwt: AppJwtSource::new(config),
            redirect_uri,
            hashed: config.hashed,
            enablement: endpoint(&config.api_base, "v0.1/network-enablement"),
            token: endpoint(&config.api_base, "oauth2/token"),
            verify: endpoint(&config.api_base, "camara/number-verification/v031/verify"),
            api_base: config.api_base.clone(),
            auth_hosts: config.auth_hosts.clone(),
        }
    }

    fn jwt(&self, step: &'static str) -> Result<AppJwt, OperatorFailure> {
        // An expired VONAGE_JWT: refused here, with the reason in the failure's log line.
        self.app_jwt.current().map_err(|e| OperatorFailure::Refused {
            step,
            reason: e.to_string(),
        })
    }

    /// Step 1: the authorization URL the device must visit for this number.
    pub async fn network_enablement(&self, number: &E164, state: &OAuthState) -> Result<String, OperatorFailure> {
        const STEP: &str = "Vonage network enablement";
        let body = serde_json::json!({ "phone_number": number.as_str(), "scopes": [SCOPE], "state": state.secret() });
        let request = self
            .http
            .post(self.enablement.clone())
            .bearer_auth(self.jwt(STEP)?.secret())
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
        let auth_url = check_auth_url(&auth_url, &self.auth_hosts, &self.api_base).map_err(|reason| {
            tracing::warn!(
                step = STEP,
                "the network enablement answered an auth_url the app will not send the device to"
            );
            OperatorFailure::Malformed { step: STEP, reason }
        })?;
        // The parsed URL's own serialisation, never the raw string: what was checked is
        // exactly what the browser is sent to.
        Ok(auth_url.into())
    }

    /// Step 3: code → access token, authenticated with the application JWT.
    pub async fn exchange_code(&self, code: &AuthCode) -> Result<AccessToken, OperatorFailure> {
        const STEP: &str = "Vonage token";
        let request = self
            .http
            .post(self.token.clone())
            .bearer_auth(self.jwt(STEP)?.secret())
            .form(&[
                ("code", code.secret()),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("grant_type", "authorization_code"),
            ]);
        Ok(request_tokens(STEP, request).await?.access)
    }

    /// Step 4: is the device on this number? With `hashed`, only the SHA-256 of
    /// "+E.164" is sent.
    pub async fn verify(&self, token: &AccessToken, number: &E164) -> Result<bool, OperatorFailure> {
        let body = number_body(number, self.hashed);
        let request = self
            .http
            .post(self.verify.clone())
            .bearer_auth(token.secret())
            .json(&body);
        let answer: VerifyResponse = send_json("CAMARA verify", request).await?;
        Ok(answer.device_phone_number_verified)
    }
}

/// The `auth_url` the device may be sent to: `https` on one of `hosts`; `http` only on
/// the host of an operator the app itself speaks `http` to (config allows that only for
/// loopback and the mounted virtual operator). Anything else would let whoever answers
/// the enablement send the person to a page of its choosing (RFC 6749 §10.6, §3.1: the
/// authorization endpoint must be TLS-protected). `Err` names the rule, never the URL
/// (its query carries the state and the number).
pub fn check_auth_url(raw: &str, hosts: &[String], api_base: &Url) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| "auth_url is not a URL".to_owned())?;
    let Some(host) = url.host_str() else {
        return Err("auth_url is not an http(s) URL with a host".into());
    };
    let operator_over_http = api_base.scheme() == "http" && api_base.host_str() == Some(host);
    match url.scheme() {
        "https" => {}
        "http" if operator_over_http => {}
        "http" => return Err("auth_url is not https".into()),
        _ => return Err("auth_url is not an http(s) URL with a host".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("auth_url carries a user or password".into());
    }
    if !hosts.iter().any(|allowed| allowed == host) {
        return Err(format!("auth_url host {host} is not in VONAGE_AUTH_HOSTS"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox_contract::credentials::VONAGE_PRIVATE_KEY;

    #[test]
    fn an_auth_url_is_https_on_an_allowed_host() {
        let hosts = vec!["oidc.idp.vonage.com".to_owned(), "127.0.0.1".to_owned()];
        let live = Url::parse("https://api-eu.vonage.com").unwrap();
        let local = Url::parse("http://127.0.0.1:9000").unwrap();
        let ok = |raw: &str, base: &Url| check_auth_url(raw, &hosts, base).map(String::from);
        assert_eq!(
            ok("https://OIDC.idp.vonage.com/oauth2/auth?a=b c", &live).unwrap(),
            "https://oidc.idp.vonage.com/oauth2/auth?a=b%20c"
        );
        assert!(ok("http://127.0.0.1:9000/oauth2/auth", &local).is_ok());
        for (raw, base, why) in [
            ("http://oidc.idp.vonage.com/oauth2/auth", &live, "not https"),
            ("http://127.0.0.1:9000/oauth2/auth", &live, "not https"),
            ("https://evil.example/", &live, "not in VONAGE_AUTH_HOSTS"),
            (
                "https://oidc.idp.vonage.com.evil.example/",
                &live,
                "not in VONAGE_AUTH_HOSTS",
            ),
            ("https://u:p@oidc.idp.vonage.com/", &live, "user or password"),
            ("javascript:alert(1)", &live, "not an http(s) URL"),
            ("data:text/html,hi", &live, "not an http(s) URL"),
            ("/relative", &live, "not a URL"),
        ] {
            let err = ok(raw, base).unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
    }

    #[test]
    fn the_client_owns_its_endpoints() {
        let config = VonageSettings {
            api_base: Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::PrivateKey(SigningKey::rsa_from_pem(VONAGE_PRIVATE_KEY).unwrap()),
            hashed: false,
            auth_hosts: vec![DEFAULT_AUTH_HOSTS.into()],
        };
        let client = VonageClient::new(
            &config,
            RedirectUri::for_origin("https://app.example").unwrap(),
            reqwest::Client::new(),
        );
        assert_eq!(client.enablement.as_str(), "https://vg.example/v0.1/network-enablement");
        assert_eq!(client.token.as_str(), "https://vg.example/oauth2/token");
        assert_eq!(
            client.verify.as_str(),
            "https://vg.example/camara/number-verification/v031/verify"
        );
        assert_eq!(client.redirect_uri.as_str(), "https://app.example/callback");
    }
}
