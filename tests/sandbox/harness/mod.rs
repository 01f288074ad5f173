//! What every contract test shares: a virtual operator started on its own port (nested
//! under `/sandbox`, as the app mounts it), a client that follows no redirects on its own,
//! and helpers that drive each protocol's requests and check its answers.

mod application_jwt;
mod camara_v2;

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use number_verify::{
    phone::normalise,
    sandbox::{Sandbox, SandboxConfig, DEFAULT_STORE_CAP},
    sandbox_contract::credentials::{
        CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY_ID, CAMARA_CLIENT_PUBLIC_KEY, MC_CLIENT_ID as SANDBOX_MC_CLIENT_ID,
        MC_CLIENT_SECRET as SANDBOX_MC_CLIENT_SECRET, SMS_API_KEY, SMS_API_SECRET,
        VONAGE_APPLICATION_ID as SANDBOX_VONAGE_APPLICATION_ID, VONAGE_PUBLIC_KEY as SANDBOX_VONAGE_PUBLIC_KEY,
    },
};
use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

pub(crate) use application_jwt::{app_jwt, bad_app_jwts, jwt_with};
pub(crate) use camara_v2::{assertion_claims, es256_assertion, signed_assertion, Pkce, V2Auth, V2Op};

pub(crate) const VERIFY_SCOPE: &str = "dpv:FraudPreventionAndDetection#number-verification-verify-read";
/// The standard CAMARA (v2.1) scopes: purpose and operation.
pub(crate) const V2_VERIFY_SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";
pub(crate) const V2_SHARE_SCOPE: &str =
    "openid dpv:FraudPreventionAndDetection number-verification:device-phone-number:read";
pub(crate) const V2_STATE: &str = "v2-state-1";
pub(crate) const V2_NONCE: &str = "v2-nonce-1";
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub(crate) const GSMA_NUMBER: &str = "+44123456789";
pub(crate) const GSMA_HASH: &str = "3d84a3838599719df7deacc7fb91903bde5430a8c0e007c3eba93bce0c69c5a2";
const FORGED_KEY: &str = include_str!("../../fixtures/forged-test-only-private.pem");

pub(crate) struct Harness {
    pub(crate) sandbox: Sandbox,
    /// `http://127.0.0.1:<port>/sandbox`
    pub(crate) base: String,
    pub(crate) redirect_uri: String,
    pub(crate) other_redirect_uri: String,
    pub(crate) client: Client,
}

pub(crate) async fn start() -> Harness {
    start_with_cap(DEFAULT_STORE_CAP).await
}

