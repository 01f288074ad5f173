//! Configuration from variables: every bad one named, the sandbox never a fallback.

use super::*;
use crate::operators::VonageCredentials;
use crate::protocol::Operator;
use crate::sandbox_contract::credentials::{
    MC_CLIENT_ID as SANDBOX_MC_CLIENT_ID, VONAGE_PRIVATE_KEY as SANDBOX_VONAGE_PRIVATE_KEY,
};
use crate::support::unix_now;

#[test]
fn defaults_run_everything_against_the_sandbox() {
    let c = Config::from_pairs(&[]).unwrap();
    assert_eq!(c.sandbox, SandboxMode::Mounted);
    assert_eq!(c.public_url, "http://127.0.0.1:3000");
    assert_eq!(c.redirect_uri().as_str(), "http://127.0.0.1:3000/callback");
    let mc = c.mobile_connect.unwrap();
    assert_eq!(mc.api_base.as_str(), "http://127.0.0.1:3000/sandbox");
    assert_eq!(mc.client_id, SANDBOX_MC_CLIENT_ID);
    let vg = c.vonage.unwrap();
    assert_eq!(vg.api_base.as_str(), "http://127.0.0.1:3000/sandbox");
    assert!(!vg.hashed);
    assert_eq!(c.operator_timeout, Duration::from_secs(10));
    assert_eq!(c.sandbox_default_sim.as_str(), "+99012345678");
}

#[test]
fn live_credentials_turn_the_sandbox_off() {
    let c = Config::from_pairs(&[
        ("APP_PUBLIC_URL", "https://verify.example.com/"),
        ("MC_API_BASE", "https://mc.example.net/api/"),
        ("MC_CLIENT_ID", "id"),
        ("MC_CLIENT_SECRET", "s3cret"),
    ])
    .unwrap();
    assert_eq!(c.sandbox, SandboxMode::Off);
    assert!(c.vonage.is_none());
    assert_eq!(c.public_url, "https://verify.example.com");
    assert_eq!(
        c.mobile_connect.as_ref().unwrap().api_base.as_str(),
        "https://mc.example.net/api"
    );
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "secrets never appear in Debug output"
    );
}

#[test]
fn each_bad_variable_is_named() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("LEPTOS_SITE_ADDR", "localhost")], "LEPTOS_SITE_ADDR"),
        (&[("METRICS_ADDR", "9090")], "METRICS_ADDR"),
        (
            &[("LEPTOS_SITE_ADDR", "0.0.0.0:3000"), ("METRICS_ADDR", "127.0.0.1:3000")],
            "METRICS_ADDR",
        ),
        (&[("APP_PUBLIC_URL", "verify.example.com")], "APP_PUBLIC_URL"),
        (&[("APP_PUBLIC_URL", "https://x.example/app")], "APP_PUBLIC_URL"),
        (&[("SANDBOX", "maybe")], "SANDBOX"),
        (&[("SANDBOX", "off")], "SANDBOX"),
        (&[("SANDBOX", "only")], "SANDBOX_REDIRECT_URIS"),
        (
            &[("SANDBOX", "only"), ("SANDBOX_REDIRECT_URIS", "not a url")],
            "SANDBOX_REDIRECT_URIS",
        ),
        (&[("SANDBOX_DEFAULT_SIM", "12")], "SANDBOX_DEFAULT_SIM"),
        (&[("OPERATOR_TIMEOUT_MS", "soon")], "OPERATOR_TIMEOUT_MS"),
        (&[("OPERATOR_TIMEOUT_MS", "0")], "OPERATOR_TIMEOUT_MS"),
        (&[("CAMARA_HASHED", "perhaps")], "CAMARA_HASHED"),
        (&[("RATE_LIMIT_PER_MINUTE", "0")], "RATE_LIMIT_PER_MINUTE"),
        (&[("RATE_LIMIT_PER_MINUTE", "lots")], "RATE_LIMIT_PER_MINUTE"),
        (&[("PAGE_RATE_LIMIT_PER_MINUTE", "0")], "PAGE_RATE_LIMIT_PER_MINUTE"),
        (&[("PAGE_RATE_LIMIT_PER_MINUTE", "-5")], "PAGE_RATE_LIMIT_PER_MINUTE"),
        (
            &[("PAGE_RATE_LIMIT_PER_MINUTE", "1000001")],
            "PAGE_RATE_LIMIT_PER_MINUTE",
        ),
        (&[("PAGE_RATE_LIMIT_PER_MINUTE", "many")], "PAGE_RATE_LIMIT_PER_MINUTE"),
        (&[("MAX_PENDING_PER_CLIENT", "0")], "MAX_PENDING_PER_CLIENT"),
        (&[("MAX_PENDING", "many")], "MAX_PENDING"),
        (&[("TRUST_PROXY", "sometimes")], "TRUST_PROXY"),
        (&[("TRUSTED_PROXIES", "10.0.0.0/33")], "TRUSTED_PROXIES"),
        (&[("TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")], "TRUSTED_PROXIES"),
        (&[("TRUSTED_PROXIES", "10.0.0.0/8,")], "TRUSTED_PROXIES"),
        (&[("MAX_CONNECTIONS", "0")], "MAX_CONNECTIONS"),
        (&[("MAX_CONNECTIONS", "unlimited")], "MAX_CONNECTIONS"),
        (&[("MAX_CONNECTIONS_PER_CLIENT", "0")], "MAX_CONNECTIONS_PER_CLIENT"),
        (&[("MAX_CONNECTIONS_PER_CLIENT", "-1")], "MAX_CONNECTIONS_PER_CLIENT"),
        (&[("REDIS_URL", "localhost:6379")], "REDIS_URL"),
        (&[("REDIS_URL", "http://127.0.0.1:6379")], "REDIS_URL"),
        (
            &[("REDIS_CLUSTER_URLS", "redis://10.0.0.1:6379,10.0.0.2")],
            "REDIS_CLUSTER_URLS",
        ),
        (&[("REDIS_CLUSTER_URLS", " , ")], "REDIS_CLUSTER_URLS"),
        (
            &[
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("REDIS_CLUSTER_URLS", "redis://127.0.0.1:7000"),
            ],
            "REDIS_CLUSTER_URLS",
        ),
        (&[("REDIS_PREFIX", "has space")], "REDIS_PREFIX"),
        (&[("SHUTDOWN_GRACE_MS", "soon")], "SHUTDOWN_GRACE_MS"),
        (&[("MC_CLIENT_ID", "id")], "MC_API_BASE"),
        (
            &[("MC_API_BASE", "https://x.example"), ("MC_CLIENT_ID", "id")],
            "MC_CLIENT_SECRET",
        ),
        (
            &[
                ("MC_API_BASE", "ftp://x.example"),
                ("MC_CLIENT_ID", "i"),
                ("MC_CLIENT_SECRET", "s"),
            ],
            "MC_API_BASE",
        ),
        (&[("VONAGE_API_BASE", "https://x.example")], "VONAGE_APPLICATION_ID"),
        (
            &[("VONAGE_API_BASE", "https://x.example"), ("VONAGE_APPLICATION_ID", "a")],
            "VONAGE_PRIVATE_KEY",
        ),
        (
            &[
                ("VONAGE_API_BASE", "https://x.example"),
                ("VONAGE_APPLICATION_ID", "a"),
                ("VONAGE_PRIVATE_KEY", "/nonexistent/key.pem"),
            ],
            "VONAGE_PRIVATE_KEY",
        ),
        (
            &[
                ("VONAGE_API_BASE", "https://x.example"),
                ("VONAGE_APPLICATION_ID", "a"),
                (
                    "VONAGE_PRIVATE_KEY",
                    concat!(
                        "-----BEGIN ",
                        "PRIVATE KEY-----\\nnot a key\\n-----END ",
                        "PRIVATE KEY-----"
                    ),
                ),
            ],
            "VONAGE_PRIVATE_KEY",
        ),
    ];
    for (vars, expected) in cases {
        let err = Config::from_pairs(vars).expect_err(&format!("{vars:?} must be refused"));
        assert_eq!(err.variable, *expected, "{vars:?}: {err}");
        assert!(err.to_string().contains(expected));
    }
}

