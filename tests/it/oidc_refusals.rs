//! What the OpenID Provider refuses, and how: a 400 page where there is nobody to send
//! an error to (RFC 6749 §4.1.2.1), an error redirect with `state` and `iss` for the
//! rest, RFC 6749 §5.2 JSON at the token endpoint.

use std::time::Duration;

use openidconnect::OAuth2TokenResponse;
use serde_json::{json, Value};

use crate::{
    helpers::{
        browser::Browser,
        local_listener,
        rp::{
            param, provider_app, relying_parties, through_the_page, Press, Rp, BANK_REDIRECT, DEVICE_NUMBER,
            MOBILE_REDIRECT, POST_REDIRECT, POST_SECRET, SHOP_REDIRECT, SHOP_SECRET,
        },
        Server, TestApp,
    },
    oidc_flows::userinfo,
};

/// A code for `rp`'s login through the page (the device's number, verified).
async fn code(app: &TestApp, rp: &Rp, pkce: bool) -> (String, Option<openidconnect::PkceCodeVerifier>) {
    let login = rp.login(Some(DEVICE_NUMBER), pkce);
    let back = through_the_page(&mut Browser::new(), &app.base, &login.url, Press::Verify(None)).await;
    (
        param(&back, "code").unwrap_or_else(|| panic!("no code in {back}")),
        login.pkce,
    )
}

