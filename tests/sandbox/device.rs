//! The simulated device: how the SIM and the network are decided (header, cookie, CAMARA
//! login hint, default SIM), and the `/device` form that sets and clears its cookies.

use reqwest::{header, Response, StatusCode};

use crate::harness::{location, start, Pairs};

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
