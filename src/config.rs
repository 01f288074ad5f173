//! Environment → typed configuration, validated once at start-up.
//!
//! Every bad or missing variable is reported by name. Defaults point both protocols at
//! the virtual operator and its documented test credentials, so a laptop with no
//! configuration runs every flow end to end.

use std::{fmt, net::SocketAddr, time::Duration};

use url::Url;

use crate::phone::{normalise, E164};

/// The virtual operator's documented test client (README, "Virtual operator"). Public on
/// purpose: they only open the sandbox.
pub const SANDBOX_MC_CLIENT_ID: &str = "nv-sandbox-mc-client";
pub const SANDBOX_MC_CLIENT_SECRET: &str = "nv-sandbox-mc-secret";
pub const SANDBOX_VONAGE_APPLICATION_ID: &str = "5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const SANDBOX_VONAGE_PRIVATE_KEY: &str = include_str!("../sandbox-keys/vonage-sandbox-private.pem");
pub const SANDBOX_VONAGE_PUBLIC_KEY: &str = include_str!("../sandbox-keys/vonage-sandbox-public.pem");
pub const DEFAULT_SANDBOX_SIM: &str = "+99012345678";

/// A value that must never be printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxMode {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone)]
pub struct MobileConnectConfig {
    /// Base URL without trailing slash, e.g. `https://api.example-operator.com/mc`.
    pub api_base: String,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug, Clone)]
pub enum VonageCredentials {
    /// The app mints its own application JWT with this RSA private key (PEM).
    PrivateKey(Secret),
    /// A pre-made application JWT, used as is.
    Jwt(Secret),
}

#[derive(Debug, Clone)]
pub struct VonageConfig {
    pub api_base: String,
    pub application_id: String,
    pub credentials: VonageCredentials,
    /// Send `hashedPhoneNumber` instead of `phoneNumber` to `verify`.
    pub hashed: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub site_addr: SocketAddr,
    /// The origin people and operators reach, without trailing slash.
    pub public_url: String,
    /// Whether the virtual operator is mounted under `/sandbox`.
    pub sandbox: bool,
    pub sandbox_default_sim: E164,
    /// Extra redirect URIs the virtual operator accepts besides `{public_url}/callback`.
    pub sandbox_extra_redirect_uris: Vec<String>,
    pub mobile_connect: Option<MobileConnectConfig>,
    pub vonage: Option<VonageConfig>,
    pub operator_timeout: Duration,
    /// Verifications one client may start per minute (by IP address).
    pub rate_limit_per_minute: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry (set by a
    /// reverse proxy in front of the app) instead of the TCP peer.
    pub trust_proxy: bool,
}

impl Config {
    /// The one redirect URI for both protocols.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.public_url)
    }

