//! The OpenID Provider end to end, as a relying party built with the `openidconnect`
//! crate sees it: discovery → the hosted page (a browser without JavaScript) → the
//! operator → the code at the redirect URI → the token endpoint → the id_token checked
//! against the JWKS; and `/userinfo`.

use openidconnect::{core::CoreTokenResponse, OAuth2TokenResponse, TokenResponse};

use crate::helpers::{
    browser::Browser,
    rp::{
        param, payload, provider_app, through_the_page, Press, Rp, DEVICE_NUMBER, OTHER_NUMBER, SHOP_REDIRECT,
        SHOP_SECRET,
    },
    Server, TestApp,
};

/// The shop's login for `hint`, through the page: the redirect it received, checked for
/// `state` and `iss` (RFC 9207), and the tokens for its code.
async fn shop_login(
    app: &TestApp,
    rp: &Rp,
    hint: Option<&str>,
    press: Press<'_>,
) -> (CoreTokenResponse, serde_json::Value) {
    let login = rp.login(hint, true);
    let mut browser = Browser::new();
    let back = through_the_page(&mut browser, &app.base, &login.url, press).await;
    assert!(back.starts_with(SHOP_REDIRECT), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(login.state.secret().as_str()),
        "{back}"
    );
    assert_eq!(param(&back, "iss").as_deref(), Some(app.base.as_str()), "{back}");
    assert_eq!(param(&back, "error"), None, "{back}");
    let code = param(&back, "code").expect("a code");
    let tokens = rp.exchange(&code, login.pkce).await.expect("tokens for the code");
    // The nonce is checked by the library against the one it sent.
    let claims = rp.claims(&tokens, &login.nonce);
    let raw = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(raw["nonce"], login.nonce.secret().as_str());
    assert_eq!(claims.issuer().as_str(), app.base);
    (tokens, raw)
}

#[tokio::test]
async fn a_relying_party_verifies_the_devices_number_with_nothing_but_the_issuer_and_its_credentials() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (tokens, claims) = shop_login(&app, &rp, Some(DEVICE_NUMBER), Press::Verify(None)).await;
    assert_eq!(claims["phone_number"], DEVICE_NUMBER);
    assert_eq!(claims["phone_number_verified"], true);
    assert_eq!(claims["amr"], serde_json::json!(["nba"]));
    assert_eq!(claims["aud"], "shop");
    assert!(claims["txn"].as_str().is_some_and(|t| !t.is_empty()), "{claims}");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
    assert!(claims["auth_time"].as_u64().is_some());
    // Pairwise: the number is not in it, and another relying party gets another sub.
    let sub = claims["sub"].as_str().unwrap().to_owned();
    assert!(!sub.contains("99012345678"), "{sub}");
    let header = payload_header(&tokens.id_token().unwrap().to_string());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], "nv-sandbox-oidc-1");

    // /userinfo answers the same claims for the access token.
    let info = userinfo(&app, tokens.access_token().secret()).await;
    assert_eq!(info.0, 200, "{}", info.1);
    assert_eq!(info.1["sub"], sub.as_str());
    assert_eq!(info.1["phone_number"], DEVICE_NUMBER);
    assert_eq!(info.1["phone_number_verified"], true);
    assert_eq!(info.1["txn"], claims["txn"]);
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(300));

    // The same number at another relying party: another sub.
    let demo = Rp::discover(
        &app.base,
        "nv-demo-rp",
        Some("nv-demo-rp-secret"),
        "http://127.0.0.1:9/cb",
    )
    .await;
    let login = demo.login(Some(DEVICE_NUMBER), false);
    let mut browser = Browser::new();
    let back = through_the_page(&mut browser, &app.base, &login.url, Press::Verify(None)).await;
    assert!(back.starts_with("http://127.0.0.1:9/cb?code="), "{back}");
    let tokens = demo.exchange(&param(&back, "code").unwrap(), None).await.unwrap();
    let other = demo.claims(&tokens, &login.nonce);
    assert_ne!(other.subject().as_str(), sub);
    assert_eq!(other.phone_number().map(|p| p.as_str()), Some(DEVICE_NUMBER));
}

