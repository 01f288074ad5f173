//! Standard CAMARA v2.1 flows: PKCE, authorization, token exchange, API calls, and the
//! client assertions of `private_key_jwt`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use number_verify::sandbox_contract::{
    credentials::{CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY_ID, CAMARA_CLIENT_PRIVATE_KEY},
    CAMARA_V2_PATH,
};
use reqwest::{header, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{json_of, now, url_with, Harness, ASSERTION_TYPE, V2_NONCE, V2_STATE, V2_VERIFY_SCOPE};

/// A PKCE pair (RFC 7636): a fresh random verifier and its S256 challenge.
pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> Self {
        // 64 characters of [0-9a-f]: a valid verifier with 256 bits of entropy.
        let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self { verifier, challenge }
    }
}

/// The standard CAMARA operation a test calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum V2Op {
    Verify,
    Share,
}

/// The parts of a standard CAMARA authorization a test chooses.
pub(crate) struct V2Auth<'a> {
    pub(crate) scope: &'a str,
    /// Authorize parameters to replace or drop (as for [`Harness::mc_authorize_url`]).
    pub(crate) overrides: &'a [(&'a str, Option<&'a str>)],
    /// Headers (simulated conditions) on every authorization request.
    pub(crate) headers: &'a [(&'a str, &'a str)],
}

impl Default for V2Auth<'_> {
    fn default() -> Self {
        Self {
            scope: V2_VERIFY_SCOPE,
            overrides: &[],
            headers: &[],
        }
    }
}

impl Harness {
    /// The standard CAMARA operator's issuer, which is also its API root.
    pub(crate) fn issuer(&self) -> String {
        format!("{}{CAMARA_V2_PATH}", self.base)
    }

    pub(crate) fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer())
    }

    pub(crate) fn v2_authorize_url(&self, pkce: &Pkce, scope: &str, overrides: &[(&str, Option<&str>)]) -> String {
        let params: Vec<(&str, Option<String>)> = vec![
            ("client_id", Some(CAMARA_CLIENT_ID.into())),
            ("redirect_uri", Some(self.redirect_uri.clone())),
            ("response_type", Some("code".into())),
            ("scope", Some(scope.into())),
            ("state", Some(V2_STATE.into())),
            ("nonce", Some(V2_NONCE.into())),
            ("code_challenge", Some(pkce.challenge.clone())),
            ("code_challenge_method", Some("S256".into())),
            ("prompt", Some("none".into())),
        ];
        url_with(&format!("{}/authorize", self.issuer()), params, overrides)
    }

    /// A standard CAMARA authorization followed to the callback (at least two hops, the
    /// state kept): its code and the PKCE pair it was made with.
    pub(crate) async fn v2_code(&self, auth: &V2Auth<'_>) -> (String, Pkce) {
        let pkce = Pkce::new();
        let landing = self
            .follow(&self.v2_authorize_url(&pkce, auth.scope, auth.overrides), auth.headers)
            .await;
        assert!(
            landing.hops >= 2,
            "expected at least two redirects, got {}",
            landing.hops
        );
        assert_eq!(landing.params.get("state").map(String::as_str), Some(V2_STATE));
        (landing.code().to_owned(), pkce)
    }

    /// POSTs a form to the standard CAMARA token endpoint.
    pub(crate) async fn v2_token_raw(&self, form: &[(&str, &str)]) -> Response {
        self.client.post(self.token_endpoint()).form(form).send().await.unwrap()
    }

    /// Redeems `code` with `verifier` (if any), authenticated by `assertion`.
    pub(crate) async fn v2_exchange(&self, code: &str, verifier: Option<&str>, assertion: &str) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        json_of(self.v2_token_raw(&form).await).await
    }

    /// The whole flow up to a successful token response.
    pub(crate) async fn v2_token(&self, auth: &V2Auth<'_>) -> Value {
        let (code, pkce) = self.v2_code(auth).await;
        let (status, body) = self
            .v2_exchange(&code, Some(&pkce.verifier), &self.client_assertion())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A fresh access token (they serve one call each).
    pub(crate) async fn v2_access_token(&self, auth: &V2Auth<'_>) -> String {
        self.v2_token(auth).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Calls a standard CAMARA operation, with what is given.
    pub(crate) async fn v2_call(
        &self,
        op: V2Op,
        token: Option<&str>,
        body: Option<&str>,
        correlator: Option<&str>,
    ) -> Response {
        let root = format!("{}/number-verification/v2", self.issuer());
        let mut req = match op {
            V2Op::Verify => self.client.post(format!("{root}/verify")),
            V2Op::Share => self.client.get(format!("{root}/device-phone-number")),
        };
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        if op == V2Op::Verify {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(correlator) = correlator {
            req = req.header("x-correlator", correlator);
        }
        req.send().await.unwrap()
    }
}

/// Client assertion claims as the registered client makes them (RFC 7523, CAMARA ICM).
pub(crate) fn assertion_claims(aud: &str) -> Value {
    let now = now();
    json!({
        "iss": CAMARA_CLIENT_ID,
        "sub": CAMARA_CLIENT_ID,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A client assertion: `claims` signed ES256 with the P-256 key `key_pem` under `kid`.
pub(crate) fn es256_assertion(claims: &Value, kid: Option<&str>, key_pem: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &EncodingKey::from_ec_pem(key_pem.as_bytes()).unwrap()).unwrap()
}

/// A client assertion signed with the committed client key under its key id.
pub(crate) fn signed_assertion(claims: &Value) -> String {
    es256_assertion(claims, Some(CAMARA_CLIENT_KEY_ID), CAMARA_CLIENT_PRIVATE_KEY)
}

impl Harness {
    /// A valid, fresh client assertion for this operator's token endpoint.
    pub(crate) fn client_assertion(&self) -> String {
        signed_assertion(&assertion_claims(&self.token_endpoint()))
    }
}