/// `POST /token` with `form` (and Basic credentials when given): status and JSON.
async fn token(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(app.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_gets_a_400_page_never_a_redirect() {
    let app = provider_app(&[]).await;
    let cases = [
        format!("client_id=nobody&redirect_uri={SHOP_REDIRECT}"),
        "client_id=shop&redirect_uri=https://evil.example/cb".to_owned(),
        format!("client_id=shop&redirect_uri={SHOP_REDIRECT}/more"),
        "client_id=shop".to_owned(),
        format!("redirect_uri={SHOP_REDIRECT}"),
        // The demo client takes loopback addresses only.
        "client_id=nv-demo-rp&redirect_uri=http://localhost.evil.example:80/cb".to_owned(),
    ];
    for query in cases {
        let url = app.url(&format!(
            "/authorize?response_type=code&scope=openid&state=st4te&{query}"
        ));
        let response = crate::helpers::manual_client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        assert!(response.headers().get("location").is_none(), "{query}");
        let html = response.text().await.unwrap();
        assert!(html.contains("This sign-in link does not work"), "{query}: {html}");
        // The form post too.
        let pairs = crate::helpers::rp::query(&format!("http://x/?response_type=code&scope=openid&{query}"));
        let response = crate::helpers::manual_client()
            .post(app.url("/authorize"))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "POST {query}");
        assert!(response.headers().get("location").is_none(), "POST {query}");
    }
}

#[tokio::test]
async fn every_other_bad_request_goes_back_with_error_state_and_iss() {
    let app = provider_app(&[]).await;
    let shop = format!("client_id=shop&redirect_uri={SHOP_REDIRECT}&state=st4te");
    let mobile = format!("client_id=mobile&redirect_uri={MOBILE_REDIRECT}&state=st4te&response_type=code&scope=openid");
    let cases = [
        (
            format!("{shop}&response_type=token&scope=openid"),
            "unsupported_response_type",
        ),
        (format!("{shop}&response_type=code&scope=phone"), "invalid_scope"),
        (
            format!("{shop}&response_type=code&scope=openid%20email"),
            "invalid_scope",
        ),
        (
            format!("{shop}&response_type=code&scope=openid&login_hint=tel:123"),
            "invalid_request",
        ),
        (
            format!("{shop}&response_type=code&scope=openid&code_challenge=x&code_challenge_method=plain"),
            "invalid_request",
        ),
        // A public client without PKCE.
        (mobile.clone(), "invalid_request"),
        (format!("{mobile}&code_challenge_method=S256"), "invalid_request"),
    ];
    for (query, error) in cases {
        let response = crate::helpers::manual_client()
            .get(app.url(&format!("/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{query}: {}", response.status());
        let location = crate::helpers::location(&response);
        assert!(
            location.starts_with(SHOP_REDIRECT) || location.starts_with(MOBILE_REDIRECT),
            "{location}"
        );
        assert_eq!(param(&location, "error").as_deref(), Some(error), "{query}: {location}");
        assert!(param(&location, "error_description").is_some(), "{location}");
        assert_eq!(param(&location, "state").as_deref(), Some("st4te"), "{location}");
        assert_eq!(
            param(&location, "iss").as_deref(),
            Some(app.base.as_str()),
            "{location}"
        );
    }
}

#[tokio::test]
async fn another_sites_page_cannot_press_verify_for_the_person() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let login = rp.login(Some(DEVICE_NUMBER), true);
    let pairs = crate::helpers::rp::query(&login.url);
    let mut form = pairs.clone();
    form.push(("action".into(), "verify".into()));
    let response = crate::helpers::manual_client()
        .post(app.url("/authorize"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn pkce_is_checked_at_the_token_endpoint() {
    let app = provider_app(&[]).await;
    let mobile = Rp::discover(&app.base, "mobile", None, MOBILE_REDIRECT).await;
    // Missing verifier.
    let (code_1, _) = code(&app, &mobile, true).await;
    let refused = mobile.exchange(&code_1, None).await.unwrap_err();
    assert!(refused.contains("invalid_grant"), "{refused}");
    // The wrong verifier.
    let (code_2, _) = code(&app, &mobile, true).await;
    let wrong = openidconnect::PkceCodeVerifier::new("w".repeat(43));
    let refused = mobile.exchange(&code_2, Some(wrong)).await.unwrap_err();
    assert!(refused.contains("invalid_grant"), "{refused}");
    // A verifier for a code that had no challenge (a confidential client).
    let shop = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (code_3, _) = code(&app, &shop, false).await;
    let extra = openidconnect::PkceCodeVerifier::new("v".repeat(43));
    let refused = shop.exchange(&code_3, Some(extra)).await.unwrap_err();
    assert!(refused.contains("invalid_grant"), "{refused}");
    // The right one.
    let (code_4, verifier) = code(&app, &mobile, true).await;
    assert!(mobile.exchange(&code_4, verifier).await.is_ok());
}

#[tokio::test]
async fn a_code_used_twice_is_refused_and_what_it_gave_is_revoked() {
    let app = provider_app(&[]).await;
    let rp = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (code, verifier) = code(&app, &rp, true).await;
    let verifier_again = verifier
        .as_ref()
        .map(|v| openidconnect::PkceCodeVerifier::new(v.secret().clone()));
    let first = rp.exchange(&code, verifier).await.unwrap();
    let access = first.access_token().secret().clone();
    assert_eq!(userinfo(&app, &access).await.0, 200);
    let again = rp.exchange(&code, verifier_again).await.unwrap_err();
    assert!(again.contains("invalid_grant"), "{again}");
    let (status, body) = userinfo(&app, &access).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let app = provider_app(&[]).await;
    let shop = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (code_1, _) = code(&app, &shop, false).await;
    let (status, body, _) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_1),
            ("redirect_uri", SHOP_REDIRECT),
            ("client_id", "post-shop"),
            ("client_secret", POST_SECRET),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("another client"),
        "{body}"
    );
    // Its own client, another redirect URI.
    let (code_2, _) = code(&app, &shop, false).await;
    let (status, body, _) = token(
        &app,
        Some(("shop", SHOP_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code_2),
            ("redirect_uri", POST_REDIRECT),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let parties = relying_parties();
    // A code that lives no time at all: expired when it is redeemed, without waiting.
    let app = TestApp::start_adjusted(local_listener().await, &[("RELYING_PARTIES", &parties)], |config| {
        config.oidc.as_mut().unwrap().code_ttl = Duration::ZERO;
    })
    .await;
    let shop = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (code, _) = code(&app, &shop, false).await;
    let (status, body, _) = token(
        &app,
        Some(("shop", SHOP_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SHOP_REDIRECT),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_client_credentials_and_bad_requests_are_refused_as_json() {
    let app = provider_app(&[]).await;
    let shop = Rp::discover(&app.base, "shop", Some(SHOP_SECRET), SHOP_REDIRECT).await;
    let (code, _) = code(&app, &shop, false).await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", SHOP_REDIRECT),
    ];
    let (status, body, headers) = token(&app, Some(("shop", "not-the-secret")), &redeem).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(headers.get("www-authenticate").is_some());
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    // The registered method only: the secret in the body is not client_secret_basic.
    let mut posted = redeem.to_vec();
    posted.extend([("client_id", "shop"), ("client_secret", SHOP_SECRET)]);
    let (status, body, _) = token(&app, None, &posted).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    // No authentication at all for a confidential client.
    let mut bare = redeem.to_vec();
    bare.push(("client_id", "shop"));
    let (status, body, _) = token(&app, None, &bare).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    // A grant type other than the code's.
    let (status, body, _) = token(&app, Some(("shop", SHOP_SECRET)), &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type")),
        "{body}"
    );
    // A body that is not a form.
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .basic_auth("shop", Some(SHOP_SECRET))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_request");
    // The code survived every refusal above (client authentication comes first).
    let (status, body, _) = token(&app, Some(("shop", SHOP_SECRET)), &redeem).await;
    assert_eq!(status, 200, "{body}");
    // And the bearer token is checked at /userinfo.
    let (status, body) = userinfo(&app, "not-a-token").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_token")));
}

/// A client assertion (RFC 7523) for the bank, signed with `pem`.
fn assertion(pem: &str, aud: &str, jti: &str, exp_in: i64) -> String {
    let now = number_verify::support::unix_now() as i64;
    let claims = json!({"iss": "bank", "sub": "bank", "aud": aud, "jti": jti, "iat": now, "exp": now + exp_in});
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn private_key_jwt_authenticates_and_refuses_bad_assertions() {
    use number_verify::sandbox_contract::{
        credentials::CAMARA_CLIENT_PRIVATE_KEY as BANK_KEY, oidc::SIGNING_KEY as OTHER_KEY,
    };
    let app = provider_app(&[]).await;
    let url = app.url(&format!(
        "/authorize?response_type=code&client_id=bank&redirect_uri={BANK_REDIRECT}&scope=openid%20phone&state=s1&nonce=n1&login_hint=tel:%2B99012345678"
    ));
    let back = through_the_page(&mut Browser::new(), &app.base, &url, Press::Verify(None)).await;
    let code = param(&back, "code").unwrap();
    let endpoint = app.url("/token");
    let redeem = |assertion: String| {
        let code = code.clone();
        let app = &app;
        async move {
            token(
                app,
                None,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", BANK_REDIRECT),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let refused = [
        ("another key", assertion(OTHER_KEY, &endpoint, "j1", 60)),
        (
            "another audience",
            assertion(BANK_KEY, "https://elsewhere.example/token", "j2", 60),
        ),
        ("expired", assertion(BANK_KEY, &endpoint, "j3", -120)),
        ("valid for a day", assertion(BANK_KEY, &endpoint, "j4", 86_400)),
        ("not a JWT", "nonsense".to_owned()),
    ];
    for (what, jwt) in refused {
        let (status, body, _) = redeem(jwt).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    let good = assertion(BANK_KEY, &endpoint, "j-good", 60);
    let (status, body, _) = redeem(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
    // The same assertion again: its jti is spent.
    let (status, body, _) = redeem(good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
}

/// A `private_key_jwt` client that publishes its keys at a `jwks_uri` of its own.
#[tokio::test]
async fn private_key_jwt_with_keys_the_client_publishes() {
    use number_verify::sandbox_contract::{
        credentials::CAMARA_CLIENT_PRIVATE_KEY as BANK_KEY, oidc::SIGNING_KEY as OTHER_KEY,
    };
    // The client's own server, publishing its public key.
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_ec_pem(BANK_KEY.as_bytes()).unwrap(),
        jsonwebtoken::Algorithm::ES256,
    )
    .unwrap();
    jwk.common.key_id = Some("bank-1".into());
    let set = json!({ "keys": [jwk] });
    let listener = local_listener().await;
    let jwks_uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let served = axum::Router::new().route("/jwks.json", axum::routing::get(move || async move { axum::Json(set) }));
    tokio::spawn(async move { axum::serve(listener, served).await });

    let hash = |s: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()));
    let parties = json!({"clients": [
        {"id": "bank", "name": "Bank", "redirect_uris": [BANK_REDIRECT], "auth_method": "private_key_jwt", "jwks_uri": jwks_uri},
        {"id": "shop", "name": "Shop", "redirect_uris": [SHOP_REDIRECT], "auth_method": "client_secret_basic", "secret_sha256": hash(SHOP_SECRET)},
    ]})
    .to_string();
    let app = TestApp::start(&[("RELYING_PARTIES", &parties)]).await;
    let url = app.url(&format!(
        "/authorize?response_type=code&client_id=bank&redirect_uri={BANK_REDIRECT}&scope=openid&login_hint=tel:%2B99012345678"
    ));
    let back = through_the_page(&mut Browser::new(), &app.base, &url, Press::Verify(None)).await;
    let code = param(&back, "code").unwrap();
    let endpoint = app.url("/token");
    let with_kid = |pem: &str, kid: &str, jti: &str| {
        let now = number_verify::support::unix_now();
        let claims = json!({"iss": "bank", "sub": "bank", "aud": endpoint, "jti": jti, "exp": now + 60});
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let redeem = |assertion: String| {
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), BANK_REDIRECT.to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ];
        reqwest::Client::new().post(app.url("/token")).form(&form).send()
    };
    let refused = redeem(with_kid(OTHER_KEY, "bank-1", "r1")).await.unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = redeem(with_kid(BANK_KEY, "bank-1", "r2")).await.unwrap();
    assert_eq!(accepted.status(), 200, "{:?}", accepted.text().await);
}
