//! Standard CAMARA NumberVerification v2.1 at any Open Gateway operator (docs/reference.md §2.3), with
//! the CAMARA ICM security profile:
//!
//! 0. the server reads `{issuer}/.well-known/openid-configuration` (at start-up, then
//!    every [`DISCOVERY_REFRESH`]) for the authorization, token and JWKS endpoints;
//! 1. the browser goes to the `authorization_endpoint` with `login_hint=tel:+E.164`, the
//!    purpose as a scope, `state`, `nonce` and a PKCE `S256` challenge; the operator
//!    redirects to `/callback?code=…&state=…`;
//! 2. the server exchanges the code at the `token_endpoint` with the PKCE verifier,
//!    authenticating with `private_key_jwt` (RFC 7523), and checks the id_token against
//!    the discovered `jwks_uri` (`iss`, `aud`, `exp`, `nonce`);
//! 3. the server calls `{root}/number-verification/v2/verify` (or, to share the number,
//!    `…/device-phone-number`) with an `x-correlator` the verification's log lines carry.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    endpoint,
    id_token::Checker,
    jwks::{self, JwksCache},
    number_body, read_json, request_tokens, send_json, status_failure,
    ts43::{self, EphemeralKey, Ts43Settings},
    AccessToken, AuthCode, Nonce, OAuthState, OperatorFailure, RedirectUri, SigningKey, CLOCK_SKEW,
};
use crate::{
    phone::{normalise, E164},
    support::{random_token, redacted::redacted_newtype},
};

/// The purpose (`dpv:…`) and the operation, as scopes (CAMARA ICM: purpose as a scope).
pub const VERIFY_SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";
/// The JWT-bearer grant's scope: no `openid`, as no id_token comes back (CAMARA ICM).
pub const OPERATOR_TOKEN_SCOPE: &str = "dpv:FraudPreventionAndDetection number-verification:verify";
/// RFC 7523 §2.1.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long an operator-token assertion lives: CAMARA ICM allows at most 300 s.
pub const OPERATOR_TOKEN_ASSERTION_SECS: u64 = 300;
pub const SHARE_SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:device-phone-number:read";
/// How often the discovery document is read again (operators rotate endpoints rarely,
/// keys more often: those follow the JWKS cache's own rules).
pub const DISCOVERY_REFRESH: Duration = Duration::from_secs(60 * 60);
/// The client assertion's lifetime: well under the 300 s the profile allows.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;
/// RFC 7523's client assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The 403 code that means the operator did not see the SIM (Wi-Fi, or not
/// network-based authentication).
pub const NOT_ON_MOBILE_NETWORK: &str = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK";

const DISCOVERY_STEP: &str = "CAMARA discovery";
const TOKEN_STEP: &str = "CAMARA token";
const ID_TOKEN_STEP: &str = "CAMARA id_token";
const JWKS_NAMES: jwks::Names = jwks::Names {
    jwks: "CAMARA JWKS",
    id_token: ID_TOKEN_STEP,
    url_variable: "the discovered jwks_uri",
};

redacted_newtype!(
    /// The PKCE `code_verifier` (RFC 7636): only this verification's server side knows
    /// it, so a code stolen from the redirect cannot be exchanged by anyone else.
    CodeVerifier
);

impl CodeVerifier {
    /// 64 characters of `[0-9a-f]` (RFC 7636 §4.1 asks for 43–128 unreserved characters).
    pub fn random() -> Self {
        Self::new(format!("{}{}", random_token(), random_token()))
    }

    /// `S256`: BASE64URL(SHA256(verifier)).
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret().as_bytes()))
    }
}

redacted_newtype!(
    /// The `x-correlator` of a verification's API call, also in its log lines: what an
    /// operator's support asks for. Not secret, but not the user's business either.
    Correlator
);

impl Correlator {
    pub fn random() -> Self {
        Self::new(uuid::Uuid::new_v4().to_string())
    }
}

/// What the flow asks of the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Purpose {
    /// Is the device on this number? (`/verify`)
    Verify,
    /// Which number is the device on? (`/device-phone-number`)
    Share,
}

impl Purpose {
    fn scope(self) -> &'static str {
        match self {
            Purpose::Verify => VERIFY_SCOPE,
            Purpose::Share => SHARE_SCOPE,
        }
    }
}