#[tokio::test]
async fn another_number_comes_back_unverified() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (_, claims) = shop_login(&app, &rp, Some(OTHER_NUMBER), Press::Verify(None)).await;
    assert_eq!(claims["phone_number"], OTHER_NUMBER);
    assert_eq!(claims["phone_number_verified"], false);
    // Its sub is nobody's: asking about someone else's number never yields their sub.
    let (_, again) = shop_login(&app, &rp, Some(OTHER_NUMBER), Press::Verify(None)).await;
    assert_ne!(again["sub"], claims["sub"]);
    let (_, verified) = shop_login(&app, &rp, Some(DEVICE_NUMBER), Press::Verify(None)).await;
    let (_, verified_again) = shop_login(&app, &rp, Some(DEVICE_NUMBER), Press::Verify(None)).await;
    assert_eq!(
        verified["sub"], verified_again["sub"],
        "a verified number's sub is stable"
    );
}

#[tokio::test]
async fn without_a_hint_the_page_shares_the_devices_number() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(None, true);
    let html = crate::helpers::rp::open_page(&mut Browser::new(), &login.url).await;
    assert!(html.contains("Example Shop"), "{html}");
    assert!(html.contains("Share this phone"), "{html}");
    let (_, claims) = shop_login(&app, &rp, None, Press::Share).await;
    assert_eq!(claims["phone_number"], DEVICE_NUMBER);
    assert_eq!(claims["phone_number_verified"], true);
    // Or the person types a number.
    let (_, claims) = shop_login(&app, &rp, None, Press::Verify(Some(OTHER_NUMBER))).await;
    assert_eq!(claims["phone_number"], OTHER_NUMBER);
    assert_eq!(claims["phone_number_verified"], false);
}

#[tokio::test]
async fn the_page_shows_the_clients_name_and_the_number_it_asks_about() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let html = crate::helpers::rp::open_page(&mut Browser::new(), &login.url).await;
    assert!(
        html.contains(
            "<strong>Example Shop</strong> wants to confirm that this phone has number <strong>+99012345678</strong>"
        ),
        "{html}"
    );
    assert!(html.contains(r#"value="+99012345678""#), "{html}");
    assert_eq!(
        html.matches(r#"value="verify""#).count(),
        1,
        "one Verify button: {html}"
    );
}

#[tokio::test]
async fn a_client_posting_its_secret_and_a_public_client_with_pkce_get_tokens() {
    let app = provider_app(&[]).await;
    let post = Rp::discover(
        &app.base,
        "post-shop",
        Some(crate::helpers::rp::POST_SECRET),
        crate::helpers::rp::POST_REDIRECT,
    )
    .await
    .posting_the_secret();
    let login = post.login(Some(DEVICE_NUMBER), false);
    let back = through_the_page(&mut Browser::new(), &app.base, &login.url, Press::Verify(None)).await;
    let tokens = post.exchange(&param(&back, "code").unwrap(), None).await.unwrap();
    assert_eq!(post.claims(&tokens, &login.nonce).phone_number_verified(), Some(true));

    let mobile = Rp::discover(&app.base, "mobile", None, crate::helpers::rp::MOBILE_REDIRECT).await;
    let login = mobile.login(Some(DEVICE_NUMBER), true);
    let back = through_the_page(&mut Browser::new(), &app.base, &login.url, Press::Verify(None)).await;
    let tokens = mobile
        .exchange(&param(&back, "code").unwrap(), login.pkce)
        .await
        .unwrap();
    assert_eq!(mobile.claims(&tokens, &login.nonce).phone_number_verified(), Some(true));
}

#[tokio::test]
async fn a_cancel_goes_back_with_access_denied() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let back = through_the_page(&mut Browser::new(), &app.base, &login.url, Press::Cancel).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some(login.state.secret().as_str()));
    assert_eq!(param(&back, "iss").as_deref(), Some(app.base.as_str()));
    assert_eq!(param(&back, "code"), None);
}

#[tokio::test]
async fn an_operator_refusal_goes_back_as_an_error_with_state() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), true);
    // The simulated device on Wi-Fi: the operator cannot see the SIM.
    let mut browser = Browser::new().header("X-Sandbox-Network", "wifi");
    let back = through_the_page(&mut browser, &app.base, &login.url, Press::Verify(None)).await;
    assert!(back.starts_with(SHOP_REDIRECT), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"), "{back}");
    assert!(
        param(&back, "error_description").is_some_and(|d| d.contains("mobile data")),
        "{back}"
    );
    assert_eq!(param(&back, "state").as_deref(), Some(login.state.secret().as_str()));
}

/// `GET`/`POST /userinfo` with a bearer token: status and JSON.
pub async fn userinfo(app: &TestApp, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub fn payload_header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