#[test]
fn vonage_auth_hosts_default_to_vonage_and_bad_entries_are_named() {
    let live = |extra: &[(&'static str, &'static str)], base: &'static str| {
        let mut vars = vec![
            ("VONAGE_API_BASE", base),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", SANDBOX_VONAGE_PRIVATE_KEY),
        ];
        vars.extend_from_slice(extra);
        Config::from_pairs(&vars)
    };
    let hosts = |c: Config| c.vonage.unwrap().auth_hosts;
    assert_eq!(
        hosts(live(&[], "https://api-eu.vonage.com").unwrap()),
        ["oidc.idp.vonage.com"]
    );
    assert_eq!(
        hosts(
            live(
                &[("VONAGE_AUTH_HOSTS", " Auth.Example ,login.example")],
                "https://api-eu.vonage.com"
            )
            .unwrap()
        ),
        ["auth.example", "login.example"]
    );
    // A local operator answers for itself.
    assert_eq!(
        hosts(live(&[], "http://127.0.0.1:9000").unwrap()),
        ["oidc.idp.vonage.com", "127.0.0.1"]
    );
    // The mounted virtual operator: its own host only.
    assert_eq!(hosts(Config::from_pairs(&[]).unwrap()), ["127.0.0.1"]);
    for bad in [
        "oidc.idp.vonage.com,",
        " , ",
        "https://oidc.idp.vonage.com",
        "oidc.idp.vonage.com:443",
        "oidc.idp.vonage.com/oauth2",
        "a b.example",
        "user@host.example",
    ] {
        let err = live(&[("VONAGE_AUTH_HOSTS", bad)], "https://api-eu.vonage.com").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("VONAGE_AUTH_HOSTS"), "{bad:?}: {message}");
        assert!(message.contains("host names separated by commas"), "{bad:?}: {message}");
    }
}

#[test]
fn private_key_may_be_a_path_or_the_pem() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
    for key in [path.to_owned(), SANDBOX_VONAGE_PRIVATE_KEY.replace('\n', "\\n")] {
        let c = Config::from_pairs(&[
            ("VONAGE_API_BASE", "https://x.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", &key),
            ("CAMARA_HASHED", "true"),
        ])
        .unwrap();
        let vg = c.vonage.unwrap();
        assert!(vg.hashed);
        // Parsed once into a key that signs what the registered public key verifies.
        let VonageCredentials::PrivateKey(k) = &vg.credentials else {
            panic!("VONAGE_PRIVATE_KEY gives a private key");
        };
        let token = k.sign(&k.header(), &serde_json::json!({ "sub": "x" })).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        let public = jsonwebtoken::DecodingKey::from_rsa_pem(credentials::VONAGE_PUBLIC_KEY.as_bytes()).unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &public, &validation).is_ok());
    }
}

mod sandbox_modes {
    use super::*;

