//! The provider: codes for finished verifications, the token exchange, userinfo, and
//! the mobile-app API's verification token.

use std::{sync::Arc, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    error::{AuthorizeError, ReturnTo, TokenError},
    request::{self, Authorization},
};
use crate::{
    relying_parties::{
        keys_of, ClientAuth, ClientKey, ClientKeys, RelyingParties, RelyingParty, CLIENT_JWKS_FRESH, CLIENT_JWKS_REREAD,
    },
    support::{constant_time_eq, random_token, random_value, redacted::Secret, unix_now},
    tokens::{
        AccessClaims, IdTokenClaims, Subject, TokenKeys, Verdict, VerificationClaims, ACCESS_TOKEN_TYP,
        TOKEN_LIFETIME_SECS, VERIFICATION_TOKEN_TYP,
    },
    verification::{
        store::{now_ms, Redeemed, Store},
        RelyingPartyRequest, VerifyError,
    },
};

/// How long a redeemed or expired code is remembered past its lifetime, so that a
/// replay is told apart (and revokes what the first use issued).
const CODE_AFTERLIFE: Duration = Duration::from_secs(10 * 60);

/// The longest a client assertion may be valid for (RFC 7523 §3: the server may refuse
/// an `exp` too far in the future); its `jti` is remembered that long.
const MAX_ASSERTION_LIFETIME_SECS: u64 = 60 * 60;

/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub struct Provider {
    /// `APP_PUBLIC_URL`: `iss` of every token.
    issuer: String,
    keys: Arc<TokenKeys>,
    subject_key: Secret,
    clients: Arc<RelyingParties>,
    code_ttl: Duration,
    store: Store,
    /// Reads the JWK Sets `private_key_jwt` clients publish (`jwks_uri`).
    http: reqwest::Client,
}

/// The most of a client's JWK Set read.
const MAX_CLIENT_JWKS_BYTES: usize = 64 * 1024;

/// A code's record until its redemption: what it is bound to and what it proves.
#[derive(Serialize, Deserialize)]
struct CodeRecord {
    request: RelyingPartyRequest,
    verdict: Verdict,
    expires_at_ms: u64,
}

/// The token endpoint's answer (OIDC Core 1.0 §3.1.3.3).
#[derive(Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub id_token: String,
    pub scope: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(…)")
    }
}

/// The token request's form, as far as the provider reads it.
#[derive(Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

/// The claims of a client assertion this provider reads (RFC 7523 §3).
#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: u64,
    jti: String,
}

