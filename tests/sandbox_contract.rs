//! Contract tests of the virtual operator over real HTTP (SPEC §2 and §5, issue 3).
//!
//! Each test starts the sandbox on its own port, nested under `/sandbox` as the app
//! mounts it, and drives it with a reqwest client that follows no redirects on its own:
//! every hop of an authorization is checked.
#![cfg(feature = "ssr")]

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use number_verify::{
    config::{
        SANDBOX_MC_CLIENT_ID, SANDBOX_MC_CLIENT_SECRET, SANDBOX_VONAGE_APPLICATION_ID, SANDBOX_VONAGE_PRIVATE_KEY,
        SANDBOX_VONAGE_PUBLIC_KEY,
    },
    phone::normalise,
    sandbox::{Sandbox, SandboxConfig, DEFAULT_STORE_CAP},
};
use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

const VERIFY_SCOPE: &str = "dpv:FraudPreventionAndDetection#number-verification-verify-read";
const GSMA_NUMBER: &str = "+44123456789";
const GSMA_HASH: &str = "3d84a3838599719df7deacc7fb91903bde5430a8c0e007c3eba93bce0c69c5a2";
const FORGED_KEY: &str = include_str!("fixtures/forged-test-only-private.pem");

struct Harness {
    sandbox: Sandbox,
    /// `http://127.0.0.1:<port>/sandbox`
    base: String,
    redirect_uri: String,
    other_redirect_uri: String,
    client: Client,
}

async fn start() -> Harness {
    start_with_cap(DEFAULT_STORE_CAP).await
}

