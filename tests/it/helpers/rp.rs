//! A relying party as a web app would build one — the `openidconnect` crate, discovery,
//! the JWKS — and a browser without JavaScript that goes through the hosted page with
//! plain form posts, a cookie jar and redirects followed by hand.

use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreTokenResponse},
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{absolute, browser::Browser, location, TestApp};

pub const SHOP_SECRET: &str = "shop-secret-for-the-tests-only";
pub const SHOP_REDIRECT: &str = "https://shop.example/oidc/callback";
pub const POST_SECRET: &str = "post-secret-for-the-tests-only";
pub const POST_REDIRECT: &str = "https://post.example/cb";
pub const MOBILE_REDIRECT: &str = "http://127.0.0.1:8765/cb";
pub const BANK_REDIRECT: &str = "https://bank.example/cb";
/// The number the simulated device is on, and one it is not on.
pub const DEVICE_NUMBER: &str = "+99012345678";
pub const OTHER_NUMBER: &str = "+99012345677";

/// `RELYING_PARTIES`, inline JSON: one client per authentication method.
pub fn relying_parties() -> String {
    let hash = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    json!({"clients": [
        {"id": "shop", "name": "Example Shop", "redirect_uris": [SHOP_REDIRECT],
         "auth_method": "client_secret_basic", "secret_sha256": hash(SHOP_SECRET)},
        {"id": "post-shop", "name": "Post Shop", "redirect_uris": [POST_REDIRECT],
         "auth_method": "client_secret_post", "secret_sha256": hash(POST_SECRET)},
        {"id": "mobile", "name": "Mobile App", "redirect_uris": [MOBILE_REDIRECT], "auth_method": "none"},
        {"id": "bank", "name": "Bank", "redirect_uris": [BANK_REDIRECT], "auth_method": "private_key_jwt",
         "public_key": number_verify::sandbox_contract::credentials::CAMARA_CLIENT_PUBLIC_KEY},
    ]})
    .to_string()
}

/// The app with the test relying parties registered (and the sandbox's demo client).
pub async fn provider_app(extra: &[(&str, &str)]) -> TestApp {
    let parties = relying_parties();
    let mut vars = vec![("RELYING_PARTIES", parties.as_str())];
    vars.extend_from_slice(extra);
    TestApp::start(&vars).await
}

pub type Discovered =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The relying party: an OIDC client from the issuer URL and its credentials alone.
pub struct Rp {
    pub client: Discovered,
    pub http: reqwest::Client,
}

/// One login's secrets, kept by the relying party.
pub struct Login {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub pkce: Option<PkceCodeVerifier>,
}

impl Rp {
    pub async fn discover(issuer: &str, id: &str, secret: Option<&str>, redirect: &str) -> Rp {
        // No redirects: the oauth2 crate's advice for token requests (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_owned()).unwrap(), &http)
            .await
            .unwrap_or_else(|e| panic!("discovery of {issuer}: {e:?}"));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(id.to_owned()),
            secret.map(|s| ClientSecret::new(s.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).unwrap());
        Rp { client, http }
    }

    /// As [`Rp::discover`], authenticating with the secret in the body.
    pub fn posting_the_secret(mut self) -> Rp {
        self.client = self.client.set_auth_type(AuthType::RequestBody);
        self
    }