impl Provider {
    pub fn new(
        issuer: &str,
        keys: Arc<TokenKeys>,
        subject_key: Secret,
        clients: Arc<RelyingParties>,
        code_ttl: Duration,
        store: Store,
        http: reqwest::Client,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            keys,
            subject_key,
            clients,
            code_ttl,
            store,
            http,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414 §2).
    pub fn discovery(&self) -> Value {
        let issuer = &self.issuer;
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": self.token_endpoint(),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "phone"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
                "phone_number", "phone_number_verified", "amr", "txn"
            ],
            "id_token_signing_alg_values_supported": self.keys.algorithms(),
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "ui_locales_supported": ["en"],
        })
    }

    /// The published keys (`jwks_uri`).
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.keys.jwks()
    }

    /// Reads an authorization request (query or form pairs).
    pub fn authorization(&self, pairs: &[(String, String)]) -> Result<Authorization<'_>, AuthorizeError> {
        request::validate(pairs, &self.clients, &self.issuer)
    }

    pub fn client(&self, id: &str) -> Option<&RelyingParty> {
        self.clients.get(id)
    }

    fn return_to(&self, request: &RelyingPartyRequest) -> ReturnTo {
        ReturnTo {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            issuer: self.issuer.clone(),
        }
    }

    /// A finished verification → a code bound to its request, and the address that
    /// carries it back: `redirect_uri?code=…&state=…&iss=…` (RFC 9207 §2).
    pub async fn issue_code(&self, request: RelyingPartyRequest, verdict: Verdict) -> Result<String, AuthorizeError> {
        let to = self.return_to(&request);
        let code = random_value(32);
        let record = CodeRecord {
            request,
            verdict,
            expires_at_ms: now_ms() + self.code_ttl.as_millis() as u64,
        };
        let value = serde_json::to_string(&record)
            .map_err(|e| AuthorizeError::redirect(&to, "server_error", format!("the code could not be kept: {e}")))?;
        if let Err(e) = self.store.put_code(&code, &value, self.code_ttl + CODE_AFTERLIFE).await {
            tracing::warn!(error = %e, "a code could not be kept");
            return Err(AuthorizeError::redirect(
                &to,
                "temporarily_unavailable",
                "the service is briefly unavailable; please try again",
            ));
        }
        tracing::info!(client_id = %record.request.client_id, txn = %record.verdict.txn, verified = record.verdict.verified, "authorization code issued");
        Ok(to.url(&[("code", &code)]))
    }

    /// A verification that ended without a verdict → the relying party's error redirect
    /// (RFC 6749 §4.1.2.1): the operator's refusal is `access_denied`, the rest a server
    /// or availability error.
    pub fn failure(&self, request: &RelyingPartyRequest, error: &VerifyError) -> AuthorizeError {
        let code = match error {
            VerifyError::OperatorDenied { .. } => "access_denied",
            VerifyError::OperatorTimeout(_) | VerifyError::StoreUnavailable(_) | VerifyError::RateLimited => {
                "temporarily_unavailable"
            }
            VerifyError::InvalidPhone(_) | VerifyError::ProtocolUnavailable | VerifyError::ShareUnsupported => {
                "invalid_request"
            }
            VerifyError::OperatorError(_) | VerifyError::InvalidState(_) => "server_error",
        };
        AuthorizeError::redirect(&self.return_to(request), code, error.to_string())
    }

    /// The person declined on the hosted page.
    pub fn declined(&self, request: &RelyingPartyRequest) -> AuthorizeError {
        AuthorizeError::redirect(
            &self.return_to(request),
            "access_denied",
            "the person declined to verify their number",
        )
    }

    /// The token endpoint (OIDC Core 1.0 §3.1.3): client authentication, then the code,
    /// once, checked against what it is bound to.
    pub async fn token(&self, basic: Option<(String, String)>, form: TokenRequest) -> Result<Tokens, TokenError> {
        let client = self.authenticate(basic, &form).await?;
        match form.grant_type.as_deref() {
            Some("authorization_code") => {}
            None => return Err(TokenError::InvalidRequest("grant_type is missing.".into())),
            Some(_) => return Err(TokenError::UnsupportedGrantType),
        }
        let code = form
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| TokenError::InvalidRequest("code is missing.".into()))?;
        // The id of the access token this redemption will issue, left beside the used
        // code so that a replay can revoke it.
        let jti = random_token();
        let keep = Duration::from_secs(TOKEN_LIFETIME_SECS) + CODE_AFTERLIFE;
        let record = match self.store.redeem_code(code, &jti, keep).await? {
            Redeemed::Found(value) => serde_json::from_str::<CodeRecord>(&value)
                .map_err(|e| TokenError::Server(format!("a code's record does not decode: {e}")))?,
            Redeemed::Replayed { issued } => {
                // RFC 6749 §4.1.2: a code used twice is refused, and what it gave is revoked.
                self.store
                    .revoke(&issued, Duration::from_secs(TOKEN_LIFETIME_SECS))
                    .await?;
                tracing::warn!(client_id = %client.id, "authorization code used twice: its tokens are revoked");
                return Err(TokenError::InvalidGrant(
                    "The code has already been used; the tokens it gave are revoked.".into(),
                ));
            }
            Redeemed::Missing => return Err(TokenError::InvalidGrant("The code is unknown or expired.".into())),
        };
        if record.expires_at_ms <= now_ms() {
            return Err(TokenError::InvalidGrant("The code has expired.".into()));
        }
        // Bound to the client it was issued to (OIDC Core 1.0 §3.1.3.2).
        if record.request.client_id != client.id {
            return Err(TokenError::InvalidGrant(
                "The code was issued to another client.".into(),
            ));
        }
        // RFC 6749 §4.1.3: the same redirect_uri as in the authorization request.
        if form.redirect_uri.as_deref() != Some(record.request.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request.".into(),
            ));
        }
        // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
        match (&record.request.code_challenge, form.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) => {
                if !is_verifier(verifier) {
                    return Err(TokenError::InvalidGrant(
                        "code_verifier must be 43–128 characters of A–Z a–z 0–9 - . _ ~ (RFC 7636 §4.1).".into(),
                    ));
                }
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if !constant_time_eq(computed.as_bytes(), challenge.secret().as_bytes()) {
                    return Err(TokenError::InvalidGrant(
                        "code_verifier does not match code_challenge.".into(),
                    ));
                }
            }
            (Some(_), None) => return Err(TokenError::InvalidGrant("code_verifier is missing.".into())),
            // A verifier for a code issued without a challenge: a downgrade (RFC 9700 §2.1.1).
            (None, Some(_)) => {
                return Err(TokenError::InvalidGrant(
                    "code_verifier was sent, but the authorization request had no code_challenge.".into(),
                ))
            }
            (None, None) => {}
        }
        self.mint(&client.id, record, jti)
    }

    fn mint(&self, client_id: &str, record: CodeRecord, jti: String) -> Result<Tokens, TokenError> {
        let key = self.subject_key.secret().as_bytes();
        let sub = if record.verdict.verified {
            // OIDC Core 1.0 §8.1: pairwise, per relying party.
            Subject::pairwise(key, client_id, &record.verdict.phone_number)
        } else {
            Subject::unverified(key, client_id, &record.verdict.txn)
        };
        let nonce = record.request.nonce.as_ref().map(|n| n.secret().to_owned());
        let id = IdTokenClaims::new(&self.issuer, client_id, sub.clone(), nonce, &record.verdict);
        let access = AccessClaims {
            iss: self.issuer.clone(),
            sub,
            aud: client_id.to_owned(),
            client_id: client_id.to_owned(),
            exp: id.exp,
            iat: id.iat,
            jti,
            scope: record.request.scope.clone(),
            auth_time: record.verdict.auth_time,
            phone_number: id.phone_number.clone(),
            phone_number_verified: id.phone_number_verified,
            amr: id.amr.clone(),
            txn: record.verdict.txn.clone(),
        };
        let sign_failed = |e: crate::tokens::TokenError| TokenError::Server(e.to_string());
        let tokens = Tokens {
            id_token: self.keys.sign("JWT", &id).map_err(sign_failed)?,
            access_token: self.keys.sign(ACCESS_TOKEN_TYP, &access).map_err(sign_failed)?,
            token_type: "Bearer",
            expires_in: TOKEN_LIFETIME_SECS,
            scope: record.request.scope,
        };
        tracing::info!(client_id, txn = %record.verdict.txn, kid = self.keys.current_kid(), "tokens issued");
        Ok(tokens)
    }

    /// Who is asking, by the method the client registered (OIDC Core 1.0 §9); one method
    /// per request (RFC 6749 §2.3).
    async fn authenticate(
        &self,
        basic: Option<(String, String)>,
        form: &TokenRequest,
    ) -> Result<&RelyingParty, TokenError> {
        let failed = || TokenError::InvalidClient("Client authentication failed.".into());
        let assertion = form.client_assertion.as_deref().filter(|a| !a.is_empty());
        let methods = [basic.is_some(), form.client_secret.is_some(), assertion.is_some()];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(TokenError::InvalidRequest(
                "Use one client authentication method per request.".into(),
            ));
        }
        if let Some(assertion) = assertion {
            return self.authenticate_assertion(assertion, form).await;
        }
        let (id, secret, basic_used) = match (basic, &form.client_secret) {
            (Some((id, secret)), _) => (id, Some(secret), true),
            (None, Some(secret)) => (form.client_id.clone().unwrap_or_default(), Some(secret.clone()), false),
            (None, None) => (form.client_id.clone().unwrap_or_default(), None, false),
        };
        if let (true, Some(in_form)) = (basic_used, form.client_id.as_deref()) {
            if in_form != id {
                return Err(TokenError::InvalidRequest(
                    "client_id in the body differs from the Authorization header's.".into(),
                ));
            }
        }
        let client = self.clients.get(&id).ok_or_else(failed)?;
        let ok = match (&client.auth, secret, basic_used) {
            (ClientAuth::SecretBasic { .. }, Some(secret), true) => client.auth.secret_matches(&secret),
            (ClientAuth::SecretPost { .. }, Some(secret), false) => client.auth.secret_matches(&secret),
            (ClientAuth::None, None, false) => true,
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(failed())
        }
    }

    /// `private_key_jwt` (RFC 7523 §3, OIDC Core 1.0 §9): signed by a registered key,
    /// `iss` = `sub` = the client, `aud` = the token endpoint (or the issuer), unexpired,
    /// and its `jti` never seen before.
    async fn authenticate_assertion(&self, assertion: &str, form: &TokenRequest) -> Result<&RelyingParty, TokenError> {
        let failed = |why: &str| {
            tracing::info!(why, "client assertion refused");
            TokenError::InvalidClient("Client authentication failed.".into())
        };
        if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(TokenError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER}."
            )));
        }
        // Which client it claims to be: read unverified, then verified with that
        // client's keys only.
        let claimed = unverified_subject(assertion).ok_or_else(|| failed("unreadable"))?;
        let client = self.clients.get(&claimed).ok_or_else(|| failed("unknown client"))?;
        if form.client_id.as_deref().is_some_and(|id| id != client.id) {
            return Err(failed("client_id differs from the assertion's"));
        }
        let ClientAuth::PrivateKeyJwt { keys } = &client.auth else {
            return Err(failed("the client is not registered for private_key_jwt"));
        };
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| failed("unreadable header"))?;
        let keys = self.assertion_keys(keys, header.kid.as_deref()).await.map_err(|why| {
            tracing::warn!(client_id = %client.id, %why, "a client's published keys could not be read");
            TokenError::InvalidClient("Client authentication failed.".into())
        })?;
        let audiences = [self.token_endpoint(), self.issuer.clone()];
        let verified = keys
            .iter()
            .filter(|(kid, alg, _)| *alg == header.alg && (header.kid.is_none() || kid.is_none() || *kid == header.kid))
            .find_map(|(_, alg, key)| {
                let mut validation = Validation::new(*alg);
                validation.set_audience(&audiences);
                validation.set_issuer(&[&client.id]);
                validation.sub = Some(client.id.clone());
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
                validation.leeway = 30;
                jsonwebtoken::decode::<AssertionClaims>(assertion, key, &validation).ok()
            })
            .ok_or_else(|| failed("signature, audience, issuer or expiry"))?
            .claims;
        if verified.iss != client.id || verified.sub != client.id {
            return Err(failed("iss or sub"));
        }
        let now = unix_now();
        if verified.exp > now + MAX_ASSERTION_LIFETIME_SECS {
            return Err(failed("valid for too long"));
        }
        if verified.jti.is_empty() || verified.jti.len() > 256 {
            return Err(failed("no usable jti"));
        }
        let remember = Duration::from_secs(verified.exp.saturating_sub(now).max(1) + 30);
        let id = format!("{} {}", client.id, verified.jti);
        if !self.store.first_use("assertion", &id, remember).await? {
            return Err(failed("jti replayed"));
        }
        Ok(client)
    }

    /// The keys a client's assertion may be signed with: registered, or read from its
    /// `jwks_uri` (kept [`CLIENT_JWKS_FRESH`]; read again sooner for a `kid` not among
    /// them, at most every [`CLIENT_JWKS_REREAD`]; the last keys read stay in use while
    /// the address does not answer).
    async fn assertion_keys(&self, keys: &ClientKeys, kid: Option<&str>) -> Result<Vec<ClientKey>, String> {
        let (url, cache) = match keys {
            ClientKeys::Fixed(keys) => return Ok(keys.clone()),
            ClientKeys::Published { url, cache } => (url, cache),
        };
        let cached = cache.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((read_at, keys)) = &cached {
            let known = kid.is_none() || keys.iter().any(|(k, _, _)| k.as_deref() == kid);
            let age = read_at.elapsed();
            if age < CLIENT_JWKS_FRESH && (known || age < CLIENT_JWKS_REREAD) {
                return Ok(keys.clone());
            }
        }
        match self.read_client_jwks(url).await {
            Ok(keys) => {
                *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((std::time::Instant::now(), keys.clone()));
                Ok(keys)
            }
            Err(why) => match cached {
                Some((_, keys)) => {
                    tracing::warn!(%why, "a client's jwks_uri did not answer; its last keys stay in use");
                    Ok(keys)
                }
                None => Err(why),
            },
        }
    }

    async fn read_client_jwks(&self, url: &url::Url) -> Result<Vec<ClientKey>, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("no answer: {}", e.without_url()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_CLIENT_JWKS_BYTES)
        {
            return Err("a JWK Set over 64 KiB".into());
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("unreadable: {}", e.without_url()))?;
        if body.len() > MAX_CLIENT_JWKS_BYTES {
            return Err("a JWK Set over 64 KiB".into());
        }
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body).map_err(|_| "not a JWK Set".to_owned())?;
        keys_of(&set)
    }

    /// `/userinfo` (OIDC Core 1.0 §5.3): the claims of an unrevoked access token.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, TokenError> {
        let claims: AccessClaims = self
            .keys
            .verify(access_token, ACCESS_TOKEN_TYP, &self.issuer)
            .map_err(|e| {
                tracing::info!(reason = %e, "userinfo: access token refused");
                TokenError::InvalidToken("The access token is invalid or expired.".into())
            })?;
        if self.store.is_revoked(&claims.jti).await? {
            tracing::info!(client_id = %claims.client_id, "userinfo: a revoked access token");
            return Err(TokenError::InvalidToken("The access token has been revoked.".into()));
        }
        Ok(json!({
            "sub": claims.sub,
            "phone_number": claims.phone_number,
            "phone_number_verified": claims.phone_number_verified,
            "amr": claims.amr,
            "txn": claims.txn,
            "auth_time": claims.auth_time,
        }))
    }

    /// The mobile-app API's signed verdict, for `audience` (the app's backend) or, when
    /// the app named none, the issuer itself.
    pub fn verification_token(&self, audience: Option<&str>, verdict: &Verdict) -> Result<String, TokenError> {
        let claims = VerificationClaims::new(&self.issuer, audience.unwrap_or(&self.issuer), verdict);
        self.keys
            .sign(VERIFICATION_TOKEN_TYP, &claims)
            .map_err(|e| TokenError::Server(e.to_string()))
    }
}

/// The `sub` of a JWT, read without checking its signature (to pick the keys that must).
fn unverified_subject(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("sub")?.as_str().map(str::to_owned)
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn is_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
