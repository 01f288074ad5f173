//! Discovery and authorization: the refusals, and which SIM the device is on.

use number_verify::sandbox_contract::credentials::MC_CLIENT_ID;
use reqwest::{header, StatusCode};
use serde_json::json;

use super::SIM;
use crate::harness::{
    assert_refusal_page, json_of, start, Harness, Pkce, V2Auth, V2Op, V2_SHARE_SCOPE, V2_STATE, V2_VERIFY_SCOPE,
};

#[tokio::test]
async fn the_discovery_document_names_the_endpoints_and_the_profile() {
    let h = start().await;
    let res = h
        .client
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let (status, doc) = json_of(res).await;
    assert_eq!(status, StatusCode::OK);
    let i = h.issuer();
    assert!(i.ends_with("/sandbox/camara/v2"), "{i}");
    assert_eq!(
        doc,
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": [
                "openid",
                "dpv:FraudPreventionAndDetection",
                "number-verification:verify",
                "number-verification:device-phone-number:read"
            ],
        })
    );
    // The JWKS it names is served, and is the Mobile Connect key set.
    let (_, v2) = json_of(h.client.get(format!("{i}/jwks")).send().await.unwrap()).await;
    let (_, mc) = json_of(
        h.client
            .get(format!("{}/.well-known/jwks.json", h.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v2, mc);
    assert_eq!(v2["keys"].as_array().unwrap().len(), 2, "{v2}");
}

#[tokio::test]
async fn authorization_refusals() {
    let h = start().await;
    let pkce = Pkce::new();
    let url = |overrides: &[(&str, Option<&str>)]| h.v2_authorize_url(&pkce, V2_VERIFY_SCOPE, overrides);

    // No redirect to an unknown client or an unregistered redirect URI.
    for overrides in [
        vec![("client_id", Some("nobody"))],
        vec![("client_id", None)],
        vec![("redirect_uri", Some("https://evil.example/cb"))],
        vec![("redirect_uri", None)],
    ] {
        let res = h.client.get(url(&overrides)).send().await.unwrap();
        assert_refusal_page(res, &format!("{overrides:?}"), "Invalid authorization request").await;
    }

    let short = &pkce.challenge[1..];
    // Parameters to change, the error, a word of its description.
    type Case<'a> = (Vec<(&'a str, Option<&'a str>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
            "S256",
        ),
        (vec![("code_challenge_method", None)], "invalid_request", "S256"),
        (vec![("code_challenge", None)], "invalid_request", "code_challenge"),
        (vec![("code_challenge", Some(short))], "invalid_request", "43"),
        (
            vec![("scope", Some("openid dpv:FraudPreventionAndDetection"))],
            "invalid_scope",
            "number-verification:verify",
        ),
        (
            vec![("scope", Some("number-verification:verify"))],
            "invalid_scope",
            "openid",
        ),
        (
            vec![("login_hint", Some("tel:99012345678"))],
            "invalid_request",
            "login_hint",
        ),
        (
            vec![("login_hint", Some("operatortoken:abc"))],
            "invalid_request",
            "login_hint",
        ),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
            "code",
        ),
        (
            vec![("client_id", Some(MC_CLIENT_ID))],
            "unauthorized_client",
            "other API",
        ),
    ];
    for (overrides, error, hint) in cases {
        let q = h.authorize_error(&url(&overrides)).await;
        assert_eq!(q["error"], error, "{overrides:?}: {q:?}");
        assert!(q["error_description"].contains(hint), "{overrides:?}: {q:?}");
        assert_eq!(q["state"], V2_STATE, "{overrides:?}");
    }
    // state is required (and so cannot be echoed).
    let q = h.authorize_error(&url(&[("state", None)])).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("state"), "{q:?}");
    // An HMAC-signed id_token has no meaning without a client secret.
    let res = h
        .client
        .get(url(&[]))
        .header("X-Sandbox-Id-Token", "hs256")
        .send()
        .await
        .unwrap();
    let q = crate::harness::query_map(&crate::harness::location(&res));
    assert_eq!(q["error"], "invalid_request", "{q:?}");

    // Decided at the operator, after the hop: Wi-Fi, an unavailable operator, the
    // virtual operator rule's failing numbers.
    for (headers, overrides, error, hint) in [
        (
            vec![("X-Sandbox-Network", "wifi")],
            vec![],
            "access_denied",
            "mobile data",
        ),
        (
            vec![("Cookie", "sandbox_network=wifi")],
            vec![],
            "access_denied",
            "mobile data",
        ),
        (
            vec![("X-Sandbox-Fault", "unavailable")],
            vec![],
            "temporarily_unavailable",
            "unavailable",
        ),
        (
            vec![],
            vec![("login_hint", Some("tel:+99011111199"))],
            "server_error",
            "99",
        ),
    ] {
        let landing = h.follow(&url(&overrides), &headers).await;
        assert!(landing.hops >= 2, "{headers:?}: {} hops", landing.hops);
        landing.assert_error(error, hint);
        assert_eq!(landing.params["state"], V2_STATE);
    }
}

/// The number the operator says the device is on, for an authorization.
async fn device_number(h: &Harness, overrides: &[(&str, Option<&str>)], headers: &[(&str, &str)]) -> String {
    let token = h
        .v2_access_token(&V2Auth {
            scope: V2_SHARE_SCOPE,
            overrides,
            headers,
        })
        .await;
    let (status, body) = json_of(h.v2_call(V2Op::Share, Some(&token), None, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["devicePhoneNumber"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_sim_is_decided_as_for_the_other_protocols() {
    let h = start().await;
    // The default SIM; the virtual operator rule on a login_hint (tel: or bare); the
    // header-enrichment header and the cookie win over it.
    assert_eq!(device_number(&h, &[], &[]).await, SIM);
    for (hint, number) in [
        ("tel:+99012345670", "+99012345670"),
        ("+99012345670", "+99012345670"),
        ("tel:+990-1234-5670", "+99012345670"),
        ("tel:+99012345677", "+99012345676"),
    ] {
        assert_eq!(
            device_number(&h, &[("login_hint", Some(hint))], &[]).await,
            number,
            "{hint}"
        );
    }
    let hint = [("login_hint", Some("tel:+99012345670"))];
    assert_eq!(
        device_number(&h, &hint, &[("X-Sandbox-Msisdn", "+447700900123")]).await,
        "+447700900123"
    );
    assert_eq!(
        device_number(&h, &hint, &[("Cookie", "sandbox_sim=%2B447700900124")]).await,
        "+447700900124"
    );
    // Both operation scopes in one token.
    let both = "openid dpv:FraudPreventionAndDetection number-verification:verify number-verification:device-phone-number:read";
    let token = h
        .v2_token(&V2Auth {
            scope: both,
            ..V2Auth::default()
        })
        .await;
    assert_eq!(
        token["scope"],
        "openid number-verification:verify number-verification:device-phone-number:read"
    );
}