    /// The authorization URL for `openid phone`, with `login_hint=tel:<hint>` when given
    /// and PKCE (S256) when asked.
    pub fn login(&self, hint: Option<&str>, pkce: bool) -> Login {
        let mut request = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("phone".into()));
        if let Some(hint) = hint {
            request = request.add_extra_param("login_hint", format!("tel:{hint}"));
        }
        let mut verifier = None;
        if pkce {
            let (challenge, made) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(made);
        }
        let (url, state, nonce) = request.url();
        Login {
            url: url.to_string(),
            state,
            nonce,
            pkce: verifier,
        }
    }

    /// The token request for `code`, with `verifier` when given.
    pub async fn exchange(&self, code: &str, verifier: Option<PkceCodeVerifier>) -> Result<CoreTokenResponse, String> {
        let mut request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .unwrap();
        if let Some(verifier) = verifier {
            request = request.set_pkce_verifier(verifier);
        }
        request.request_async(&self.http).await.map_err(|e| match e {
            openidconnect::RequestTokenError::ServerResponse(r) => format!("{:?}", r.error()),
            other => format!("{other:?}"),
        })
    }

    /// The id_token's claims, checked as the library checks them: signature against the
    /// JWKS, issuer, audience, expiry, nonce.
    pub fn claims(&self, tokens: &CoreTokenResponse, nonce: &Nonce) -> CoreIdTokenClaims {
        let id_token = tokens.id_token().expect("an id_token");
        id_token
            .claims(&self.client.id_token_verifier(), nonce)
            .unwrap_or_else(|e| panic!("the id_token does not verify: {e:?}"))
            .clone()
    }
}

/// The payload of a JWT (once verified elsewhere): for claims the library does not model.
pub fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// What the person does on the hosted page.
pub enum Press<'a> {
    /// Verify (the number is the login_hint's, or this one typed).
    Verify(Option<&'a str>),
    Share,
    Cancel,
}

/// The hosted page's HTML for `url` (200 expected).
pub async fn open_page(browser: &mut Browser, url: &str) -> String {
    let page = browser.send(browser.client.get(url)).await;
    assert_eq!(page.status(), 200, "GET {url}");
    page.text().await.unwrap()
}

/// Opens the hosted page at `url`, presses `press`, and follows the redirects through the
/// operator and back: the address the browser is finally sent to outside the app (the
/// relying party's redirect URI with its query).
pub async fn through_the_page(browser: &mut Browser, base: &str, url: &str, press: Press<'_>) -> String {
    let post = press_on_page(browser, base, url, press).await;
    leave_the_app(browser, base, post).await
}

/// Opens the hosted page at `url` and presses `press`: the form post's answer.
pub async fn press_on_page(browser: &mut Browser, base: &str, url: &str, press: Press<'_>) -> reqwest::Response {
    let html = open_page(browser, url).await;
    let mut form = hidden_fields(&html);
    match press {
        Press::Verify(typed) => {
            form.push(("action".into(), "verify".into()));
            if let Some(typed) = typed {
                form.push(("phone".into(), typed.into()));
            }
        }
        Press::Share => form.push(("action".into(), "share".into())),
        Press::Cancel => form.push(("action".into(), "cancel".into())),
    }
    browser
        .send(
            browser
                .client
                .post(format!("{base}/authorize"))
                .header("origin", base)
                .form(&form),
        )
        .await
}

/// Follows redirects while they stay under `base`; the first address outside it.
pub async fn leave_the_app(browser: &mut Browser, base: &str, mut response: reqwest::Response) -> String {
    for _ in 0..12 {
        if !response.status().is_redirection() {
            let (url, status) = (response.url().to_string(), response.status());
            panic!("{url} answered {status}: {}", response.text().await.unwrap_or_default());
        }
        let next = absolute(response.url(), &location(&response));
        if !next.starts_with(base) {
            return next;
        }
        response = browser.send(browser.client.get(&next)).await;
    }
    panic!("too many redirects");
}

/// The hidden fields of the page's first form (they are the same in every form).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let form = html.split("</form>").next().unwrap_or(html);
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = input.split('>').next().unwrap_or("");
        if !tag.contains(r#"type="hidden""#) {
            continue;
        }
        let attribute = |name: &str| {
            let start = tag.find(&format!(r#"{name}=""#))? + name.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(unescape(&tag[start..end]))
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            if name != "protocol" {
                fields.push((name, value));
            }
        }
    }
    fields
}

fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The query of the redirect the relying party received, as pairs.
pub fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// The one value of `name` in `url`'s query.
pub fn param(url: &str, name: &str) -> Option<String> {
    query(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