    /// Reads the process environment (and `.env`, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty variable counts as unset: `.env` templates leave lines like `MC_CLIENT_ID=`.
        let var = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let site_addr = match var("LEPTOS_SITE_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "LEPTOS_SITE_ADDR",
                    format!("“{v}” is not an address like 127.0.0.1:3000"),
                )
            })?,
        };
        let public_url = match var("APP_PUBLIC_URL") {
            None => format!("http://{site_addr}"),
            Some(v) => parse_base_url("APP_PUBLIC_URL", &v, true)?,
        };

        let mode = match var("SANDBOX").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") => SandboxMode::Auto,
            Some("on" | "true" | "1") => SandboxMode::On,
            Some("off" | "false" | "0") => SandboxMode::Off,
            Some(other) => {
                return Err(ConfigError::new(
                    "SANDBOX",
                    format!("“{other}” is not one of auto, on, off"),
                ))
            }
        };
        let live_names = [
            "MC_API_BASE",
            "MC_CLIENT_ID",
            "MC_CLIENT_SECRET",
            "VONAGE_API_BASE",
            "VONAGE_APPLICATION_ID",
            "VONAGE_PRIVATE_KEY",
            "VONAGE_JWT",
        ];
        let any_live = live_names.iter().any(|n| var(n).is_some());
        let sandbox = match mode {
            SandboxMode::On => true,
            SandboxMode::Off => false,
            SandboxMode::Auto => !any_live,
        };
        let sandbox_base = format!("{public_url}/sandbox");

        let sandbox_default_sim = match var("SANDBOX_DEFAULT_SIM") {
            None => normalise(DEFAULT_SANDBOX_SIM).expect("the default SIM is a valid number"),
            Some(v) => normalise(&v).map_err(|e| ConfigError::new("SANDBOX_DEFAULT_SIM", e.to_string()))?,
        };
        let sandbox_extra_redirect_uris = match var("SANDBOX_REDIRECT_URIS") {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_base_url("SANDBOX_REDIRECT_URIS", s, false))
                .collect::<Result<_, _>>()?,
        };

        let mobile_connect =
            {
                let (base, id, secret) = (var("MC_API_BASE"), var("MC_CLIENT_ID"), var("MC_CLIENT_SECRET"));
                if base.is_none() && id.is_none() && secret.is_none() {
                    sandbox.then(|| MobileConnectConfig {
                        api_base: sandbox_base.clone(),
                        client_id: SANDBOX_MC_CLIENT_ID.into(),
                        client_secret: Secret::new(SANDBOX_MC_CLIENT_SECRET),
                    })
                } else {
                    let api_base = match base {
                        Some(b) => parse_base_url("MC_API_BASE", &b, false)?,
                        None if sandbox => sandbox_base.clone(),
                        None => return Err(ConfigError::missing("MC_API_BASE", "the Mobile Connect API base URL")),
                    };
                    Some(MobileConnectConfig {
                        api_base,
                        client_id: id
                            .ok_or_else(|| ConfigError::missing("MC_CLIENT_ID", "the Mobile Connect client id"))?,
                        client_secret: Secret::new(secret.ok_or_else(|| {
                            ConfigError::missing("MC_CLIENT_SECRET", "the Mobile Connect client secret")
                        })?),
                    })
                }
            };

        let hashed = parse_bool("CAMARA_HASHED", var("CAMARA_HASHED"))?;
        let vonage = {
            let (base, app, key, jwt) = (
                var("VONAGE_API_BASE"),
                var("VONAGE_APPLICATION_ID"),
                var("VONAGE_PRIVATE_KEY"),
                var("VONAGE_JWT"),
            );
            if base.is_none() && app.is_none() && key.is_none() && jwt.is_none() {
                sandbox.then(|| VonageConfig {
                    api_base: sandbox_base.clone(),
                    application_id: SANDBOX_VONAGE_APPLICATION_ID.into(),
                    credentials: VonageCredentials::PrivateKey(Secret::new(SANDBOX_VONAGE_PRIVATE_KEY)),
                    hashed,
                })
            } else {
                let api_base = match base {
                    Some(b) => parse_base_url("VONAGE_API_BASE", &b, false)?,
                    None if sandbox => sandbox_base.clone(),
                    None => return Err(ConfigError::missing("VONAGE_API_BASE", "the Vonage API base URL")),
                };
                let application_id =
                    app.ok_or_else(|| ConfigError::missing("VONAGE_APPLICATION_ID", "the Vonage application id"))?;
                let credentials = match (jwt, key) {
                    (Some(jwt), _) => VonageCredentials::Jwt(Secret::new(jwt)),
                    (None, Some(key)) => VonageCredentials::PrivateKey(Secret::new(read_private_key(&key)?)),
                    (None, None) => {
                        return Err(ConfigError::missing(
                            "VONAGE_PRIVATE_KEY",
                            "the Vonage application's private key (a file path or the PEM itself), or VONAGE_JWT",
                        ))
                    }
                };
                Some(VonageConfig {
                    api_base,
                    application_id,
                    credentials,
                    hashed,
                })
            }
        };

        if mobile_connect.is_none() && vonage.is_none() {
            return Err(ConfigError::new(
                "SANDBOX",
                "is off and no operator is configured: set MC_* or VONAGE_* variables, or SANDBOX=on".into(),
            ));
        }

        let operator_timeout = match var("OPERATOR_TIMEOUT_MS") {
            None => Duration::from_millis(10_000),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if (1..=120_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::new(
                        "OPERATOR_TIMEOUT_MS",
                        format!("“{v}” is not a number of milliseconds between 1 and 120000"),
                    ))
                }
            },
        };

        let rate_limit_per_minute = match var("RATE_LIMIT_PER_MINUTE") {
            None => 30,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError::new(
                        "RATE_LIMIT_PER_MINUTE",
                        format!("“{v}” is not a whole number between 1 and 1000000"),
                    ))
                }
            },
        };
        let trust_proxy = parse_bool("TRUST_PROXY", var("TRUST_PROXY"))?;

        Ok(Config {
            site_addr,
            public_url,
            sandbox,
            sandbox_default_sim,
            sandbox_extra_redirect_uris,
            mobile_connect,
            vonage,
            operator_timeout,
            rate_limit_per_minute,
            trust_proxy,
        })
    }
}

/// `true`/`false` (also 1/0, on/off, yes/no); unset is false.
fn parse_bool(name: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "off" | "no") => Ok(false),
        Some("true" | "1" | "on" | "yes") => Ok(true),
        Some(other) => Err(ConfigError::new(name, format!("“{other}” is not true or false"))),
    }
}