/// The operator's endpoints, as its discovery document names them.
struct Discovered {
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks: Arc<JwksCache>,
    jwks_uri: Url,
    fetched_at: Instant,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResponse {
    device_phone_number_verified: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareResponse {
    device_phone_number: String,
}

/// A standard CAMARA v2.1 operator, known by its issuer and this app's registered client.
#[derive(Debug, Clone)]
pub struct CamaraSettings {
    /// `{issuer}/.well-known/openid-configuration` names the endpoints.
    pub issuer: Url,
    /// `{root}/number-verification/v2/verify`.
    pub api_root: Url,
    pub client_id: String,
    /// Signs the client assertions (ES256 or RS256).
    pub client_key: SigningKey,
    /// The `kid` the operator registered the public key under.
    pub client_key_id: String,
    /// Send `hashedPhoneNumber` instead of `phoneNumber`.
    pub hashed: bool,
    /// The issuer is the virtual operator mounted in this very process, which cannot
    /// answer before the server listens: discovery then waits for the first use.
    pub issuer_in_process: bool,
    /// The phone-number credential's aggregator (`TS43_*`), when configured: its operator
    /// tokens are redeemed at this operator's token endpoint.
    pub ts43: Option<Ts43Settings>,
}

/// A standard CAMARA operator, as this app's registered client sees it.
pub struct CamaraClient {
    http: reqwest::Client,
    ts43: Option<Ts43Settings>,
    client_id: String,
    signing_key: SigningKey,
    key_id: String,
    redirect_uri: RedirectUri,
    hashed: bool,
    issuer: Url,
    /// Its id_tokens: `iss` is the issuer exactly as configured and as discovery
    /// confirmed (with and without a trailing slash, since the URL parser may add one),
    /// signed only with the operator's published keys (no shared secret: no HS256).
    id_token: Checker,
    discovery_url: Url,
    verify: Url,
    share: Url,
    /// `None` until the first successful discovery.
    discovered: tokio::sync::RwLock<Option<Arc<Discovered>>>,
    /// Held while fetching, so concurrent first uses make one request.
    fetching: tokio::sync::Mutex<()>,
}

impl CamaraClient {
    pub fn new(config: &CamaraSettings, redirect_uri: RedirectUri, http: reqwest::Client) -> Self {
        let issuer = config.issuer.as_str().trim_end_matches('/').to_owned();
        Self {
            http,
            ts43: config.ts43.clone(),
            client_id: config.client_id.clone(),
            signing_key: config.client_key.clone(),
            key_id: config.client_key_id.clone(),
            redirect_uri,
            hashed: config.hashed,
            id_token: Checker {
                step: ID_TOKEN_STEP,
                issuers: vec![issuer.clone(), format!("{issuer}/")],
                client_id: config.client_id.clone(),
                hs256_secret: None,
            },
            discovery_url: endpoint(&config.issuer, ".well-known/openid-configuration"),
            issuer: config.issuer.clone(),
            verify: endpoint(&config.api_root, "number-verification/v2/verify"),
            share: endpoint(&config.api_root, "number-verification/v2/device-phone-number"),
            discovered: tokio::sync::RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The issuer's origin (for the page's `form-action`).
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    /// Step 0: reads the discovery document now and keeps it. On failure the previous
    /// document (if any) stays in use.
    pub async fn discover(&self) -> Result<(), OperatorFailure> {
        let _one_at_a_time = self.fetching.lock().await;
        let found = self.fetch_discovery().await?;
        *self.discovered.write().await = Some(Arc::new(found));
        Ok(())
    }

    /// The discovered endpoints, read now if never read, or again if older than
    /// [`DISCOVERY_REFRESH`] (the scheduled refresh normally does that first).
    async fn endpoints(&self) -> Result<Arc<Discovered>, OperatorFailure> {
        if let Some(found) = self.discovered.read().await.clone() {
            if found.fetched_at.elapsed() < DISCOVERY_REFRESH * 2 {
                return Ok(found);
            }
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(found) = self.discovered.read().await.clone() {
            if found.fetched_at.elapsed() < DISCOVERY_REFRESH * 2 {
                return Ok(found);
            }
        }
        match self.fetch_discovery().await {
            Ok(found) => {
                let found = Arc::new(found);
                *self.discovered.write().await = Some(found.clone());
                Ok(found)
            }
            // A stale document is better than none while the operator is briefly away.
            Err(e) => match self.discovered.read().await.clone() {
                Some(stale) => {
                    tracing::warn!(failure = %e, "CAMARA discovery failed; using the previous document");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch_discovery(&self) -> Result<Discovered, OperatorFailure> {
        let request = self.http.get(self.discovery_url.clone());
        let doc: DiscoveryDocument = send_json(DISCOVERY_STEP, request).await?;
        let malformed = |reason: String| OperatorFailure::Malformed {
            step: DISCOVERY_STEP,
            reason,
        };
        // OpenID Connect Discovery §4.3: the issuer must be exactly the one asked.
        if !self.id_token.issuers.contains(&doc.issuer) {
            return Err(malformed("its issuer is not CAMARA_ISSUER".into()));
        }
        let url = |name: &str, value: &str| -> Result<Url, OperatorFailure> {
            discovered_url(&self.issuer, value).map_err(|why| {
                tracing::warn!(
                    endpoint = name,
                    "CAMARA discovery names an endpoint the app will not use"
                );
                malformed(format!("{name} {why}"))
            })
        };
        let jwks_uri = url("jwks_uri", &doc.jwks_uri)?;
        let previous = self.discovered.read().await.clone();
        // Keep the cached keys when the JWKS has not moved.
        let jwks = match previous.filter(|p| p.jwks_uri == jwks_uri) {
            Some(p) => p.jwks.clone(),
            None => Arc::new(JwksCache::new(self.http.clone(), Some(jwks_uri.clone()), JWKS_NAMES)),
        };
        let found = Discovered {
            authorization_endpoint: url("authorization_endpoint", &doc.authorization_endpoint)?,
            token_endpoint: url("token_endpoint", &doc.token_endpoint)?,
            jwks,
            jwks_uri,
            fetched_at: Instant::now(),
        };
        tracing::info!(
            issuer = %self.issuer.origin().ascii_serialization(),
            "read the CAMARA operator's discovery document"
        );
        Ok(found)
    }

    /// Step 1: where the browser must go, top-level. `number` becomes the `login_hint`
    /// (a share has none: the operator decides from the SIM alone).
    pub async fn authorize_url(
        &self,
        purpose: Purpose,
        number: Option<&E164>,
        state: &OAuthState,
        nonce: &Nonce,
        verifier: &CodeVerifier,
    ) -> Result<String, OperatorFailure> {
        let found = self.endpoints().await?;
        let mut url = found.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", self.redirect_uri.as_str())
                .append_pair("scope", purpose.scope())
                .append_pair("state", state.secret())
                .append_pair("nonce", nonce.secret())
                .append_pair("code_challenge", &verifier.challenge())
                .append_pair("code_challenge_method", "S256");
            if let Some(number) = number {
                // RFC 3966, no separators.
                query.append_pair("login_hint", &format!("tel:{}", number.as_str()));
            }
        }
        // `url` encodes spaces as `+`; `%20` is what every operator's example shows.
        Ok(url.as_str().replace('+', "%20"))
    }

    /// Step 2: code + PKCE verifier → access token, with `private_key_jwt`; the id_token
    /// must come from the issuer, for this client, unexpired, with this nonce.
    pub async fn exchange_code(
        &self,
        code: &AuthCode,
        verifier: &CodeVerifier,
        nonce: &Nonce,
    ) -> Result<AccessToken, OperatorFailure> {
        let found = self.endpoints().await?;
        let assertion = self.client_assertion(&found.token_endpoint)?;
        let request = self.http.post(found.token_endpoint.clone()).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", verifier.secret()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ]);
        let (access, id_token) = request_tokens(TOKEN_STEP, request).await?.with_id_token(TOKEN_STEP)?;
        self.id_token.check(&found.jwks, &id_token, nonce).await?;
        Ok(access)
    }

    /// The phone-number credential's settings, when configured.
    pub fn ts43(&self) -> Option<&Ts43Settings> {
        self.ts43.as_ref()
    }

    /// Asks the aggregator to authorize a credential request with this `nonce`, its answer
    /// encrypted to `key`; the credential query for the browser. `None` without `TS43_*`.
    pub async fn request_credential(
        &self,
        nonce: &str,
        key: &EphemeralKey,
        hint: Option<&E164>,
    ) -> Option<Result<serde_json::Value, OperatorFailure>> {
        let settings = self.ts43.as_ref()?;
        let assertion = match self.client_assertion_at(&settings.credentials_url, jsonwebtoken::get_current_timestamp())
        {
            Ok(assertion) => assertion,
            Err(failure) => return Some(Err(failure)),
        };
        Some(ts43::aggregator::request(&self.http, settings, &assertion, nonce, key, hint).await)
    }

    /// A phone-number credential's operator token → an access token for `/verify`: the
    /// JWT-bearer grant (RFC 7523 §2.1) with `sub` = `operatortoken:<token>` (CAMARA ICM),
    /// signed with the client's key, which authenticates the client too (RFC 7523 §3).
    pub async fn exchange_operator_token(&self, operator_token: &str) -> Result<AccessToken, OperatorFailure> {
        let found = self.endpoints().await?;
        let assertion = self.operator_token_assertion_at(
            &found.token_endpoint,
            operator_token,
            jsonwebtoken::get_current_timestamp(),
        )?;
        let request = self.http.post(found.token_endpoint.clone()).form(&[
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.as_str()),
            ("scope", OPERATOR_TOKEN_SCOPE),
        ]);
        Ok(request_tokens(TOKEN_STEP, request).await?.access)
    }

    /// RFC 7523 §3: `iss` the client, `sub` the operator token, `aud` the token endpoint,
    /// a fresh `jti`; `iat` backdated like every assertion, and `exp` 300 s after it
    /// (CAMARA ICM: an assertion lives at most 300 s, counted from `iat`).
    fn operator_token_assertion_at(
        &self,
        token_endpoint: &Url,
        operator_token: &str,
        now: u64,
    ) -> Result<String, OperatorFailure> {
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": format!("operatortoken:{operator_token}"),
            "aud": token_endpoint.as_str(),
            "scope": OPERATOR_TOKEN_SCOPE,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now.saturating_sub(CLOCK_SKEW.as_secs()),
            "exp": now.saturating_sub(CLOCK_SKEW.as_secs()) + OPERATOR_TOKEN_ASSERTION_SECS,
        });
        self.sign_assertion("operator-token assertion", &claims)
    }

    /// RFC 7523 §3 / CAMARA ICM: `iss` = `sub` = client id, `aud` = the token endpoint,
    /// a fresh `jti`, short-lived; signed with the registered key under its `kid`.
    fn client_assertion(&self, token_endpoint: &Url) -> Result<String, OperatorFailure> {
        self.client_assertion_at(token_endpoint, jsonwebtoken::get_current_timestamp())
    }

    fn client_assertion_at(&self, token_endpoint: &Url, now: u64) -> Result<String, OperatorFailure> {
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_endpoint.as_str(),
            "jti": uuid::Uuid::new_v4().to_string(),
            // Backdated like the Vonage application JWT; `exp` still counts from now, so
            // the assertion lives no longer than intended (RFC 7523 §3: `exp` required).
            "iat": now.saturating_sub(CLOCK_SKEW.as_secs()),
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        self.sign_assertion("client assertion", &claims)
    }

    /// Signs an assertion with the registered key under its `kid`.
    fn sign_assertion(&self, what: &str, claims: &serde_json::Value) -> Result<String, OperatorFailure> {
        let mut header = self.signing_key.header();
        header.kid = Some(self.key_id.clone());
        self.signing_key
            .sign(&header, claims)
            .map_err(|e| OperatorFailure::Refused {
                step: TOKEN_STEP,
                reason: format!("cannot sign the {what} with CAMARA_CLIENT_KEY: {e}"),
            })
    }

    /// Step 3 (verify): is the device on this number? With `CAMARA_HASHED`, only the
    /// SHA-256 of "+E.164" leaves the server.
    pub async fn verify(
        &self,
        token: &AccessToken,
        number: &E164,
        correlator: &Correlator,
    ) -> Result<bool, OperatorFailure> {
        let body = number_body(number, self.hashed);
        let request = self.http.post(self.verify.clone()).json(&body);
        let answer: VerifyResponse = self.call_api("CAMARA verify", request, token, correlator).await?;
        Ok(answer.device_phone_number_verified)
    }

    /// Step 3 (share): the number of the device's SIM.
    pub async fn device_phone_number(
        &self,
        token: &AccessToken,
        correlator: &Correlator,
    ) -> Result<E164, OperatorFailure> {
        const STEP: &str = "CAMARA device-phone-number";
        let request = self.http.get(self.share.clone());
        let answer: ShareResponse = self.call_api(STEP, request, token, correlator).await?;
        // The pattern CAMARA gives: `+` and E.164 digits, nothing else.
        let plus_e164 = answer.device_phone_number.starts_with('+');
        match normalise(&answer.device_phone_number) {
            Ok(number) if plus_e164 && number.as_str() == answer.device_phone_number => Ok(number),
            _ => Err(OperatorFailure::Malformed {
                step: STEP,
                reason: "devicePhoneNumber is not an E.164 number with its +".into(),
            }),
        }
    }

    /// An API call with the token and the correlator; a 403 saying the user was not
    /// authenticated by the mobile network becomes [`OperatorFailure::NotOnMobileNetwork`].
    async fn call_api<T: serde::de::DeserializeOwned>(
        &self,
        step: &'static str,
        request: reqwest::RequestBuilder,
        token: &AccessToken,
        correlator: &Correlator,
    ) -> Result<T, OperatorFailure> {
        let request = request
            .bearer_auth(token.secret())
            .header("x-correlator", correlator.secret());
        let response = super::send(step, request).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(match status_failure(step, status, response).await {
                OperatorFailure::Status {
                    status: 403,
                    code: Some(ref c),
                    ..
                } if c == NOT_ON_MOBILE_NETWORK => OperatorFailure::NotOnMobileNetwork { step },
                other => other,
            });
        }
        if response
            .headers()
            .get("x-correlator")
            .is_some_and(|echo| echo.as_bytes() != correlator.secret().as_bytes())
        {
            tracing::warn!(step, "the operator echoed another x-correlator");
        }
        read_json(step, response).await
    }
}

/// An endpoint a discovery document names: `https` (or `http` on loopback), and on a
/// loopback host only when the issuer itself is on one. The token endpoint receives the
/// code, the PKCE verifier and a signed assertion; a document from a public issuer naming
/// `127.0.0.1` or `localhost` would aim them at services on the app's own machine.
/// (OpenID Connect Discovery §3 asks for `https` endpoints; loopback is for tests and a
/// local operator only.) `Err` says why, without the URL.
fn discovered_url(issuer: &Url, value: &str) -> Result<Url, &'static str> {
    let url = crate::support::urls::operator_url(value).map_err(|_| "is not an https URL (or http on loopback)")?;
    if is_loopback(&url) && !is_loopback(issuer) {
        return Err("is on a loopback host, which only a loopback CAMARA_ISSUER may name");
    }
    Ok(url)
}

/// Whether `url`'s host is this machine: 127.0.0.0/8, `[::1]` or `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    #[test]
    fn a_public_issuer_may_not_name_loopback_endpoints() {
        let public = Url::parse("https://op.example/oidc").unwrap();
        let local = Url::parse("http://127.0.0.1:8080/oidc").unwrap();
        for endpoint in [
            "http://127.0.0.1:6379/token",
            "http://localhost:8080/token",
            "http://[::1]:9000/token",
            "https://127.0.0.2/token",
            "https://localhost/token",
            "https://metadata.localhost/token",
        ] {
            let why = discovered_url(&public, endpoint).unwrap_err();
            assert!(why.contains("loopback CAMARA_ISSUER"), "{endpoint}: {why}");
            assert!(
                discovered_url(&local, endpoint).is_ok(),
                "{endpoint} under a loopback issuer"
            );
        }
        assert!(discovered_url(&public, "https://op.example/oidc/token").is_ok());
        assert!(discovered_url(&public, "http://op.example/oidc/token").is_err());
        assert!(discovered_url(&local, "http://op.example/oidc/token").is_err());
    }

    const KEY: &str = include_str!("../../sandbox-keys/camara-client-private.pem");
    const PUBLIC: &str = include_str!("../../sandbox-keys/camara-client-public.pem");

    fn client() -> CamaraClient {
        CamaraClient::new(
            &client_config(),
            RedirectUri::for_origin("https://app.example").unwrap(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn pkce_s256_is_rfc_7636_appendix_b() {
        let verifier = CodeVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(verifier.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let random = CodeVerifier::random();
        assert_eq!(random.secret().len(), 64);
        assert_ne!(random, CodeVerifier::random());
        assert!(!format!("{random:?}").contains(random.secret()));
    }

    #[test]
    fn the_client_owns_its_endpoints() {
        let c = client();
        assert_eq!(
            c.discovery_url.as_str(),
            "https://op.example/oidc/.well-known/openid-configuration"
        );
        assert_eq!(
            c.verify.as_str(),
            "https://api.op.example/camara/number-verification/v2/verify"
        );
        assert_eq!(
            c.share.as_str(),
            "https://api.op.example/camara/number-verification/v2/device-phone-number"
        );
    }

    #[test]
    fn the_client_assertion_is_rfc_7523() {
        let c = client();
        let token_endpoint = Url::parse("https://op.example/oidc/token").unwrap();
        let assertion = c.client_assertion(&token_endpoint).unwrap();
        let header = jsonwebtoken::decode_header(&assertion).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://op.example/oidc/token"]);
        validation.set_issuer(&["client-1"]);
        validation.sub = Some("client-1".into());
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &assertion,
            &jsonwebtoken::DecodingKey::from_ec_pem(PUBLIC.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        assert!(exp > iat && exp - iat <= 300, "iat {iat} exp {exp}");
        assert!(!claims["jti"].as_str().unwrap().is_empty());
        let again = c.client_assertion(&token_endpoint).unwrap();
        let jti = |a: &str| {
            let payload = a.split('.').nth(1).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
            v["jti"].as_str().unwrap().to_owned()
        };
        assert_ne!(jti(&assertion), jti(&again), "every assertion has its own jti");
    }

    /// The operator-token assertion of the JWT-bearer grant: `sub` is the token, for the
    /// token endpoint, within CAMARA's 300 s, verifiable with the client's public key.
    #[test]
    fn the_operator_token_assertion_is_rfc_7523_with_camara_icm_sub() {
        let c = client();
        let token_endpoint = Url::parse("https://op.example/oidc/token").unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let assertion = c.operator_token_assertion_at(&token_endpoint, "tok-123", now).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&assertion).unwrap().kid.as_deref(),
            Some("kid-1")
        );
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://op.example/oidc/token"]);
        validation.set_issuer(&["client-1"]);
        validation.sub = Some("operatortoken:tok-123".into());
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &assertion,
            &jsonwebtoken::DecodingKey::from_ec_pem(PUBLIC.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["scope"], OPERATOR_TOKEN_SCOPE);
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        assert!(iat < now, "backdated like every assertion");
        assert_eq!(exp - iat, 300, "CAMARA ICM's longest life");
        assert!(!claims["jti"].as_str().unwrap().is_empty());
    }

    /// An operator whose clock is a little behind ours must not see an assertion "issued
    /// in the future": `iat` is backdated like the Vonage application JWT's, while `exp`
    /// still counts the lifetime from now.
    #[test]
    fn the_client_assertion_backdates_iat_but_not_exp() {
        let c = client();
        let token_endpoint = Url::parse("https://op.example/oidc/token").unwrap();
        let now = 1_800_000_000;
        let assertion = c.client_assertion_at(&token_endpoint, now).unwrap();
        let payload = assertion.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iat"].as_u64(), Some(now - CLOCK_SKEW.as_secs()));
        assert_eq!(claims["exp"].as_u64(), Some(now + ASSERTION_LIFETIME_SECS));
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_a_failure_naming_discovery() {
        let config = CamaraSettings {
            issuer: Url::parse("http://127.0.0.1:9/oidc").unwrap(),
            ..client_config()
        };
        let c = CamaraClient::new(
            &config,
            RedirectUri::for_origin("https://app.example").unwrap(),
            reqwest::Client::new(),
        );
        let err = c.discover().await.unwrap_err();
        assert!(
            matches!(
                err,
                OperatorFailure::Unreachable {
                    step: DISCOVERY_STEP,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    fn client_config() -> CamaraSettings {
        CamaraSettings {
            issuer: Url::parse("https://op.example/oidc").unwrap(),
            api_root: Url::parse("https://api.op.example/camara").unwrap(),
            client_id: "client-1".into(),
            client_key: SigningKey::ec_or_rsa_from_pem(KEY).unwrap(),
            client_key_id: "kid-1".into(),
            hashed: false,
            issuer_in_process: false,
            ts43: None,
        }
    }
}