pub(crate) async fn start_with_cap(store_cap: usize) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let origin = format!("http://127.0.0.1:{port}");
    let base = format!("{origin}/sandbox");
    let redirect_uri = format!("{origin}/callback");
    let other_redirect_uri = format!("{origin}/other-callback");
    let sandbox = Sandbox::new(SandboxConfig {
        public_base: base.clone(),
        redirect_uris: vec![redirect_uri.clone(), other_redirect_uri.clone()],
        default_sim: normalise("+99012345678").unwrap(),
        mc_client_id: SANDBOX_MC_CLIENT_ID.into(),
        mc_client_secret: SANDBOX_MC_CLIENT_SECRET.into(),
        vonage_application_id: SANDBOX_VONAGE_APPLICATION_ID.into(),
        vonage_public_key_pem: SANDBOX_VONAGE_PUBLIC_KEY.into(),
        camara_client_id: CAMARA_CLIENT_ID.into(),
        camara_client_key_id: CAMARA_CLIENT_KEY_ID.into(),
        camara_client_public_key_pem: CAMARA_CLIENT_PUBLIC_KEY.into(),
        sms_api_key: SMS_API_KEY.into(),
        sms_api_secret: SMS_API_SECRET.into(),
        store_cap,
    });
    let app = axum::Router::new().nest("/sandbox", sandbox.router());
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    let client = Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    Harness {
        sandbox,
        base,
        redirect_uri,
        other_redirect_uri,
        client,
    }
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub(crate) fn location(res: &Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn query_map(url: &str) -> HashMap<String, String> {
    Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

pub(crate) async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// An OAuth error answer (RFC 6749 §5.2): its status and `error` code.
#[track_caller]
pub(crate) fn assert_oauth_error((status, body): &(StatusCode, Value), want: StatusCode, error: &str) {
    assert_eq!((*status, body["error"].as_str()), (want, Some(error)), "{body}");
}

/// As [`assert_oauth_error`], and the `error_description` names `hint`.
#[track_caller]
pub(crate) fn assert_oauth_error_hint(got: &(StatusCode, Value), want: StatusCode, error: &str, hint: &str) {
    assert_oauth_error(got, want, error);
    assert!(got.1["error_description"].as_str().unwrap().contains(hint), "{}", got.1);
}

/// A CAMARA error answer: its status and `code`.
#[track_caller]
pub(crate) fn assert_camara_error((status, body): &(StatusCode, Value), want: StatusCode, code: &str) {
    assert_eq!((*status, body["code"].as_str()), (want, Some(code)), "{body}");
}

/// A fault that garbles the body: 200, but not JSON.
pub(crate) async fn assert_malformed(res: Response) {
    assert_eq!(res.status(), StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&res.text().await.unwrap()).is_err());
}

/// An authorization refused on a page of its own: 400, no redirect, and `text` shown.
pub(crate) async fn assert_refusal_page(res: Response, what: &str, text: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
    assert!(
        res.headers().get(header::LOCATION).is_none(),
        "{what}: must not redirect"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains(text), "{what}: {body}");
}

/// Form fields or request headers, as name and value.
pub(crate) type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Authorize parameters to replace (`Some`) or drop (`None`).
pub(crate) type Overrides = Vec<(&'static str, Option<&'static str>)>;

/// Where an authorization ended: the callback's query, and how many redirects it took.
pub(crate) struct Landing {
    pub(crate) hops: usize,
    pub(crate) params: HashMap<String, String>,
}

impl Landing {
    pub(crate) fn code(&self) -> &str {
        self.params
            .get("code")
            .unwrap_or_else(|| panic!("expected a code, got {:?}", self.params))
    }
    pub(crate) fn error(&self) -> (&str, &str) {
        let error = self
            .params
            .get("error")
            .unwrap_or_else(|| panic!("expected an error, got {:?}", self.params));
        (
            error,
            self.params.get("error_description").map(String::as_str).unwrap_or(""),
        )
    }
    /// The authorization ended in `error`, its description naming `hint`.
    #[track_caller]
    pub(crate) fn assert_error(&self, error: &str, hint: &str) {
        let (got, description) = self.error();
        assert_eq!(got, error);
        assert!(description.contains(hint), "{description}");
    }
}

impl Harness {
    pub(crate) fn mc_authorize_url(&self, overrides: &[(&str, Option<&str>)]) -> String {
        let params: Vec<(&str, Option<String>)> = vec![
            ("client_id", Some(SANDBOX_MC_CLIENT_ID.into())),
            ("redirect_uri", Some(self.redirect_uri.clone())),
            ("scope", Some("openid mc_vm_match_hash".into())),
            ("response_type", Some("code".into())),
            ("state", Some("state-123".into())),
            ("acr_values", Some("2".into())),
            ("version", Some("mc_di_r2_v2.3".into())),
            ("nonce", Some("nonce-456".into())),
        ];
        url_with(
            &format!("{}/deviceinitiated/v1/authorize", self.base),
            params,
            overrides,
        )
    }

    /// Follows an authorization from `url` to the callback, sending `headers` on every
    /// request as a header-enriching proxy or a browser with cookies would.
    pub(crate) async fn follow(&self, url: &str, headers: &[(&str, &str)]) -> Landing {
        let mut url = url.to_owned();
        let mut hops = 0;
        loop {
            let mut req = self.client.get(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            if res.status() != StatusCode::FOUND {
                let status = res.status();
                panic!("{url} answered {status}: {}", res.text().await.unwrap_or_default());
            }
            hops += 1;
            let next = location(&res);
            if next.starts_with(&self.redirect_uri) || next.starts_with(&self.other_redirect_uri) {
                return Landing {
                    hops,
                    params: query_map(&next),
                };
            }
            assert!(next.starts_with(&self.base), "a hop left the operator: {next}");
            assert!(hops < 10, "too many redirects");
            url = next;
        }
    }

    /// Requests an authorization `url` that must send the browser straight back to the
    /// callback (no hop, no code), and gives the callback's query.
    pub(crate) async fn authorize_error(&self, url: &str) -> HashMap<String, String> {
        let res = self.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{url}");
        let loc = location(&res);
        assert!(loc.starts_with(&self.redirect_uri), "{loc}");
        let q = query_map(&loc);
        assert!(!q.contains_key("code"), "{q:?}");
        q
    }

    pub(crate) async fn mc_code(&self, headers: &[(&str, &str)]) -> String {
        let landing = self.follow(&self.mc_authorize_url(&[]), headers).await;
        assert!(
            landing.hops >= 2,
            "expected at least two redirects, got {}",
            landing.hops
        );
        assert_eq!(landing.params.get("state").map(String::as_str), Some("state-123"));
        landing.code().to_owned()
    }

    pub(crate) async fn mc_token_raw(&self, secret: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}/deviceinitiated/v1/token", self.base))
            .basic_auth(SANDBOX_MC_CLIENT_ID, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Redeems `code` for `redirect_uri` as the registered client, however it goes.
    pub(crate) async fn mc_exchange_raw(&self, code: &str, redirect_uri: &str) -> Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        self.mc_token_raw(SANDBOX_MC_CLIENT_SECRET, &form).await
    }

    pub(crate) async fn mc_exchange(&self, code: &str, redirect_uri: &str) -> (StatusCode, Value) {
        json_of(self.mc_exchange_raw(code, redirect_uri).await).await
    }

    pub(crate) async fn mc_token(&self, code: &str) -> Value {
        let (status, body) = self.mc_exchange(code, &self.redirect_uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub(crate) async fn mc_access_token(&self, headers: &[(&str, &str)]) -> String {
        let code = self.mc_code(headers).await;
        self.mc_token(&code).await["access_token"].as_str().unwrap().to_owned()
    }

    /// POSTs to `path` below the operator, with a JSON `body` and a bearer credential if given.
    pub(crate) async fn post_json(&self, path: &str, bearer: Option<&str>, body: Option<&str>) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        if let Some(bearer) = bearer {
            req = req.bearer_auth(bearer);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn premium_raw(&self, token: Option<&str>, body: &str) -> Response {
        self.post_json("/premiuminfo/v1/", token, Some(body)).await
    }

    pub(crate) async fn premium(&self, token: &str, hash: &str) -> (StatusCode, Value) {
        let body = json!({ "mc_claims": { "device_msisdn_hash": hash } }).to_string();
        json_of(self.premium_raw(Some(token), &body).await).await
    }

    pub(crate) async fn mc_verified(&self, headers: &[(&str, &str)], number: &str) -> bool {
        let token = self.mc_access_token(headers).await;
        let (status, body) = self.premium(&token, &sha256_hex(number)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["device_msisdn_verified"]
            .as_bool()
            .expect("device_msisdn_verified")
    }

    pub(crate) async fn enable_raw(&self, jwt: Option<&str>, body: &str) -> Response {
        self.post_json("/v0.1/network-enablement", jwt, Some(body)).await
    }

    pub(crate) async fn auth_url(&self, phone: &str) -> String {
        let body = json!({ "phone_number": phone, "scopes": [VERIFY_SCOPE], "state": "vg-state-1" }).to_string();
        let (status, value) = json_of(self.enable_raw(Some(&app_jwt()), &body).await).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let scope = &value["scopes"][VERIFY_SCOPE];
        assert_eq!(scope["requires_carrier_network"], json!(false));
        let auth_url = scope["auth_url"].as_str().expect("auth_url").to_owned();
        assert!(
            auth_url.starts_with(&format!("{}/oauth2/auth?", self.base)),
            "{auth_url}"
        );
        let q = query_map(&auth_url);
        assert_eq!(q["login_hint"], phone);
        assert_eq!(q["state"], "vg-state-1");
        assert_eq!(q["redirect_uri"], self.redirect_uri);
        auth_url
    }

    pub(crate) async fn camara_landing(&self, phone: &str, headers: &[(&str, &str)]) -> Landing {
        let landing = self.follow(&self.auth_url(phone).await, headers).await;
        assert!(
            landing.hops >= 2,
            "expected at least two redirects, got {}",
            landing.hops
        );
        assert_eq!(landing.params.get("state").map(String::as_str), Some("vg-state-1"));
        landing
    }

    pub(crate) async fn camara_token_raw(&self, jwt: Option<&str>, form: &[(&str, &str)]) -> Response {
        let mut req = self.client.post(format!("{}/oauth2/token", self.base)).form(form);
        if let Some(jwt) = jwt {
            req = req.bearer_auth(jwt);
        }
        req.send().await.unwrap()
    }

    /// Redeems `code` for `redirect_uri` with the application JWT `jwt`, however it goes.
    pub(crate) async fn camara_exchange_raw(&self, jwt: Option<&str>, code: &str, redirect_uri: &str) -> Response {
        let form = [
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ];
        self.camara_token_raw(jwt, &form).await
    }

    pub(crate) async fn camara_exchange(
        &self,
        jwt: Option<&str>,
        code: &str,
        redirect_uri: &str,
    ) -> (StatusCode, Value) {
        json_of(self.camara_exchange_raw(jwt, code, redirect_uri).await).await
    }

    pub(crate) async fn camara_token(&self, code: &str) -> Value {
        let (status, body) = self.camara_exchange(Some(&app_jwt()), code, &self.redirect_uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub(crate) async fn camara_access_token(&self, phone: &str, headers: &[(&str, &str)]) -> String {
        let landing = self.camara_landing(phone, headers).await;
        self.camara_token(landing.code()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn verify_raw(&self, token: Option<&str>, body: Option<&str>) -> Response {
        self.post_json("/camara/number-verification/v031/verify", token, body)
            .await
    }

    pub(crate) async fn verify(&self, token: &str, body: Value) -> (StatusCode, Value) {
        json_of(self.verify_raw(Some(token), Some(&body.to_string())).await).await
    }

    pub(crate) async fn camara_verified(&self, phone: &str, headers: &[(&str, &str)], check: &str) -> bool {
        let token = self.camara_access_token(phone, headers).await;
        let (status, body) = self.verify(&token, json!({ "phoneNumber": check })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["devicePhoneNumberVerified"]
            .as_bool()
            .expect("devicePhoneNumberVerified")
    }
}

/// `base` with `params` as its query, after `overrides` replaced (`Some`) or dropped
/// (`None`) some and added others.
fn url_with<'a>(
    base: &str,
    mut params: Vec<(&'a str, Option<String>)>,
    overrides: &[(&'a str, Option<&str>)],
) -> String {
    for (k, v) in overrides {
        match params.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.map(str::to_owned),
            None => params.push((k, v.map(str::to_owned))),
        }
    }
    let mut url = Url::parse(base).unwrap();
    for (k, v) in params {
        if let Some(v) = v {
            url.query_pairs_mut().append_pair(k, &v);
        }
    }
    url.into()
}