    #[test]
    fn only_runs_the_virtual_operator_for_the_given_redirect_uris() {
        let c = Config::from_pairs(&[
            ("SANDBOX", "only"),
            ("APP_PUBLIC_URL", "http://127.0.0.1:4000"),
            (
                "SANDBOX_REDIRECT_URIS",
                "http://127.0.0.1:3000/callback, http://app.example/callback",
            ),
            // Ignored alone: the virtual operator calls no operator.
            ("MC_CLIENT_ID", "id"),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Only);
        assert_eq!(
            c.sandbox_redirect_uris,
            ["http://127.0.0.1:3000/callback", "http://app.example/callback"]
        );
        assert_eq!(c.sandbox_public_base(), "http://127.0.0.1:4000/sandbox");
        assert!(c.mobile_connect.is_none() && c.vonage.is_none());
    }

    const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");

    /// Each protocol is decided on its own: the sandbox backs only the one with no live
    /// configuration, and says so.
    #[test]
    fn on_with_live_vonage_backs_only_mobile_connect_with_the_mounted_operator() {
        let c = Config::from_pairs(&[
            ("SANDBOX", "on"),
            ("VONAGE_API_BASE", "https://vg.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", KEY),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Mounted);
        assert_eq!(c.backing(Operator::MobileConnect), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Operator::Vonage), Some(Backing::Live));
        assert!(c.sandbox_backed(Operator::MobileConnect) && !c.sandbox_backed(Operator::Vonage));
        assert_eq!(
            c.mobile_connect.as_ref().unwrap().api_base.as_str(),
            "http://127.0.0.1:3000/sandbox"
        );
        assert_eq!(c.vonage.as_ref().unwrap().api_base.as_str(), "https://vg.example/");
    }

    /// A protocol with some live configuration is live: nothing missing is borrowed from
    /// the mounted virtual operator (its base URL used to stand in for MC_API_BASE).
    #[test]
    fn partial_live_configuration_is_refused_not_completed_by_the_sandbox() {
        let err = Config::from_pairs(&[
            ("SANDBOX", "on"),
            ("MC_CLIENT_ID", "live-id"),
            ("MC_CLIENT_SECRET", "live-secret"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "MC_API_BASE", "{err}");
        let err = Config::from_pairs(&[
            ("SANDBOX", "on"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", KEY),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "VONAGE_API_BASE", "{err}");
    }

    #[test]
    fn auto_mounts_the_virtual_operator_only_on_a_loopback_http_url() {
        for public in [
            "http://127.0.0.1:3000",
            "http://127.8.9.10:3000",
            "http://[::1]:3000",
            "http://localhost:3000",
            "http://LOCALHOST",
        ] {
            for sandbox in [None, Some("auto"), Some("AUTO")] {
                let mut vars = vec![("APP_PUBLIC_URL", public)];
                vars.extend(sandbox.map(|s| ("SANDBOX", s)));
                let c = Config::from_pairs(&vars).unwrap_or_else(|e| panic!("{public} {sandbox:?}: {e}"));
                assert_eq!(c.sandbox, SandboxMode::Mounted, "{public}");
                assert!(c.sandbox_backed(Operator::MobileConnect) && c.sandbox_backed(Operator::Vonage));
            }
        }
        // The default APP_PUBLIC_URL follows LEPTOS_SITE_ADDR: loopback unless told otherwise.
        assert_eq!(Config::from_pairs(&[]).unwrap().sandbox, SandboxMode::Mounted);
    }

    /// A deployment whose secrets failed to load stops, naming what to set, instead of
    /// "verifying" any number through the virtual operator.
    #[test]
    fn auto_without_credentials_off_loopback_refuses_to_start() {
        let cases: &[&[(&str, &str)]] = &[
            &[("APP_PUBLIC_URL", "https://verify.example.com")],
            &[("APP_PUBLIC_URL", "http://verify.example.com")],
            &[("APP_PUBLIC_URL", "https://127.0.0.1:3000"), ("SANDBOX", "auto")],
            &[("APP_PUBLIC_URL", "http://192.168.1.20:3000")],
            &[("APP_PUBLIC_URL", "http://localhost.example.com")],
            // Listening on every interface, with no public URL given: reachable from outside.
            &[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")],
        ];
        for vars in cases {
            let err = Config::from_pairs(vars).expect_err(&format!("{vars:?} must not run the sandbox"));
            assert_eq!(err.variable, "SANDBOX", "{vars:?}: {err}");
            let text = err.to_string();
            for name in [
                "MC_API_BASE",
                "MC_CLIENT_ID",
                "MC_CLIENT_SECRET",
                "VONAGE_API_BASE",
                "VONAGE_APPLICATION_ID",
                "VONAGE_PRIVATE_KEY",
                "SANDBOX=on",
                "loopback",
            ] {
                assert!(text.contains(name), "{vars:?}: {text} lacks {name}");
            }
        }
    }

    /// `SANDBOX=on` is a deliberate test deployment: mounted on any address, every
    /// protocol without live configuration backed by it.
    #[test]
    fn on_mounts_the_virtual_operator_on_a_public_url_when_asked() {
        let c = Config::from_pairs(&[("SANDBOX", "on"), ("APP_PUBLIC_URL", "https://test.example.com")]).unwrap();
        assert_eq!(c.sandbox, SandboxMode::Mounted);
        assert_eq!(
            c.mobile_connect.as_ref().unwrap().api_base.as_str(),
            "https://test.example.com/sandbox"
        );
        assert_eq!(c.backing(Operator::Vonage), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Operator::MobileConnect), Some(Backing::VirtualOperator));
    }

    #[test]
    fn live_credentials_are_live_and_an_unconfigured_protocol_is_not_offered() {
        let c = Config::from_pairs(&[
            ("APP_PUBLIC_URL", "https://verify.example.com"),
            ("MC_API_BASE", "https://mc.example.net"),
            ("MC_CLIENT_ID", "live-id"),
            ("MC_CLIENT_SECRET", "live-secret"),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert_eq!(c.backing(Operator::MobileConnect), Some(Backing::Live));
        assert_eq!(c.backing(Operator::Vonage), None);
        assert!(!c.sandbox_backed(Operator::MobileConnect) && !c.sandbox_backed(Operator::Vonage));
    }

    /// A virtual operator in another process (`SANDBOX=only`), reached with its published
    /// credentials, is still the virtual operator: its results are test results.
    #[test]
    fn the_published_test_credentials_mark_a_remote_virtual_operator() {
        let c = Config::from_pairs(&[
            ("MC_API_BASE", "http://127.0.0.1:4000/sandbox"),
            ("MC_CLIENT_ID", credentials::MC_CLIENT_ID),
            ("MC_CLIENT_SECRET", credentials::MC_CLIENT_SECRET),
            ("VONAGE_API_BASE", "http://127.0.0.1:4000/sandbox"),
            ("VONAGE_APPLICATION_ID", credentials::VONAGE_APPLICATION_ID),
            ("VONAGE_PRIVATE_KEY", KEY),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert_eq!(c.backing(Operator::MobileConnect), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Operator::Vonage), Some(Backing::VirtualOperator));
    }

    /// Secrets and tokens go to the operator base URLs: https, or http only on loopback.
    #[test]
    fn live_operator_urls_must_be_https_except_on_loopback() {
        let mc = |base: &str| {
            let map: std::collections::HashMap<&str, &str> = [
                ("MC_API_BASE", base),
                ("MC_CLIENT_ID", "id"),
                ("MC_CLIENT_SECRET", "s3cret"),
            ]
            .into();
            Config::from_lookup(|k| map.get(k).map(|v| v.to_string()))
        };
        let vg = |base: &str| {
            let map: std::collections::HashMap<&str, &str> = [
                ("VONAGE_API_BASE", base),
                ("VONAGE_APPLICATION_ID", "app"),
                ("VONAGE_PRIVATE_KEY", KEY),
            ]
            .into();
            Config::from_lookup(|k| map.get(k).map(|v| v.to_string()))
        };
        for bad in [
            "http://operator.example",
            "http://operator.example/api",
            "http://10.0.0.5:8080",
            "http://localhost.operator.example",
            "https://user:pass@operator.example",
        ] {
            let err = mc(bad).expect_err(bad);
            assert_eq!(err.variable, "MC_API_BASE", "{bad}: {err}");
            assert!(!err.to_string().contains("pass@"), "{err}");
            let err = vg(bad).expect_err(bad);
            assert_eq!(err.variable, "VONAGE_API_BASE", "{bad}: {err}");
        }
        let err = mc("http://operator.example").unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        for good in [
            "https://operator.example/api",
            "http://127.0.0.1:9000/sandbox",
            "http://[::1]:9000",
            "http://localhost:9000",
        ] {
            assert!(mc(good).is_ok(), "{good}: {:?}", mc(good).err());
            assert!(vg(good).is_ok(), "{good}: {:?}", vg(good).err());
        }
    }
}

// id_token keys and VONAGE_JWT expiry.
mod operator_tokens {
    use super::*;

    /// An unsigned JWT with these claims: the expiry check reads claims only.
    fn jwt(claims: serde_json::Value) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn vonage_with(token: &str) -> Result<Config, ConfigError> {
        Config::from_pairs(&[
            ("VONAGE_API_BASE", "https://api.example.com"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_JWT", token),
        ])
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn the_mounted_virtual_operator_is_the_default_jwks() {
        let mc = Config::from_pairs(&[]).unwrap().mobile_connect.unwrap();
        assert_eq!(
            mc.jwks_url.unwrap().as_str(),
            "http://127.0.0.1:3000/sandbox/.well-known/jwks.json"
        );
        let mc = Config::from_pairs(&[("MC_JWKS_URL", "http://localhost:9/keys")])
            .unwrap()
            .mobile_connect
            .unwrap();
        assert_eq!(mc.jwks_url.unwrap().as_str(), "http://localhost:9/keys");
    }

    #[test]
    fn mc_jwks_url_is_optional_for_a_live_operator_and_must_be_https() {
        let live = [
            ("MC_API_BASE", "https://mc.example"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "s"),
        ];
        assert_eq!(
            Config::from_pairs(&live).unwrap().mobile_connect.unwrap().jwks_url,
            None
        );
        let with = |url: &'static str| {
            let mut vars = live.to_vec();
            vars.push(("MC_JWKS_URL", url));
            Config::from_pairs(&vars)
        };
        let mc = with("https://mc.example/jwks").unwrap().mobile_connect.unwrap();
        assert_eq!(mc.jwks_url.unwrap().as_str(), "https://mc.example/jwks");
        for bad in ["http://mc.example/jwks", "not a url", "ftp://mc.example/jwks"] {
            assert_eq!(with(bad).unwrap_err().variable, "MC_JWKS_URL", "{bad}");
        }
    }

    #[test]
    fn vonage_jwt_must_live_five_more_minutes() {
        let now = unix_now();
        let ok = jwt(serde_json::json!({"iat": now, "exp": now + 3600}));
        assert!(matches!(
            vonage_with(&ok).unwrap().vonage.unwrap().credentials,
            VonageCredentials::Jwt { ref jwt, .. } if jwt.secret() == ok
        ));
        let cases = [
            (jwt(serde_json::json!({"exp": now - 10})), "expired"),
            (jwt(serde_json::json!({"exp": now + 299})), "less than 5 minutes"),
            // No exp: Vonage's 15 minutes after iat.
            (jwt(serde_json::json!({"iat": now - 900})), "expired"),
            (jwt(serde_json::json!({"iat": now - 700})), "less than 5 minutes"),
            (jwt(serde_json::json!({"sub": "x"})), "neither exp nor iat"),
            (jwt(serde_json::json!({"exp": "soon"})), "not a number"),
            ("abc.def".to_owned(), "not a JWT"),
            ("a.!!!.c".to_owned(), "not a JWT"),
        ];
        for (token, reason) in cases {
            let err = vonage_with(&token).unwrap_err();
            assert_eq!(err.variable, "VONAGE_JWT", "{err}");
            assert!(err.reason.contains(reason), "{reason}: {err}");
            assert!(!err.to_string().contains(&token), "the token is never repeated");
        }
        assert!(vonage_with(&jwt(serde_json::json!({"iat": now - 500}))).is_ok());
    }
}

mod camara_profiles {
    use super::*;

    const CLIENT_KEY: &str = include_str!("../../sandbox-keys/camara-client-private.pem");
    const RSA_KEY: &str = include_str!("../../sandbox-keys/vonage-sandbox-private.pem");

    fn live_standard() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CAMARA_ISSUER", "https://op.example/oidc"),
            ("CAMARA_API_ROOT", "https://api.op.example"),
            ("CAMARA_CLIENT_ID", "client-1"),
            ("CAMARA_CLIENT_KEY", CLIENT_KEY),
            ("CAMARA_CLIENT_KEY_ID", "kid-1"),
        ]
    }

    /// The phone-number credential: the virtual operator's in sandbox mode; live, both
    /// `TS43_*` or neither, the anchors a readable PEM.
    #[test]
    fn the_credential_path_needs_its_aggregator_and_anchors() {
        let c = Config::from_pairs(&[]).unwrap();
        let ts43 = c.camara_standard.unwrap().ts43.expect("the virtual operator's");
        assert_eq!(
            ts43.credentials_url.as_str(),
            "http://127.0.0.1:3000/sandbox/openid4vp/credentials"
        );
        let mut vars = live_standard();
        assert!(Config::from_pairs(&vars)
            .unwrap()
            .camara_standard
            .unwrap()
            .ts43
            .is_none());
        vars.push((
            "TS43_CREDENTIALS_URL",
            "https://aggregator.example/openid4vp/credentials",
        ));
        assert_eq!(Config::from_pairs(&vars).unwrap_err().variable, "TS43_TRUST_ANCHORS");
        vars.push(("TS43_TRUST_ANCHORS", "/nonexistent/anchors.pem"));
        let err = Config::from_pairs(&vars).unwrap_err();
        assert!(
            err.variable == "TS43_TRUST_ANCHORS" && err.to_string().contains("cannot read"),
            "{err}"
        );
        vars.pop();
        vars.push((
            "TS43_TRUST_ANCHORS",
            "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----",
        ));
        assert_eq!(Config::from_pairs(&vars).unwrap_err().variable, "TS43_TRUST_ANCHORS");
        vars.pop();
        vars.push(("TS43_TRUST_ANCHORS", credentials::TS43_SANDBOX_CA));
        assert!(Config::from_pairs(&vars)
            .unwrap()
            .camara_standard
            .unwrap()
            .ts43
            .is_some());
        let mut only_anchors = live_standard();
        only_anchors.push(("TS43_TRUST_ANCHORS", credentials::TS43_SANDBOX_CA));
        assert_eq!(
            Config::from_pairs(&only_anchors).unwrap_err().variable,
            "TS43_CREDENTIALS_URL"
        );
    }

    #[test]
    fn the_sandbox_offers_both_profiles_and_camara_means_vonage_by_default() {
        let c = Config::from_pairs(&[]).unwrap();
        assert_eq!(c.camara_profile, CamaraProfile::Vonage);
        assert_eq!(c.camara_profile.operator(), Operator::Vonage);
        let standard = c.camara_standard.as_ref().unwrap();
        assert_eq!(standard.issuer.as_str(), "http://127.0.0.1:3000/sandbox/camara/v2");
        assert_eq!(standard.api_root.as_str(), "http://127.0.0.1:3000/sandbox/camara/v2");
        assert_eq!(standard.client_id, credentials::CAMARA_CLIENT_ID);
        assert_eq!(standard.client_key.alg(), jsonwebtoken::Algorithm::ES256);
        assert!(standard.issuer_in_process, "the mounted operator is read at first use");
        assert_eq!(c.backing(Operator::CamaraStandard), Some(Backing::VirtualOperator));

        let c = Config::from_pairs(&[("CAMARA_PROFILE", "standard"), ("CAMARA_HASHED", "true")]).unwrap();
        assert_eq!(c.camara_profile, CamaraProfile::Standard);
        assert_eq!(c.camara_profile.operator(), Operator::CamaraStandard);
        assert!(c.camara_standard.unwrap().hashed);
    }

    #[test]
    fn a_live_standard_operator_turns_the_sandbox_off_and_is_what_camara_means() {
        let c = Config::from_pairs(&live_standard()).unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert!(c.mobile_connect.is_none() && c.vonage.is_none());
        assert_eq!(c.camara_profile, CamaraProfile::Standard, "the only CAMARA configured");
        let standard = c.camara_standard.as_ref().unwrap();
        assert!(!standard.issuer_in_process);
        assert_eq!(c.backing(c.camara_profile.operator()), Some(Backing::Live));
        // An RSA key signs RS256 assertions.
        let mut vars = live_standard();
        vars[3] = ("CAMARA_CLIENT_KEY", RSA_KEY);
        assert_eq!(
            Config::from_pairs(&vars)
                .unwrap()
                .camara_standard
                .unwrap()
                .client_key
                .alg(),
            jsonwebtoken::Algorithm::RS256
        );
    }

    #[test]
    fn each_missing_or_bad_camara_variable_is_named() {
        for missing in 0..5 {
            let mut vars = live_standard();
            let (name, _) = vars.remove(missing);
            let err = Config::from_pairs(&vars).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
        }
        let cases: [(&str, &str, &str); 4] = [
            ("CAMARA_ISSUER", "http://op.example/oidc", "https://"),
            ("CAMARA_API_ROOT", "not a url", "not a URL"),
            (
                "CAMARA_CLIENT_KEY",
                "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----",
                "P-256",
            ),
            ("CAMARA_CLIENT_KEY", "/nonexistent/key.pem", "cannot read"),
        ];
        for (name, value, says) in cases {
            let mut vars = live_standard();
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
            let err = Config::from_pairs(&vars).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn camara_profile_must_name_a_configured_profile() {
        let err = Config::from_pairs(&[("CAMARA_PROFILE", "camara2")]).unwrap_err();
        assert_eq!(err.variable, "CAMARA_PROFILE");
        let vonage_only = [
            ("VONAGE_API_BASE", "https://vg.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", RSA_KEY),
            ("CAMARA_PROFILE", "standard"),
        ];
        let err = Config::from_pairs(&vonage_only).unwrap_err();
        assert_eq!(err.variable, "CAMARA_PROFILE");
        assert!(err.to_string().contains("CAMARA_ISSUER"), "{err}");
        let mut both = live_standard();
        both.extend_from_slice(&vonage_only[..3]);
        assert_eq!(
            Config::from_pairs(&both).unwrap().camara_profile,
            CamaraProfile::Vonage,
            "the default"
        );
    }
}

mod session_keys {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn live_with_redis(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![
            ("MC_API_BASE", "https://mc.example"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "s"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ];
        vars.extend_from_slice(extra);
        Config::from_pairs(&vars)
    }

    #[test]
    fn a_live_deployment_on_redis_needs_them() {
        let err = live_with_redis(&[]).unwrap_err();
        assert_eq!(err.variable, "SESSION_KEYS", "{err}");
        let keys = live_with_redis(&[(
            "SESSION_KEYS",
            "0123456789abcdef0123456789abcdef, fedcba9876543210fedcba9876543210",
        )])
        .unwrap()
        .session_keys;
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].secret(), KEY, "the current key first");
        let mut cluster = vec![
            ("MC_API_BASE", "https://mc.example"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "s"),
            ("REDIS_CLUSTER_URLS", "redis://10.0.0.1:6379, redis://10.0.0.2:6379"),
        ];
        let err = Config::from_pairs(&cluster).unwrap_err();
        assert_eq!(err.variable, "SESSION_KEYS", "a cluster too: {err}");
        cluster.push(("SESSION_KEYS", KEY));
        match Config::from_pairs(&cluster).unwrap().redis {
            Some(crate::config::RedisAddress::Cluster(seeds)) => {
                let seeds: Vec<&str> = seeds.iter().map(|s| s.secret()).collect();
                assert_eq!(seeds, ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
            }
            other => panic!("{other:?}"),
        }
        // The virtual operator's deployments and a single process may share the store's.
        assert!(Config::from_pairs(&[("REDIS_URL", "redis://127.0.0.1:6379")]).is_ok());
        assert!(Config::from_pairs(&[
            ("MC_API_BASE", "https://mc.example"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "s"),
        ])
        .is_ok());
    }

    #[test]
    fn a_short_key_is_named_by_position_never_quoted() {
        let err = Config::from_pairs(&[("SESSION_KEYS", "0123456789abcdef0123456789abcdef,short-secret")]).unwrap_err();
        assert_eq!(err.variable, "SESSION_KEYS");
        assert!(err.reason.contains("key 2"), "{err}");
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }
}

#[test]
fn trusted_proxies_are_ranges_or_addresses_and_connection_limits_have_defaults() {
    let config = Config::from_pairs(&[("TRUSTED_PROXIES", " 10.1.2.3/8 , 2001:db8::1, 192.0.2.7 ")]).unwrap();
    let shown: Vec<String> = config.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(shown, ["10.0.0.0/8", "2001:db8::1/128", "192.0.2.7/32"]);
    assert_eq!(
        (config.max_connections, config.max_connections_per_client),
        (10_000, 1_000)
    );
    let unset = Config::from_pairs(&[]).unwrap();
    assert!(unset.trusted_proxies.is_empty());
    let error = Config::from_pairs(&[("TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")]).unwrap_err();
    assert!(error.reason.contains("“proxy.example”"), "{error}");
}

#[test]
fn only_auto_restricts_the_virtual_operator_to_this_machine() {
    let local_only = |vars: &[(&str, &str)]| Config::from_pairs(vars).unwrap().sandbox_local_only;
    assert!(local_only(&[]));
    assert!(local_only(&[("SANDBOX", "AUTO")]));
    assert!(!local_only(&[("SANDBOX", "on")]));
    assert!(!local_only(&[
        ("SANDBOX", "only"),
        ("SANDBOX_REDIRECT_URIS", "https://x.example/callback")
    ]));
}

#[test]
fn the_openid_provider_is_on_in_sandbox_mode_and_each_bad_setting_is_named() {
    let sandbox = Config::from_pairs(&[]).unwrap();
    let oidc = sandbox.oidc.expect("the provider is on in sandbox mode");
    assert!(oidc.sandbox);
    assert_eq!(oidc.keys.current_kid(), "nv-sandbox-oidc-1");
    assert!(oidc.clients.get("nv-demo-rp").is_some());
    assert_eq!(oidc.code_ttl, Duration::from_secs(60));

    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys");
    let new = format!("new={keys}/oidc-provider-sandbox-1.pem,old={keys}/mc-id-token-ec-1.pem");
    let rotated = Config::from_pairs(&[("OIDC_SIGNING_KEYS", &new)])
        .unwrap()
        .oidc
        .unwrap();
    assert_eq!(rotated.keys.current_kid(), "new");
    assert_eq!(rotated.keys.jwks().keys.len(), 2);
    assert!(!rotated.sandbox);

    let unnamed = format!("{keys}/oidc-provider-sandbox-1.pem");
    let thumbprinted = Config::from_pairs(&[("OIDC_SIGNING_KEYS", &unnamed)])
        .unwrap()
        .oidc
        .unwrap();
    assert_eq!(thumbprinted.keys.current_kid().len(), 43, "an RFC 7638 thumbprint");

    let live = [
        ("APP_PUBLIC_URL", "https://verify.example.com"),
        ("MC_API_BASE", "https://mc.operator.example/api"),
        ("MC_CLIENT_ID", "id"),
        ("MC_CLIENT_SECRET", "secret"),
    ];
    assert!(
        Config::from_pairs(&live).unwrap().oidc.is_none(),
        "off live without keys"
    );
    let with = |extra: &[(&'static str, &str)]| {
        let mut vars: Vec<(&str, &str)> = live.to_vec();
        vars.extend_from_slice(extra);
        Config::from_pairs(&vars)
    };
    let key_path = format!("k1={keys}/oidc-provider-sandbox-1.pem");
    let subject = ("OIDC_SUBJECT_KEY", "0123456789abcdef0123456789abcdef");
    assert!(with(&[("OIDC_SIGNING_KEYS", &key_path), subject])
        .unwrap()
        .oidc
        .is_some());
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("RELYING_PARTIES", "clients.toml")], "OIDC_SIGNING_KEYS"),
        (vec![("OIDC_SIGNING_KEYS", &key_path)], "OIDC_SUBJECT_KEY"),
        (
            vec![("OIDC_SIGNING_KEYS", &key_path), ("OIDC_SUBJECT_KEY", "short")],
            "OIDC_SUBJECT_KEY",
        ),
        (
            vec![("OIDC_SIGNING_KEYS", "k1=/no/such/key.pem"), subject],
            "OIDC_SIGNING_KEYS",
        ),
        (
            vec![
                (
                    "OIDC_SIGNING_KEYS",
                    "k1=-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----",
                ),
                subject,
            ],
            "OIDC_SIGNING_KEYS",
        ),
        (
            vec![
                ("OIDC_SIGNING_KEYS", &key_path),
                subject,
                ("RELYING_PARTIES", "/no/such/clients.toml"),
            ],
            "RELYING_PARTIES",
        ),
        (
            vec![
                ("OIDC_SIGNING_KEYS", &key_path),
                subject,
                ("RELYING_PARTIES", "clients.yaml"),
            ],
            "RELYING_PARTIES",
        ),
        (
            vec![
                ("OIDC_SIGNING_KEYS", &key_path),
                subject,
                ("RELYING_PARTIES", "{\"clients\": [{\"id\": \"a\"}]}"),
            ],
            "RELYING_PARTIES",
        ),
        (
            vec![
                ("OIDC_SIGNING_KEYS", &key_path),
                subject,
                ("OIDC_CODE_TTL_SECONDS", "600"),
            ],
            "OIDC_CODE_TTL_SECONDS",
        ),
    ];
    for (extra, expected) in cases {
        let err = with(&extra).expect_err(&format!("{extra:?} must be refused"));
        assert_eq!(err.variable, expected, "{extra:?}: {err}");
    }
    // Twice the same kid.
    let twice = format!("{key_path},{key_path}");
    assert_eq!(
        with(&[("OIDC_SIGNING_KEYS", &twice), subject]).unwrap_err().variable,
        "OIDC_SIGNING_KEYS"
    );
}

#[test]
fn metrics_listen_apart_from_the_page() {
    let c = Config::from_pairs(&[("SANDBOX", "on")]).unwrap();
    assert_eq!(c.metrics_addr, None, "no metrics listener unless asked for");
    let c = Config::from_pairs(&[("SANDBOX", "on"), ("METRICS_ADDR", "127.0.0.1:9090")]).unwrap();
    assert_eq!(c.metrics_addr, Some("127.0.0.1:9090".parse().unwrap()));
    let e = Config::from_pairs(&[("SANDBOX", "on"), ("METRICS_ADDR", "127.0.0.1:3000")]).unwrap_err();
    assert!(e.reason.contains("public port"), "{e}");
}

mod events {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn neither_is_no_events_and_both_configure_them() {
        assert!(Config::from_pairs(&[]).unwrap().events.is_none());
        let events = Config::from_pairs(&[
            ("EVENTS_URL", "https://hooks.example.com/number-verify/"),
            ("EVENTS_SECRET", SECRET),
        ])
        .unwrap()
        .events
        .unwrap();
        assert_eq!(events.url.as_str(), "https://hooks.example.com/number-verify");
        assert_eq!(events.secret.secret(), SECRET);
        let local = Config::from_pairs(&[("EVENTS_URL", "http://127.0.0.1:9000/e"), ("EVENTS_SECRET", SECRET)])
            .unwrap()
            .events
            .unwrap();
        assert_eq!(local.url.as_str(), "http://127.0.0.1:9000/e", "http on loopback");
        let shown = format!(
            "{:?}",
            Config::from_pairs(&[("EVENTS_URL", "https://h.example"), ("EVENTS_SECRET", SECRET)])
        );
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn one_without_the_other_names_both() {
        for (vars, named) in [
            ([("EVENTS_URL", "https://hooks.example.com")], "EVENTS_SECRET"),
            ([("EVENTS_SECRET", SECRET)], "EVENTS_URL"),
        ] {
            let err = Config::from_pairs(&vars).unwrap_err();
            assert_eq!(err.variable, named, "{err}");
            let text = err.to_string();
            assert!(text.contains("EVENTS_URL") && text.contains("EVENTS_SECRET"), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }

    #[test]
    fn a_bad_url_or_short_secret_is_named_and_never_quoted() {
        for url in [
            "http://hooks.example.com/e",
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://user:pw@hooks.example.com",
            "https://hooks.example.com/e?token=1",
        ] {
            let err = Config::from_pairs(&[("EVENTS_URL", url), ("EVENTS_SECRET", SECRET)]).unwrap_err();
            assert_eq!(err.variable, "EVENTS_URL", "{url}: {err}");
        }
        let short = "a-31-byte-secret-is-one-too-few";
        assert_eq!(short.len(), 31);
        let err =
            Config::from_pairs(&[("EVENTS_URL", "https://hooks.example.com"), ("EVENTS_SECRET", short)]).unwrap_err();
        assert_eq!(err.variable, "EVENTS_SECRET");
        assert!(err.reason.contains("32"), "{err}");
        assert!(!err.to_string().contains(short), "{err}");
    }
}

/// A live deployment (Mobile Connect) plus `extra`.
fn live_with<'a>(extra: &[(&'a str, &'a str)]) -> Result<Config, ConfigError> {
    let mut vars = vec![
        ("APP_PUBLIC_URL", "https://verify.example.com"),
        ("MC_API_BASE", "https://mc.example.net/api"),
        ("MC_CLIENT_ID", "id"),
        ("MC_CLIENT_SECRET", "s3cret"),
    ];
    vars.extend_from_slice(extra);
    Config::from_pairs(&vars)
}

const VONAGE_SMS_VARS: [(&str, &str); 3] = [
    ("VONAGE_API_KEY", "a1b2c3d4"),
    ("VONAGE_API_SECRET", "sms-s3cret-value"),
    ("SMS_FROM", "Acme"),
];
const HOOK_SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn the_virtual_gateway_sends_codes_to_test_numbers_when_mounted() {
    use crate::operators::sms::SmsSenderSettings;
    let phone = |n: &str| crate::phone::normalise(n).unwrap();
    let sms = Config::from_pairs(&[])
        .unwrap()
        .sms
        .expect("on with the virtual operator");
    assert_eq!(sms.backing(), Backing::VirtualOperator);
    let SmsSenderSettings::VirtualGateway(gateway) = &sms.sender else {
        panic!("{:?}", sms.sender)
    };
    assert_eq!(gateway.api_base.as_str(), "http://127.0.0.1:3000/sandbox");
    assert_eq!(gateway.api_key, crate::sandbox_contract::credentials::SMS_API_KEY);
    assert_eq!(sms.countries.to_string(), "ZZ");
    assert!(sms.countries.allows(&phone("+99012345678")));
    assert!(!sms.countries.allows(&phone("+447700900123")));

    // Listed countries come on top of the test numbers.
    let sms = Config::from_pairs(&[("SMS_COUNTRIES", "GB")]).unwrap().sms.unwrap();
    assert_eq!(sms.countries.to_string(), "GB,ZZ");

    // Alone, the virtual operator is the gateway and sends nothing.
    let c = Config::from_pairs(&[
        ("SANDBOX", "only"),
        ("SANDBOX_REDIRECT_URIS", "http://127.0.0.1:3000/callback"),
    ])
    .unwrap();
    assert!(c.sms.is_none());
}

#[test]
fn live_sms_needs_a_sender_and_its_countries() {
    use crate::operators::sms::SmsSenderSettings;
    // Nothing SMS set: no channel.
    assert!(live_with(&[]).unwrap().sms.is_none());

    // A sender without SMS_COUNTRIES: off (with a warning), never open to every country.
    assert!(live_with(&VONAGE_SMS_VARS).unwrap().sms.is_none());

    let mut vars = VONAGE_SMS_VARS.to_vec();
    vars.push(("SMS_COUNTRIES", "GB,FR"));
    let c = live_with(&vars).unwrap();
    let sms = c.sms.as_ref().unwrap();
    assert_eq!(sms.backing(), Backing::Live);
    assert_eq!(sms.countries.to_string(), "FR,GB");
    let SmsSenderSettings::Vonage(vonage) = &sms.sender else {
        panic!("{:?}", sms.sender)
    };
    assert_eq!(vonage.api_base.as_str(), "https://rest.nexmo.com/");
    assert_eq!((vonage.api_key.as_str(), vonage.from.as_str()), ("a1b2c3d4", "Acme"));
    assert!(
        !format!("{c:?}").contains("sms-s3cret-value"),
        "the secret stays out of Debug"
    );

    let c = live_with(&[
        ("OTP_HOOK_URL", "https://hooks.example.com/otp"),
        ("OTP_HOOK_SECRET", HOOK_SECRET),
        ("SMS_COUNTRIES", "DE"),
    ])
    .unwrap();
    let sms = c.sms.as_ref().unwrap();
    assert_eq!(sms.backing(), Backing::Live);
    let SmsSenderSettings::Hook(hook) = &sms.sender else {
        panic!("{:?}", sms.sender)
    };
    assert_eq!(hook.url.as_str(), "https://hooks.example.com/otp");
    assert!(!format!("{c:?}").contains(HOOK_SECRET));

    // A live sender, even beside the mounted virtual operator, is live.
    let sms = Config::from_pairs(&[
        ("OTP_HOOK_URL", "http://127.0.0.1:9000/otp"),
        ("OTP_HOOK_SECRET", HOOK_SECRET),
    ])
    .unwrap()
    .sms;
    assert!(sms.is_none(), "no SMS_COUNTRIES: off");
}

#[test]
fn the_virtual_gateway_reached_by_url_is_a_test_sender() {
    use crate::sandbox_contract::credentials::{SMS_API_KEY, SMS_API_SECRET, SMS_FROM};
    let sms = live_with(&[
        ("VONAGE_SMS_API_BASE", "http://127.0.0.1:4000/sandbox"),
        ("VONAGE_API_KEY", SMS_API_KEY),
        ("VONAGE_API_SECRET", SMS_API_SECRET),
        ("SMS_FROM", SMS_FROM),
    ])
    .unwrap()
    .sms
    .expect("test numbers need no SMS_COUNTRIES");
    assert_eq!(sms.backing(), Backing::VirtualOperator);
    assert_eq!(sms.countries.to_string(), "ZZ");
}

/// Variables set, the one named in the error, a word of its reason.
type BadCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

#[test]
fn each_bad_sms_variable_is_named() {
    let cases: &[BadCase] = &[
        (&[("VONAGE_API_KEY", "a1b2c3d4")], "VONAGE_API_SECRET", "missing"),
        (&[("SMS_FROM", "Acme")], "VONAGE_API_KEY", "missing"),
        (
            &[("VONAGE_API_KEY", "a1b2c3d4"), ("VONAGE_API_SECRET", "s")],
            "SMS_FROM",
            "missing",
        ),
        (
            &[
                ("VONAGE_API_KEY", "a1b2c3d4"),
                ("VONAGE_API_SECRET", "s"),
                ("SMS_FROM", "Much Too Long A Name"),
            ],
            "SMS_FROM",
            "11 letters",
        ),
        (
            &[
                ("VONAGE_API_KEY", "a1b2 c3d4"),
                ("VONAGE_API_SECRET", "s"),
                ("SMS_FROM", "Acme"),
            ],
            "VONAGE_API_KEY",
            "not an API key",
        ),
        (
            &[("VONAGE_SMS_API_BASE", "http://sms.example.com")],
            "VONAGE_SMS_API_BASE",
            "",
        ),
        (&[("OTP_HOOK_SECRET", HOOK_SECRET)], "OTP_HOOK_URL", "missing"),
        (
            &[("OTP_HOOK_URL", "https://hooks.example.com/otp")],
            "OTP_HOOK_SECRET",
            "missing",
        ),
        (
            &[
                ("OTP_HOOK_URL", "https://hooks.example.com/otp"),
                ("OTP_HOOK_SECRET", "short"),
            ],
            "OTP_HOOK_SECRET",
            "32 bytes",
        ),
        (
            &[
                ("OTP_HOOK_URL", "http://hooks.example.com/otp"),
                ("OTP_HOOK_SECRET", HOOK_SECRET),
            ],
            "OTP_HOOK_URL",
            "",
        ),
        (
            &[
                ("OTP_HOOK_URL", "https://hooks.example.com/otp"),
                ("OTP_HOOK_SECRET", HOOK_SECRET),
                ("VONAGE_API_KEY", "a1b2c3d4"),
            ],
            "OTP_HOOK_URL",
            "choose one",
        ),
        (&[("SMS_COUNTRIES", "GB,XX")], "SMS_COUNTRIES", "“XX”"),
        (&[("SMS_COUNTRIES", "GB,,FR")], "SMS_COUNTRIES", "empty entry"),
        (&[("SMS_COUNTRIES", "UK")], "SMS_COUNTRIES", "“UK”"),
        (&[("SMS_COUNTRIES", "JE")], "SMS_COUNTRIES", "list GB"),
        (&[("SMS_COUNTRIES", "GB")], "SMS_COUNTRIES", "no SMS sender"),
    ];
    for (vars, variable, hint) in cases {
        let error = live_with(vars).unwrap_err();
        assert_eq!(error.variable, *variable, "{vars:?}: {error}");
        assert!(error.reason.contains(hint), "{vars:?}: {error}");
        assert!(!error.to_string().contains(HOOK_SECRET), "{error}");
    }
}