/// `VONAGE_PRIVATE_KEY` is either the PEM itself or a path to it.
fn read_private_key(value: &str) -> Result<String, ConfigError> {
    let pem = if value.contains("-----BEGIN") {
        // `.env` files often carry the PEM on one line with literal `\n`s.
        value.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| ConfigError::new("VONAGE_PRIVATE_KEY", format!("cannot read the key file “{value}”: {e}")))?
    };
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
        ConfigError::new(
            "VONAGE_PRIVATE_KEY",
            format!("is not an RSA private key in PEM form: {e}"),
        )
    })?;
    Ok(pem)
}

/// An http(s) URL, returned without trailing slash. An origin (`APP_PUBLIC_URL`) may not
/// carry a path, since `/callback` and `/sandbox` hang off it.
fn parse_base_url(name: &'static str, value: &str, origin_only: bool) -> Result<String, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(name, format!("“{value}” is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(name, format!("“{value}” is not an http(s) URL")));
    }
    if origin_only && url.path() != "/" {
        return Err(ConfigError::new(
            name,
            format!("“{value}” must be an origin like https://verify.example.com, without a path"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            name,
            format!("“{value}” must not have a query or fragment"),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A bad or missing variable, by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: String) -> Self {
        Self {
            variable,
            reason: reason.trim_start_matches(' ').to_owned(),
        }
    }
    fn missing(variable: &'static str, what: &str) -> Self {
        Self {
            variable,
            reason: format!("is missing: set it to {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_run_everything_against_the_sandbox() {
        let c = config(&[]).unwrap();
        assert!(c.sandbox);
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert_eq!(c.redirect_uri(), "http://127.0.0.1:3000/callback");
        let mc = c.mobile_connect.unwrap();
        assert_eq!(mc.api_base, "http://127.0.0.1:3000/sandbox");
        assert_eq!(mc.client_id, SANDBOX_MC_CLIENT_ID);
        let vg = c.vonage.unwrap();
        assert_eq!(vg.api_base, "http://127.0.0.1:3000/sandbox");
        assert!(!vg.hashed);
        assert_eq!(c.operator_timeout, Duration::from_secs(10));
        assert_eq!(c.sandbox_default_sim.as_str(), "+99012345678");
    }

    #[test]
    fn live_credentials_turn_the_sandbox_off() {
        let c = config(&[
            ("APP_PUBLIC_URL", "https://verify.example.com/"),
            ("MC_API_BASE", "https://mc.example.net/api/"),
            ("MC_CLIENT_ID", "id"),
            ("MC_CLIENT_SECRET", "s3cret"),
        ])
        .unwrap();
        assert!(!c.sandbox);
        assert!(c.vonage.is_none());
        assert_eq!(c.public_url, "https://verify.example.com");
        assert_eq!(
            c.mobile_connect.as_ref().unwrap().api_base,
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
            (&[("APP_PUBLIC_URL", "verify.example.com")], "APP_PUBLIC_URL"),
            (&[("APP_PUBLIC_URL", "https://x.example/app")], "APP_PUBLIC_URL"),
            (&[("SANDBOX", "maybe")], "SANDBOX"),
            (&[("SANDBOX", "off")], "SANDBOX"),
            (&[("SANDBOX_DEFAULT_SIM", "12")], "SANDBOX_DEFAULT_SIM"),
            (&[("OPERATOR_TIMEOUT_MS", "soon")], "OPERATOR_TIMEOUT_MS"),
            (&[("OPERATOR_TIMEOUT_MS", "0")], "OPERATOR_TIMEOUT_MS"),
            (&[("CAMARA_HASHED", "perhaps")], "CAMARA_HASHED"),
            (&[("RATE_LIMIT_PER_MINUTE", "0")], "RATE_LIMIT_PER_MINUTE"),
            (&[("RATE_LIMIT_PER_MINUTE", "lots")], "RATE_LIMIT_PER_MINUTE"),
            (&[("TRUST_PROXY", "sometimes")], "TRUST_PROXY"),
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
            let err = config(vars).expect_err(&format!("{vars:?} must be refused"));
            assert_eq!(err.variable, *expected, "{vars:?}: {err}");
            assert!(err.to_string().contains(expected));
        }
    }

    #[test]
    fn private_key_may_be_a_path_or_the_pem() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
        for key in [path.to_owned(), SANDBOX_VONAGE_PRIVATE_KEY.replace('\n', "\\n")] {
            let c = config(&[
                ("VONAGE_API_BASE", "https://x.example"),
                ("VONAGE_APPLICATION_ID", "app"),
                ("VONAGE_PRIVATE_KEY", &key),
                ("CAMARA_HASHED", "true"),
            ])
            .unwrap();
            let vg = c.vonage.unwrap();
            assert!(vg.hashed);
            assert!(
                matches!(vg.credentials, VonageCredentials::PrivateKey(ref k) if k.expose() == SANDBOX_VONAGE_PRIVATE_KEY)
            );
        }
    }
}