async fn start_with_cap(store_cap: usize) -> Harness {
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

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn location(res: &Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location on a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_map(url: &str) -> HashMap<String, String> {
    Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

async fn json_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// An OAuth error answer (RFC 6749 §5.2): its status and `error` code.
#[track_caller]
fn assert_oauth_error((status, body): &(StatusCode, Value), want: StatusCode, error: &str) {
    assert_eq!((*status, body["error"].as_str()), (want, Some(error)), "{body}");
}

/// As [`assert_oauth_error`], and the `error_description` names `hint`.
#[track_caller]
fn assert_oauth_error_hint(got: &(StatusCode, Value), want: StatusCode, error: &str, hint: &str) {
    assert_oauth_error(got, want, error);
    assert!(got.1["error_description"].as_str().unwrap().contains(hint), "{}", got.1);
}

/// A CAMARA error answer: its status and `code`.
#[track_caller]
fn assert_camara_error((status, body): &(StatusCode, Value), want: StatusCode, code: &str) {
    assert_eq!((*status, body["code"].as_str()), (want, Some(code)), "{body}");
}

/// A fault that garbles the body: 200, but not JSON.
async fn assert_malformed(res: Response) {
    assert_eq!(res.status(), StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&res.text().await.unwrap()).is_err());
}

/// An authorization refused on a page of its own: 400, no redirect, and `text` shown.
async fn assert_refusal_page(res: Response, what: &str, text: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
    assert!(
        res.headers().get(header::LOCATION).is_none(),
        "{what}: must not redirect"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains(text), "{what}: {body}");
}

/// Form fields or request headers, as name and value.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Authorize parameters to replace (`Some`) or drop (`None`).
type Overrides = Vec<(&'static str, Option<&'static str>)>;

/// Where an authorization ended: the callback's query, and how many redirects it took.
struct Landing {
    hops: usize,
    params: HashMap<String, String>,
}

impl Landing {
    fn code(&self) -> &str {
        self.params
            .get("code")
            .unwrap_or_else(|| panic!("expected a code, got {:?}", self.params))
    }
    fn error(&self) -> (&str, &str) {
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
    fn assert_error(&self, error: &str, hint: &str) {
        let (got, description) = self.error();
        assert_eq!(got, error);
        assert!(description.contains(hint), "{description}");
    }
}

impl Harness {
    fn mc_authorize_url(&self, overrides: &[(&str, Option<&str>)]) -> String {
        let mut params: Vec<(&str, Option<String>)> = vec![
            ("client_id", Some(SANDBOX_MC_CLIENT_ID.into())),
            ("redirect_uri", Some(self.redirect_uri.clone())),
            ("scope", Some("openid mc_vm_match_hash".into())),
            ("response_type", Some("code".into())),
            ("state", Some("state-123".into())),
            ("acr_values", Some("2".into())),
            ("version", Some("mc_di_r2_v2.3".into())),
            ("nonce", Some("nonce-456".into())),
        ];
        for (k, v) in overrides {
            match params.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.map(str::to_owned),
                None => params.push((k, v.map(str::to_owned))),
            }
        }
        let mut url = Url::parse(&format!("{}/deviceinitiated/v1/authorize", self.base)).unwrap();
        for (k, v) in params {
            if let Some(v) = v {
                url.query_pairs_mut().append_pair(k, &v);
            }
        }
        url.into()
    }

    /// Follows an authorization from `url` to the callback, sending `headers` on every
    /// request as a header-enriching proxy or a browser with cookies would.
    async fn follow(&self, url: &str, headers: &[(&str, &str)]) -> Landing {
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
    async fn authorize_error(&self, url: &str) -> HashMap<String, String> {
        let res = self.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{url}");
        let loc = location(&res);
        assert!(loc.starts_with(&self.redirect_uri), "{loc}");
        let q = query_map(&loc);
        assert!(!q.contains_key("code"), "{q:?}");
        q
    }

    async fn mc_code(&self, headers: &[(&str, &str)]) -> String {
        let landing = self.follow(&self.mc_authorize_url(&[]), headers).await;
        assert!(
            landing.hops >= 2,
            "expected at least two redirects, got {}",
            landing.hops
        );
        assert_eq!(landing.params.get("state").map(String::as_str), Some("state-123"));
        landing.code().to_owned()
    }

    async fn mc_token_raw(&self, secret: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}/deviceinitiated/v1/token", self.base))
            .basic_auth(SANDBOX_MC_CLIENT_ID, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Redeems `code` for `redirect_uri` as the registered client, however it goes.
    async fn mc_exchange_raw(&self, code: &str, redirect_uri: &str) -> Response {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        self.mc_token_raw(SANDBOX_MC_CLIENT_SECRET, &form).await
    }

    async fn mc_exchange(&self, code: &str, redirect_uri: &str) -> (StatusCode, Value) {
        json_of(self.mc_exchange_raw(code, redirect_uri).await).await
    }

    async fn mc_token(&self, code: &str) -> Value {
        let (status, body) = self.mc_exchange(code, &self.redirect_uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn mc_access_token(&self, headers: &[(&str, &str)]) -> String {
        let code = self.mc_code(headers).await;
        self.mc_token(&code).await["access_token"].as_str().unwrap().to_owned()
    }

    /// POSTs to `path` below the operator, with a JSON `body` and a bearer credential if given.
    async fn post_json(&self, path: &str, bearer: Option<&str>, body: Option<&str>) -> Response {
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

    async fn premium_raw(&self, token: Option<&str>, body: &str) -> Response {
        self.post_json("/premiuminfo/v1/", token, Some(body)).await
    }

    async fn premium(&self, token: &str, hash: &str) -> (StatusCode, Value) {
        let body = json!({ "mc_claims": { "device_msisdn_hash": hash } }).to_string();
        json_of(self.premium_raw(Some(token), &body).await).await
    }

    async fn mc_verified(&self, headers: &[(&str, &str)], number: &str) -> bool {
        let token = self.mc_access_token(headers).await;
        let (status, body) = self.premium(&token, &sha256_hex(number)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["device_msisdn_verified"]
            .as_bool()
            .expect("device_msisdn_verified")
    }

    async fn enable_raw(&self, jwt: Option<&str>, body: &str) -> Response {
        self.post_json("/v0.1/network-enablement", jwt, Some(body)).await
    }

    async fn auth_url(&self, phone: &str) -> String {
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

    async fn camara_landing(&self, phone: &str, headers: &[(&str, &str)]) -> Landing {
        let landing = self.follow(&self.auth_url(phone).await, headers).await;
        assert!(
            landing.hops >= 2,
            "expected at least two redirects, got {}",
            landing.hops
        );
        assert_eq!(landing.params.get("state").map(String::as_str), Some("vg-state-1"));
        landing
    }

    async fn camara_token_raw(&self, jwt: Option<&str>, form: &[(&str, &str)]) -> Response {
        let mut req = self.client.post(format!("{}/oauth2/token", self.base)).form(form);
        if let Some(jwt) = jwt {
            req = req.bearer_auth(jwt);
        }
        req.send().await.unwrap()
    }

    /// Redeems `code` for `redirect_uri` with the application JWT `jwt`, however it goes.
    async fn camara_exchange_raw(&self, jwt: Option<&str>, code: &str, redirect_uri: &str) -> Response {
        let form = [
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ];
        self.camara_token_raw(jwt, &form).await
    }

    async fn camara_exchange(&self, jwt: Option<&str>, code: &str, redirect_uri: &str) -> (StatusCode, Value) {
        json_of(self.camara_exchange_raw(jwt, code, redirect_uri).await).await
    }

    async fn camara_token(&self, code: &str) -> Value {
        let (status, body) = self.camara_exchange(Some(&app_jwt()), code, &self.redirect_uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn camara_access_token(&self, phone: &str, headers: &[(&str, &str)]) -> String {
        let landing = self.camara_landing(phone, headers).await;
        self.camara_token(landing.code()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn verify_raw(&self, token: Option<&str>, body: Option<&str>) -> Response {
        self.post_json("/camara/number-verification/v031/verify", token, body)
            .await
    }

    async fn verify(&self, token: &str, body: Value) -> (StatusCode, Value) {
        json_of(self.verify_raw(Some(token), Some(&body.to_string())).await).await
    }

    async fn camara_verified(&self, phone: &str, headers: &[(&str, &str)], check: &str) -> bool {
        let token = self.camara_access_token(phone, headers).await;
        let (status, body) = self.verify(&token, json!({ "phoneNumber": check })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["devicePhoneNumberVerified"]
            .as_bool()
            .expect("devicePhoneNumberVerified")
    }
}

fn jwt_with(claims: Value, key_pem: &str) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn app_claims() -> Value {
    json!({
        "application_id": SANDBOX_VONAGE_APPLICATION_ID,
        "iat": now(),
        "exp": now() + 900,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn app_jwt() -> String {
    jwt_with(app_claims(), SANDBOX_VONAGE_PRIVATE_KEY)
}

/// Application JWTs the operator must refuse, with what is wrong with each.
fn bad_app_jwts() -> Vec<(&'static str, String)> {
    let mut expired = app_claims();
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_app = app_claims();
    wrong_app["application_id"] = json!("00000000-0000-4000-8000-000000000000");
    let mut no_app = app_claims();
    no_app.as_object_mut().unwrap().remove("application_id");
    let mut no_jti = app_claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut no_exp = app_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut future_iat = app_claims();
    future_iat["iat"] = json!(now() + 3600);
    future_iat["exp"] = json!(now() + 7200);
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &app_claims(),
        &EncodingKey::from_secret(SANDBOX_VONAGE_PUBLIC_KEY.as_bytes()),
    )
    .unwrap();
    vec![
        ("forged", jwt_with(app_claims(), FORGED_KEY)),
        ("expired", jwt_with(expired, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("wrong application_id", jwt_with(wrong_app, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no application_id", jwt_with(no_app, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no jti", jwt_with(no_jti, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no exp", jwt_with(no_exp, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("iat in the future", jwt_with(future_iat, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("HS256", hs256),
        ("garbage", "not.a.jwt".to_owned()),
    ]
}

// ---------------------------------------------------------------- Mobile Connect

#[tokio::test]
async fn mc_full_flow_default_sim() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let token = h.mc_token(&code).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3599);
    let access_token = token["access_token"].as_str().unwrap();
    assert!(access_token.len() >= 32);

    // The id_token is a signed JWT carrying the request's nonce.
    let id_token = token["id_token"].as_str().expect("id_token");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[SANDBOX_MC_CLIENT_ID]);
    validation.set_issuer(&[h.base.as_str()]);
    let claims = decode::<Value>(
        id_token,
        &DecodingKey::from_secret(SANDBOX_MC_CLIENT_SECRET.as_bytes()),
        &validation,
    )
    .expect("id_token verifies with the client secret")
    .claims;
    assert_eq!(claims["nonce"], "nonce-456");
    assert!(claims["sub"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && !s.contains("99012345678")));
    assert!(claims["iat"].as_u64().is_some() && claims["exp"].as_u64() > claims["iat"].as_u64());
    // …and not with another key.
    assert!(decode::<Value>(id_token, &DecodingKey::from_secret(b"another secret"), &validation).is_err());

    // The default SIM is +99012345678: verified; +99012345677 not.
    let (status, body) = h.premium(access_token, &sha256_hex("+99012345678")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true), "{body}");
    assert_eq!(body["sub"], claims["sub"]);
    let (status, body) = h.premium(access_token, &sha256_hex("+99012345677")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(false), "{body}");
    // The hash of the number without its + is not the GSMA form: no match.
    let (_, body) = h.premium(access_token, &sha256_hex("99012345678")).await;
    assert_eq!(body["device_msisdn_verified"], json!(false));
    // The path without its trailing slash works too.
    let res = h
        .client
        .post(format!("{}/premiuminfo/v1", h.base))
        .bearer_auth(access_token)
        .json(&json!({ "mc_claims": { "device_msisdn_hash": sha256_hex("+99012345678") } }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["device_msisdn_verified"], json!(true));
}

#[tokio::test]
async fn mc_gsma_hash_vector() {
    assert_eq!(sha256_hex(GSMA_NUMBER), GSMA_HASH);
    let h = start().await;
    let token = h.mc_access_token(&[("X-Sandbox-Msisdn", GSMA_NUMBER)]).await;
    let (status, body) = h.premium(&token, GSMA_HASH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true), "{body}");
}

#[tokio::test]
async fn mc_authorize_refuses_unknown_client_or_redirect_without_redirecting() {
    let h = start().await;
    let cases: Vec<(&str, Overrides)> = vec![
        (
            "unregistered redirect_uri",
            vec![("redirect_uri", Some("https://evil.example/callback"))],
        ),
        ("missing redirect_uri", vec![("redirect_uri", None)]),
        ("unknown client_id", vec![("client_id", Some("someone-else"))]),
        ("missing client_id", vec![("client_id", None)]),
    ];
    for (what, overrides) in cases {
        let res = h.client.get(h.mc_authorize_url(&overrides)).send().await.unwrap();
        assert!(res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_refusal_page(res, what, "<h1>Invalid authorization request</h1>").await;
    }
}

#[tokio::test]
async fn mc_authorize_error_redirects() {
    let h = start().await;
    let cases: Vec<(Overrides, &str, &str)> = vec![
        (vec![("response_type", None)], "invalid_request", "response_type"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
            "response_type=code",
        ),
        (vec![("scope", None)], "invalid_request", "scope"),
        (vec![("scope", Some("openid"))], "invalid_scope", "mc_vm_match_hash"),
        (vec![("scope", Some("mc_vm_match_hash"))], "invalid_scope", "openid"),
        (vec![("nonce", None)], "invalid_request", "nonce"),
        (vec![("version", None)], "invalid_request", "version"),
        (vec![("version", Some("2.0"))], "invalid_request", "version"),
        (vec![("acr_values", None)], "invalid_request", "acr_values"),
        (vec![("acr_values", Some("9"))], "invalid_request", "acr_values"),
        (
            vec![("client_id", Some(SANDBOX_VONAGE_APPLICATION_ID))],
            "unauthorized_client",
            "other API",
        ),
    ];
    for (overrides, error, hint) in cases {
        let q = h.authorize_error(&h.mc_authorize_url(&overrides)).await;
        assert_eq!(q["error"], error, "{overrides:?}: {q:?}");
        assert!(q["error_description"].contains(hint), "{overrides:?}: {q:?}");
        assert_eq!(q["state"], "state-123");
    }
    // A missing state: the error comes back without one.
    let q = h.authorize_error(&h.mc_authorize_url(&[("state", None)])).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("state"));
    assert!(!q.contains_key("state"));
    // A repeated parameter.
    let q = h
        .authorize_error(&format!("{}&nonce=again", h.mc_authorize_url(&[])))
        .await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("nonce"));
    // The second registered redirect URI is honoured.
    let landing = h
        .follow(
            &h.mc_authorize_url(&[("redirect_uri", Some(h.other_redirect_uri.as_str()))]),
            &[],
        )
        .await;
    assert!(landing.params.contains_key("code"));
    // The hop is single use.
    let res = h.client.get(h.mc_authorize_url(&[])).send().await.unwrap();
    let hop = location(&res);
    assert!(hop.starts_with(&format!("{}/hop/", h.base)), "{hop}");
    assert_eq!(h.client.get(&hop).send().await.unwrap().status(), StatusCode::FOUND);
    let again = h.client.get(&hop).send().await.unwrap();
    assert_refusal_page(again, "hop reused", "Authorization expired").await;
}

#[tokio::test]
async fn mc_token_client_authentication() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", h.redirect_uri.as_str()),
    ];

    let got = json_of(h.mc_token_raw("wrong-secret", &form).await).await;
    assert_oauth_error_hint(&got, StatusCode::UNAUTHORIZED, "invalid_client", "secret");

    // The same form, with the client authenticated otherwise (or not at all).
    let token_request = || {
        h.client
            .post(format!("{}/deviceinitiated/v1/token", h.base))
            .form(&form)
    };
    let res = token_request().send().await.unwrap();
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_client");

    let res = token_request()
        .basic_auth("someone-else", Some(SANDBOX_MC_CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_client");

    let res = token_request()
        .header(header::AUTHORIZATION, "Basic %%%not-base64")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(res).await.1["error"], "invalid_client");

    // Refused client authentication did not burn the code.
    let token = h.mc_token(&code).await;
    assert!(token["access_token"].is_string());
}

#[tokio::test]
async fn mc_token_grant_errors() {
    let h = start().await;
    let ok_code = h.mc_code(&[]).await;
    let redirect = h.redirect_uri.as_str();

    // Bad forms, refused before the code is looked at: it stays good.
    let cases: Vec<(Pairs, &str, Option<&str>)> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("code", &ok_code),
                ("redirect_uri", redirect),
            ],
            "unsupported_grant_type",
            None,
        ),
        (
            vec![("code", &ok_code), ("redirect_uri", redirect)],
            "invalid_request",
            Some("grant_type"),
        ),
        (
            vec![("grant_type", "authorization_code"), ("redirect_uri", redirect)],
            "invalid_request",
            Some("code"),
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", &ok_code)],
            "invalid_request",
            Some("redirect_uri"),
        ),
    ];
    for (form, error, hint) in cases {
        let got = json_of(h.mc_token_raw(SANDBOX_MC_CLIENT_SECRET, &form).await).await;
        match hint {
            Some(hint) => assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, error, hint),
            None => assert_oauth_error(&got, StatusCode::BAD_REQUEST, error),
        }
    }
    let got = h.mc_exchange("made-up", redirect).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "unknown");

    // Redirect URI mismatch (another registered one): invalid_grant, and the code is burnt.
    let code = h.mc_code(&[]).await;
    let got = h.mc_exchange(&code, &h.other_redirect_uri).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");

    // Replay: the second exchange fails and revokes the first token.
    let token = h.mc_token(&ok_code).await;
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(h.premium(access, &sha256_hex("+99012345678")).await.0, StatusCode::OK);
    let got = h.mc_exchange(&ok_code, redirect).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");
    let (status, body) = h.premium(access, &sha256_hex("+99012345678")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");

    // A CAMARA code is not a Mobile Connect code.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let got = h.mc_exchange(landing.code(), redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn mc_token_params_in_query_string() {
    let h = start().await;
    let code = h.mc_code(&[]).await;
    let mut url = Url::parse(&format!("{}/deviceinitiated/v1/token", h.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &h.redirect_uri);
    let res = h
        .client
        .post(url)
        .basic_auth(SANDBOX_MC_CLIENT_ID, Some(SANDBOX_MC_CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string() && body["id_token"].is_string());
}

#[tokio::test]
async fn mc_premium_info_errors() {
    let h = start().await;
    let good = json!({ "mc_claims": { "device_msisdn_hash": sha256_hex("+99012345678") } }).to_string();

    let res = h.premium_raw(None, &good).await;
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_oauth_error(&json_of(res).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let got = json_of(h.premium_raw(Some("unknown-token"), &good).await).await;
    assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_token");

    let token = h.mc_access_token(&[]).await;
    for (body, hint) in [
        ("", "JSON"),
        ("{not json", "JSON"),
        ("{}", "device_msisdn_hash"),
        (r#"{"mc_claims": {}}"#, "device_msisdn_hash"),
        (r#"{"mc_claims": {"device_msisdn_hash": 42}}"#, "device_msisdn_hash"),
        (r#"{"mc_claims": {"device_msisdn_hash": "abc"}}"#, "64 lowercase hex"),
        (
            &json!({ "mc_claims": { "device_msisdn_hash": GSMA_HASH.to_uppercase() } }).to_string(),
            "lowercase",
        ),
        (
            r#"{"mc_claims": {"device_msisdn_hash": "+99012345678"}}"#,
            "64 lowercase hex",
        ),
    ] {
        let (status, value) = json_of(h.premium_raw(Some(&token), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert_eq!(value["error"], "invalid_request");
        assert!(
            value["error_description"].as_str().unwrap().contains(hint),
            "{body}: {value}"
        );
    }

    // A CAMARA token has no mc_vm_match_hash scope.
    let camara = h.camara_access_token("+99012345678", &[]).await;
    let got = json_of(h.premium_raw(Some(&camara), &good).await).await;
    assert_oauth_error(&got, StatusCode::FORBIDDEN, "insufficient_scope");
}

// ---------------------------------------------------------------- CAMARA via Vonage

#[tokio::test]
async fn camara_full_flows_and_virtual_operator_rule() {
    let h = start().await;

    // Even last digit: the device is on that number.
    let token = h.camara_access_token("+99012345678", &[]).await;
    let (status, body) = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "devicePhoneNumberVerified": true }));
    for (check, verified) in [
        // `+` optional (v0.3.1).
        (json!({ "phoneNumber": "99012345678" }), true),
        // Hashed, with and without the +; hex case does not matter.
        (json!({ "hashedPhoneNumber": sha256_hex("+99012345678") }), true),
        (json!({ "hashedPhoneNumber": sha256_hex("99012345678") }), true),
        (
            json!({ "hashedPhoneNumber": sha256_hex("+99012345678").to_uppercase() }),
            true,
        ),
        (json!({ "phoneNumber": "+99012345676" }), false),
        (json!({ "hashedPhoneNumber": sha256_hex("+99012345676") }), false),
    ] {
        let (_, body) = h.verify(&token, check.clone()).await;
        assert_eq!(body["devicePhoneNumberVerified"], json!(verified), "{check}");
    }

    // Token response shape.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let token = h.camara_token(landing.code()).await;
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(token.get("id_token").is_none());

    // Odd last digit: the device is on another number.
    assert!(!h.camara_verified("+99012345677", &[], "+99012345677").await);
    // Last two digits 99: the operator fails.
    let landing = h.follow(&h.auth_url("+99011111199").await, &[]).await;
    assert!(landing.hops >= 2);
    landing.assert_error("server_error", "99");
    assert_eq!(landing.params["state"], "vg-state-1");
}

#[tokio::test]
async fn camara_application_jwt_is_checked() {
    let h = start().await;
    let body = json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE], "state": "s" }).to_string();

    let (status, value) = json_of(h.enable_raw(None, &body).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(value["type"].as_str().unwrap().contains("unauthorized"), "{value}");
    assert!(value["title"].is_string() && value["detail"].is_string());

    for (what, jwt) in bad_app_jwts() {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "enablement, {what}: {value}");
        assert!(value["detail"].is_string(), "{what}: {value}");
        let (status, value) = h.camara_exchange(Some(&jwt), "x", &h.redirect_uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token, {what}: {value}");
        assert_eq!(value["error"], "invalid_client", "{what}");
    }
    // Specific reasons are given.
    for (what, hint) in [
        ("expired", "expired"),
        ("forged", "signature"),
        ("no jti", "jti"),
        ("wrong application_id", "application_id"),
        ("iat in the future", "iat"),
        ("HS256", "RS256"),
    ] {
        let jwt = bad_app_jwts().into_iter().find(|(w, _)| *w == what).unwrap().1;
        let (_, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert!(value["detail"].as_str().unwrap().contains(hint), "{what}: {value}");
    }
    // The same JWT is reusable until it expires (no jti replay rule).
    let jwt = app_jwt();
    for _ in 0..3 {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), &body).await).await;
        assert_eq!(status, StatusCode::OK, "{value}");
    }
}

#[tokio::test]
async fn camara_enablement_bad_requests() {
    let h = start().await;
    let jwt = app_jwt();
    for (body, hint) in [
        ("", "JSON object"),
        ("[1,2]", "JSON object"),
        (r#"{"scopes": ["x"], "state": "s"}"#, "phone_number"),
        (
            &json!({ "phone_number": "hello", "scopes": [VERIFY_SCOPE], "state": "s" }).to_string(),
            "phone_number",
        ),
        (
            &json!({ "phone_number": "+99012345678", "state": "s" }).to_string(),
            "scopes",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [], "state": "s" }).to_string(),
            "scopes",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": ["dpv:Other#sim-swap"], "state": "s" }).to_string(),
            "Unsupported scope",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE] }).to_string(),
            "state",
        ),
        (
            &json!({ "phone_number": "+99012345678", "scopes": [VERIFY_SCOPE], "state": "x".repeat(600) }).to_string(),
            "state",
        ),
    ] {
        let (status, value) = json_of(h.enable_raw(Some(&jwt), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        assert!(value["type"].as_str().unwrap().contains("bad-request"), "{value}");
        assert!(value["detail"].as_str().unwrap().contains(hint), "{body}: {value}");
    }
}

#[tokio::test]
async fn camara_authorize_errors() {
    let h = start().await;
    let auth_url = h.auth_url("+99012345678").await;
    let with = |name: &str, value: Option<&str>| {
        let mut url = Url::parse(&auth_url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
            if let Some(v) = value {
                q.append_pair(name, v);
            }
        }
        url.to_string()
    };

    for url in [
        with("redirect_uri", Some("https://evil.example/cb")),
        with("client_id", Some("nobody")),
    ] {
        let res = h.client.get(&url).send().await.unwrap();
        assert_refusal_page(res, &url, "Invalid authorization request").await;
    }
    for (url, error, hint) in [
        (
            with("scope", Some("openid")),
            "invalid_scope",
            "number-verification-verify-read",
        ),
        (
            with("client_id", Some(SANDBOX_MC_CLIENT_ID)),
            "unauthorized_client",
            "other API",
        ),
        (with("response_type", None), "invalid_request", "response_type"),
        (
            with("login_hint", Some("tel:not-a-number")),
            "invalid_request",
            "login_hint",
        ),
    ] {
        let q = h.authorize_error(&url).await;
        assert_eq!(q["error"], error, "{q:?}");
        assert!(q["error_description"].contains(hint), "{q:?}");
        assert_eq!(q["state"], "vg-state-1");
    }
    // login_hint with a tel: prefix works; without any login_hint the default SIM is used.
    for (login_hint, number) in [(Some("tel:+99012345670"), "+99012345670"), (None, "+99012345678")] {
        let landing = h.follow(&with("login_hint", login_hint), &[]).await;
        let token = h.camara_token(landing.code()).await;
        let (_, body) = h
            .verify(
                token["access_token"].as_str().unwrap(),
                json!({ "phoneNumber": number }),
            )
            .await;
        assert_eq!(body["devicePhoneNumberVerified"], json!(true), "{login_hint:?}");
    }
}

#[tokio::test]
async fn camara_token_errors() {
    let h = start().await;
    let jwt = app_jwt();
    let redirect = h.redirect_uri.as_str();
    let landing = h.camara_landing("+99012345678", &[]).await;
    let code = landing.code();

    // Refusals that leave the code good.
    let cases: Vec<(Option<&str>, Pairs, StatusCode, &str)> = vec![
        (
            None,
            vec![
                ("code", code),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(&jwt),
            vec![
                ("code", code),
                ("redirect_uri", redirect),
                ("grant_type", "client_credentials"),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some(&jwt),
            vec![("redirect_uri", redirect), ("grant_type", "authorization_code")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(&jwt),
            vec![
                ("code", "nope"),
                ("redirect_uri", redirect),
                ("grant_type", "authorization_code"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (jwt, form, status, error) in cases {
        let got = json_of(h.camara_token_raw(jwt, &form).await).await;
        assert_oauth_error(&got, status, error);
    }

    // Works once, then a replay is refused and revokes the token.
    let token = h.camara_token(code).await;
    let access = token["access_token"].as_str().unwrap();
    let got = h.camara_exchange(Some(&jwt), code, redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
    let got = h.verify(access, json!({ "phoneNumber": "+99012345678" })).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Redirect URI mismatch.
    let landing = h.camara_landing("+99012345678", &[]).await;
    let got = h
        .camara_exchange(Some(&jwt), landing.code(), &h.other_redirect_uri)
        .await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");

    // A Mobile Connect code is not a CAMARA code.
    let mc_code = h.mc_code(&[]).await;
    let got = h.camara_exchange(Some(&jwt), &mc_code, redirect).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn camara_verify_errors() {
    let h = start().await;
    let good = json!({ "phoneNumber": "+99012345678" }).to_string();

    let got = json_of(h.verify_raw(None, Some(&good)).await).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(got.1["status"], 401);
    assert!(got.1["message"].is_string());
    let got = json_of(h.verify_raw(Some("unknown"), Some(&good)).await).await;
    assert_camara_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // A Mobile Connect token lacks the verify scope.
    let mc = h.mc_access_token(&[]).await;
    let (status, body) = json_of(h.verify_raw(Some(&mc), Some(&good)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({ "status": 403, "code": "PERMISSION_DENIED", "message": body["message"] })
    );

    let token = h.camara_access_token("+99012345678", &[]).await;
    let hash = sha256_hex("+99012345678");
    let both = json!({ "phoneNumber": "+99012345678", "hashedPhoneNumber": hash }).to_string();
    for (body, hint) in [
        (None, "required"),
        (Some("{not json"), "JSON object"),
        (Some("\"+99012345678\""), "JSON object"),
        (Some("{}"), "exactly one"),
        (Some(both.as_str()), "not both"),
        (Some(r#"{"phoneNumber": "+44 7700 900123"}"#), "E.164"),
        (Some(r#"{"phoneNumber": "hello"}"#), "E.164"),
        (Some(r#"{"phoneNumber": 99012345678}"#), "E.164"),
        (Some(r#"{"hashedPhoneNumber": "abc"}"#), "64 hex"),
        (Some(r#"{"hashedPhoneNumber": null}"#), "64 hex"),
    ] {
        let (status, value) = json_of(h.verify_raw(Some(&token), body).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {value}");
        assert_eq!(value["status"], 400);
        assert_eq!(value["code"], "INVALID_ARGUMENT");
        assert!(value["message"].as_str().unwrap().contains(hint), "{body:?}: {value}");
    }
    // x-correlator is echoed.
    let res = h
        .client
        .post(format!("{}/camara/number-verification/v031/verify", h.base))
        .bearer_auth(&token)
        .header("x-correlator", "corr-1")
        .json(&json!({ "phoneNumber": "+99012345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-correlator"], "corr-1");
}

// ---------------------------------------------------------------- the simulated device

#[tokio::test]
async fn sim_decision_routes() {
    let h = start().await;
    // Mobile Connect: (headers sent, number checked, expected answer).
    let mc_cases: Vec<(Pairs, &str, bool)> = vec![
        // 4. default SIM (the operator never sees the number in clear).
        (vec![], "+99012345678", true),
        (vec![], "+99012345677", false),
        // 1. the header-enrichment header (with or without +).
        (vec![("X-Sandbox-Msisdn", "+447700900123")], "+447700900123", true),
        (vec![("X-Sandbox-Msisdn", "447700900123")], "+447700900123", true),
        (vec![("X-Sandbox-Msisdn", "+447700900123")], "+99012345678", false),
        // 2. the cookie, %2B-encoded or with a literal +.
        (vec![("Cookie", "sandbox_sim=%2B447700900124")], "+447700900124", true),
        (
            vec![("Cookie", "other=1; sandbox_sim=+447700900125")],
            "+447700900125",
            true,
        ),
        // The header wins over the cookie.
        (
            vec![
                ("X-Sandbox-Msisdn", "+447700900126"),
                ("Cookie", "sandbox_sim=%2B447700900127"),
            ],
            "+447700900126",
            true,
        ),
    ];
    for (headers, number, verified) in mc_cases {
        assert_eq!(h.mc_verified(&headers, number).await, verified, "{headers:?} {number}");
    }
    // 3. CAMARA: the number known in clear, unless the cookie or header says otherwise.
    // (number asked about, headers sent, number checked, expected answer)
    let camara_cases: Vec<(&str, Pairs, &str, bool)> = vec![
        ("+99012345678", vec![], "+99012345678", true),
        (
            "+99012345678",
            vec![("Cookie", "sandbox_sim=%2B99012345677")],
            "+99012345678",
            false,
        ),
        (
            "+99012345678",
            vec![("Cookie", "sandbox_sim=%2B99012345677")],
            "+99012345677",
            true,
        ),
        (
            "+99012345677",
            vec![("X-Sandbox-Msisdn", "+99012345677")],
            "+99012345677",
            true,
        ),
        // An explicit SIM overrides the operator failure rule, too.
        (
            "+99011111199",
            vec![("X-Sandbox-Msisdn", "+99011111199")],
            "+99011111199",
            true,
        ),
    ];
    for (phone, headers, check, verified) in camara_cases {
        assert_eq!(
            h.camara_verified(phone, &headers, check).await,
            verified,
            "{phone} {headers:?} {check}"
        );
    }

    // Malformed values are refused clearly, in both protocols.
    for headers in [[("X-Sandbox-Msisdn", "not-a-number")], [("Cookie", "sandbox_sim=12")]] {
        let landing = h.follow(&h.mc_authorize_url(&[]), &headers).await;
        landing.assert_error("invalid_request", "E.164");
        assert_eq!(landing.params["state"], "state-123");
        let landing = h.follow(&h.auth_url("+99012345678").await, &headers).await;
        assert_eq!(landing.error().0, "invalid_request");
    }
}

#[tokio::test]
async fn wifi_means_no_sim() {
    let h = start().await;
    for headers in [[("X-Sandbox-Network", "wifi")], [("Cookie", "sandbox_network=wifi")]] {
        let landing = h.follow(&h.mc_authorize_url(&[]), &headers).await;
        assert!(landing.hops >= 2);
        landing.assert_error("access_denied", "mobile data");
        assert_eq!(landing.params["state"], "state-123");

        let landing = h.follow(&h.auth_url("+99012345678").await, &headers).await;
        landing.assert_error("access_denied", "mobile data");
    }
    // "mobile" is the normal case; anything else is refused.
    assert!(h.mc_verified(&[("X-Sandbox-Network", "mobile")], "+99012345678").await);
    let landing = h.follow(&h.mc_authorize_url(&[]), &[("X-Sandbox-Network", "5g")]).await;
    assert_eq!(landing.error().0, "invalid_request");
}

#[tokio::test]
async fn fault_unavailable_and_unknown() {
    let h = start().await;
    for headers in [
        [("X-Sandbox-Fault", "unavailable")],
        [("Cookie", "sandbox_fault=unavailable")],
    ] {
        let landing = h.follow(&h.mc_authorize_url(&[]), &headers).await;
        assert_eq!(landing.error().0, "temporarily_unavailable");
        let landing = h.follow(&h.auth_url("+99012345678").await, &headers).await;
        assert_eq!(landing.error().0, "temporarily_unavailable");
    }
    let landing = h
        .follow(&h.mc_authorize_url(&[]), &[("X-Sandbox-Fault", "explode")])
        .await;
    let (error, description) = landing.error();
    assert_eq!(error, "invalid_request");
    assert!(
        description.contains("token-500") && description.contains("check-malformed"),
        "{description}"
    );
    let landing = h
        .follow(&h.mc_authorize_url(&[]), &[("X-Sandbox-Delay-Ms", "soon")])
        .await;
    assert_eq!(landing.error().0, "invalid_request");
}

#[tokio::test]
async fn token_faults_stick_to_the_code() {
    let h = start().await;
    let redirect = h.redirect_uri.as_str();
    // Mobile Connect, chosen by header.
    let code = h.mc_code(&[("X-Sandbox-Fault", "token-500")]).await;
    let got = h.mc_exchange(&code, redirect).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");

    let code = h.mc_code(&[("X-Sandbox-Fault", "token-malformed")]).await;
    let res = h.mc_exchange_raw(&code, redirect).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let text = res.text().await.unwrap();
    assert!(
        !text.is_empty() && serde_json::from_str::<Value>(&text).is_err(),
        "{text}"
    );

    let code = h
        .mc_code(&[("X-Sandbox-Fault", "token-slow"), ("X-Sandbox-Delay-Ms", "300")])
        .await;
    let started = Instant::now();
    let (status, body) = h.mc_exchange(&code, redirect).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].is_string());

    // CAMARA, chosen by cookie.
    let jwt = Some(app_jwt());
    let jwt = jwt.as_deref();
    let landing = h
        .camara_landing("+99012345678", &[("Cookie", "sandbox_fault=token-500")])
        .await;
    let got = h.camara_exchange(jwt, landing.code(), redirect).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");

    let landing = h
        .camara_landing("+99012345678", &[("Cookie", "sandbox_fault=token-malformed")])
        .await;
    assert_malformed(h.camara_exchange_raw(jwt, landing.code(), redirect).await).await;

    let landing = h
        .camara_landing(
            "+99012345678",
            &[("Cookie", "sandbox_fault=token-slow; sandbox_delay_ms=300")],
        )
        .await;
    let started = Instant::now();
    let (status, _) = h.camara_exchange(jwt, landing.code(), redirect).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn check_faults_stick_to_the_token() {
    let h = start().await;
    let hash = sha256_hex("+99012345678");

    // Mobile Connect premium info.
    let token = h.mc_access_token(&[("X-Sandbox-Fault", "check-500")]).await;
    let got = h.premium(&token, &hash).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    let token = h.mc_access_token(&[("X-Sandbox-Fault", "check-malformed")]).await;
    let res = h
        .premium_raw(
            Some(&token),
            &json!({ "mc_claims": { "device_msisdn_hash": hash } }).to_string(),
        )
        .await;
    assert_malformed(res).await;
    let token = h
        .mc_access_token(&[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "300")])
        .await;
    let started = Instant::now();
    let (status, body) = h.premium(&token, &hash).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["device_msisdn_verified"], json!(true));

    // CAMARA verify.
    let token = h
        .camara_access_token("+99012345678", &[("X-Sandbox-Fault", "check-500")])
        .await;
    let got = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert_camara_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
    assert_eq!(got.1["status"], 500);
    let token = h
        .camara_access_token("+99012345678", &[("Cookie", "sandbox_fault=check-malformed")])
        .await;
    let res = h
        .verify_raw(Some(&token), Some(r#"{"phoneNumber": "+99012345678"}"#))
        .await;
    assert_malformed(res).await;
    let token = h
        .camara_access_token(
            "+99012345678",
            &[("X-Sandbox-Fault", "check-slow"), ("X-Sandbox-Delay-Ms", "300")],
        )
        .await;
    let started = Instant::now();
    let (status, body) = h.verify(&token, json!({ "phoneNumber": "+99012345678" })).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["devicePhoneNumberVerified"], json!(true));

    // A check fault does not touch the token endpoint, and vice versa.
    let code = h.mc_code(&[("X-Sandbox-Fault", "check-500")]).await;
    assert!(h.mc_token(&code).await["access_token"].is_string());
}

#[tokio::test]
async fn device_endpoint_sets_and_clears_cookies() {
    let h = start().await;
    let hr = &h;
    let post = move |form: Vec<(&'static str, String)>| async move {
        hr.client
            .post(format!("{}/device", hr.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    };
    let set_cookies = |res: &Response| -> Vec<String> {
        res.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };

    let res = post(vec![
        ("sim", "+44 7700 900123".into()),
        ("return_to", "/?tab=mc".into()),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/?tab=mc");
    let cookies = set_cookies(&res);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("sandbox_sim=%2B447700900123;"), "{cookies:?}");
    assert!(
        cookies[0].contains("Path=/") && cookies[0].contains("SameSite=Lax"),
        "{cookies:?}"
    );
    // The cookie as set drives the authorization.
    let cookie = cookies[0].split(';').next().unwrap().to_owned();
    assert!(h.mc_verified(&[("Cookie", cookie.as_str())], "+447700900123").await);

    let res = post(vec![
        ("network", "wifi".into()),
        ("return_to", "//evil.example/".into()),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let cookies = set_cookies(&res);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sandbox_network=wifi;") && c.contains("Path=/")),
        "{cookies:?}"
    );
    let cookie = cookies[0].split(';').next().unwrap().to_owned();
    let landing = h.follow(&h.mc_authorize_url(&[]), &[("Cookie", cookie.as_str())]).await;
    assert_eq!(landing.error().0, "access_denied");

    let res = post(vec![
        ("network", "mobile".into()),
        ("return_to", "https://evil.example/".into()),
    ])
    .await;
    assert_eq!(location(&res), "/");
    assert!(set_cookies(&res)
        .iter()
        .any(|c| c.starts_with("sandbox_network=;") && c.contains("Max-Age=0")));

    let res = post(vec![("action", "clear".into()), ("return_to", "/verify".into())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/verify");
    let cookies = set_cookies(&res);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sandbox_sim=;") && c.contains("Max-Age=0") && c.contains("Path=/")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sandbox_network=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );

    for (form, hint) in [
        (vec![("sim", "call me".to_owned())], "Simulated SIM"),
        (vec![("sim", "07700 900123".to_owned())], "country code"),
        (vec![("network", "5g".to_owned())], "mobile"),
        (vec![("action", "explode".to_owned())], "action"),
        (vec![], "Nothing to change"),
    ] {
        let res = post(form.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{form:?}");
        assert!(res.headers().get(header::SET_COOKIE).is_none());
        let text = res.text().await.unwrap();
        assert!(text.contains(hint), "{form:?}: {text}");
    }
}

// ---------------------------------------------------------------- bounds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_unredeemed_codes_stays_under_the_cap() {
    const CAP: usize = 1000;
    const REQUESTS: usize = 10_000;
    const CONCURRENCY: usize = 32;
    let h = std::sync::Arc::new(start_with_cap(CAP).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let url = h.mc_authorize_url(&[]);
            let mut codes = 0usize;
            let mut i = worker;
            while i < REQUESTS {
                // Every request is authorized and its code issued, never redeemed.
                let res = h.client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::FOUND);
                let hop = location(&res);
                let res = h.client.get(&hop).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::FOUND);
                assert!(query_map(&location(&res)).contains_key("code"));
                codes += 1;
                i += CONCURRENCY;
            }
            codes
        }));
    }
    let mut issued = 0;
    for t in tasks {
        issued += t.await.unwrap();
    }
    let stats = h.sandbox.stats();
    let elapsed = started.elapsed();
    eprintln!("flood: {issued} codes issued in {elapsed:?}; entries after: {stats:?} (cap {CAP})");
    assert_eq!(issued, REQUESTS);
    assert!(stats.codes <= CAP, "{stats:?}");
    assert!(stats.pending <= CAP, "{stats:?}");
    assert_eq!(stats.codes, CAP, "the store is full, not emptied: {stats:?}");

    // Authorizations whose hop is never followed are bounded too.
    for _ in 0..(CAP + 500) {
        let res = h.client.get(h.mc_authorize_url(&[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    let stats = h.sandbox.stats();
    eprintln!("flood: after {} unfollowed authorizations: {stats:?}", CAP + 500);
    assert!(stats.pending <= CAP, "{stats:?}");
    assert!(stats.codes <= CAP && stats.tokens <= CAP, "{stats:?}");

    // The operator still works: a fresh flow verifies.
    assert!(h.mc_verified(&[], "+99012345678").await);
    assert_eq!(h.sandbox.stats().tokens, 1);
}
