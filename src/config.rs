//! Environment → typed configuration, validated once at start-up.
//!
//! Every bad or missing variable is reported by name. With no configuration, both
//! protocols point at the virtual operator mounted in this process (when the server is
//! built with it), with its documented test credentials, so a laptop runs every flow end
//! to end.

use std::{fmt, net::SocketAddr, time::Duration};

use url::Url;

use crate::phone::{normalise, E164};
#[cfg(feature = "sandbox")]
use crate::sandbox_shared::credentials;
use crate::sandbox_shared::DEFAULT_SANDBOX_SIM;

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

/// The app's one redirect URI, `{APP_PUBLIC_URL}/callback`, for both protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(Url);

impl RedirectUri {
    pub fn for_origin(public_url: &str) -> Self {
        Self(Url::parse(&format!("{public_url}/callback")).expect("APP_PUBLIC_URL was validated as an origin"))
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Where the virtual operator runs, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Not here: the app talks to the operators configured by `MC_*` / `VONAGE_*`.
    Off,
    /// Mounted under `/sandbox` beside the app (`SANDBOX=on`, or `auto` with no live
    /// credentials); operators not configured otherwise use it.
    Mounted,
    /// This process is the virtual operator alone (`SANDBOX=only`): `/sandbox/…` and
    /// `/healthz`, no page and no API.
    Only,
}

#[derive(Debug, Clone)]
pub struct MobileConnectConfig {
    /// Base URL, e.g. `https://api.example-operator.com/mc`; endpoints hang off it.
    pub api_base: Url,
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
    pub api_base: Url,
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
    pub sandbox: SandboxMode,
    pub sandbox_default_sim: E164,
    /// `SANDBOX_REDIRECT_URIS`: mounted, extra redirect URIs the virtual operator accepts
    /// besides `{public_url}/callback`; alone, exactly its registered redirect URIs (the
    /// first is the Vonage application's).
    pub sandbox_redirect_uris: Vec<String>,
    pub mobile_connect: Option<MobileConnectConfig>,
    pub vonage: Option<VonageConfig>,
    pub operator_timeout: Duration,
    /// Verifications one client may start per minute (by IP address).
    pub rate_limit_per_minute: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry (set by a
    /// reverse proxy in front of the app) instead of the TCP peer.
    pub trust_proxy: bool,
    /// `REDIS_URL`: the shared store; `None` keeps state in this process's memory. A
    /// secret: the URL may carry a password.
    pub redis_url: Option<Secret>,
    /// `REDIS_PREFIX`: the start of every key this app writes.
    pub redis_prefix: String,
    /// `SHUTDOWN_GRACE_MS`: how long requests in flight may finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
}

/// The variables that configure a live operator.
const LIVE_NAMES: [&str; 7] = [
    "MC_API_BASE",
    "MC_CLIENT_ID",
    "MC_CLIENT_SECRET",
    "VONAGE_API_BASE",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_JWT",
];

impl Config {
    /// The one redirect URI for both protocols.
    pub fn redirect_uri(&self) -> RedirectUri {
        RedirectUri::for_origin(&self.public_url)
    }

    /// Where the virtual operator is reachable from outside, in either sandbox mode.
    pub fn sandbox_public_base(&self) -> String {
        format!("{}{}", self.public_url, crate::sandbox_shared::MOUNT)
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
            Some(v) => parse_base_url("APP_PUBLIC_URL", &v, true)?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        };

        let any_live = LIVE_NAMES.iter().any(|n| var(n).is_some());
        let sandbox = sandbox_mode(var("SANDBOX"), any_live)?;
        let sandbox_base = Url::parse(&format!("{public_url}{}", crate::sandbox_shared::MOUNT))
            .expect("an origin with a path is a URL");

        let sandbox_default_sim = match var("SANDBOX_DEFAULT_SIM") {
            None => normalise(DEFAULT_SANDBOX_SIM).expect("the default SIM is a valid number"),
            Some(v) => normalise(&v).map_err(|e| ConfigError::new("SANDBOX_DEFAULT_SIM", e.to_string()))?,
        };
        let sandbox_redirect_uris: Vec<String> = match var("SANDBOX_REDIRECT_URIS") {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| parse_base_url("SANDBOX_REDIRECT_URIS", s, false).map(|u| u.to_string()))
                .collect::<Result<_, _>>()?,
        };
        if sandbox == SandboxMode::Only && sandbox_redirect_uris.is_empty() {
            return Err(ConfigError::missing(
                "SANDBOX_REDIRECT_URIS",
                "the app's callback URL(s), comma-separated, e.g. https://verify.example.com/callback (SANDBOX=only)",
            ));
        }

        // Alone, the virtual operator talks to no operator itself.
        let mounted = (sandbox == SandboxMode::Mounted).then_some(&sandbox_base);
        let (mobile_connect, vonage) = match sandbox {
            SandboxMode::Only => (None, None),
            _ => (mobile_connect_config(&var, mounted)?, vonage_config(&var, mounted)?),
        };
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
        let redis_url = var("REDIS_URL").map(|v| parse_redis_url(&v)).transpose()?;
        let redis_prefix = match var("REDIS_PREFIX") {
            None => "nv:".to_owned(),
            Some(v) if v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()) => v,
            Some(_) => {
                return Err(ConfigError::new(
                    "REDIS_PREFIX",
                    "must be at most 64 visible ASCII characters, e.g. nv:".into(),
                ))
            }
        };
        let shutdown_grace = match var("SHUTDOWN_GRACE_MS") {
            None => Duration::from_millis(10_000),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms <= 600_000 => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::new(
                        "SHUTDOWN_GRACE_MS",
                        format!("“{v}” is not a number of milliseconds between 0 and 600000"),
                    ))
                }
            },
        };
        // Checked last: a misspelt variable above is the likelier cause, and named first.
        if sandbox != SandboxMode::Only && mobile_connect.is_none() && vonage.is_none() {
            let reason = if cfg!(feature = "sandbox") {
                "is off and no operator is configured: set MC_* or VONAGE_* variables, or SANDBOX=on"
            } else {
                "has no virtual operator in this build and no operator is configured: set MC_* or VONAGE_* variables"
            };
            return Err(ConfigError::new("SANDBOX", reason.into()));
        }

        Ok(Config {
            site_addr,
            public_url,
            sandbox,
            sandbox_default_sim,
            sandbox_redirect_uris,
            mobile_connect,
            vonage,
            operator_timeout,
            rate_limit_per_minute,
            trust_proxy,
            redis_url,
            redis_prefix,
            shutdown_grace,
        })
    }
}

/// `SANDBOX`: auto (the default), on, off, only. A server built without the virtual
/// operator refuses on and only, saying so.
fn sandbox_mode(value: Option<String>, any_live: bool) -> Result<SandboxMode, ConfigError> {
    let wanted = match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") if any_live => SandboxMode::Off,
        None | Some("auto") if !cfg!(feature = "sandbox") => SandboxMode::Off,
        None | Some("auto") => SandboxMode::Mounted,
        Some("on" | "true" | "1") => SandboxMode::Mounted,
        Some("off" | "false" | "0") => SandboxMode::Off,
        Some("only") => SandboxMode::Only,
        Some(other) => {
            return Err(ConfigError::new(
                "SANDBOX",
                format!("“{other}” is not one of auto, on, off, only"),
            ))
        }
    };
    if wanted != SandboxMode::Off && !cfg!(feature = "sandbox") {
        return Err(ConfigError::new(
            "SANDBOX",
            "asks for the virtual operator, but this server was built without one (cargo feature \"sandbox\"): \
             rebuild with default features, or set SANDBOX=off and configure a live operator"
                .into(),
        ));
    }
    Ok(wanted)
}

/// Mobile Connect from `MC_*`; with none set, the mounted virtual operator (if any).
fn mobile_connect_config(
    var: &impl Fn(&str) -> Option<String>,
    sandbox_base: Option<&Url>,
) -> Result<Option<MobileConnectConfig>, ConfigError> {
    let (base, id, secret) = (var("MC_API_BASE"), var("MC_CLIENT_ID"), var("MC_CLIENT_SECRET"));
    if base.is_none() && id.is_none() && secret.is_none() {
        return Ok(sandbox_base.map(sandbox_mobile_connect));
    }
    let api_base = match (base, sandbox_base) {
        (Some(b), _) => parse_base_url("MC_API_BASE", &b, false)?,
        (None, Some(sandbox)) => sandbox.clone(),
        (None, None) => return Err(ConfigError::missing("MC_API_BASE", "the Mobile Connect API base URL")),
    };
    Ok(Some(MobileConnectConfig {
        api_base,
        client_id: id.ok_or_else(|| ConfigError::missing("MC_CLIENT_ID", "the Mobile Connect client id"))?,
        client_secret: Secret::new(
            secret.ok_or_else(|| ConfigError::missing("MC_CLIENT_SECRET", "the Mobile Connect client secret"))?,
        ),
    }))
}

/// Vonage from `VONAGE_*`; with none set, the mounted virtual operator (if any).
fn vonage_config(
    var: &impl Fn(&str) -> Option<String>,
    sandbox_base: Option<&Url>,
) -> Result<Option<VonageConfig>, ConfigError> {
    let hashed = parse_bool("CAMARA_HASHED", var("CAMARA_HASHED"))?;
    let (base, app, key, jwt) = (
        var("VONAGE_API_BASE"),
        var("VONAGE_APPLICATION_ID"),
        var("VONAGE_PRIVATE_KEY"),
        var("VONAGE_JWT"),
    );
    if base.is_none() && app.is_none() && key.is_none() && jwt.is_none() {
        return Ok(sandbox_base.map(|base| sandbox_vonage(base, hashed)));
    }
    let api_base = match (base, sandbox_base) {
        (Some(b), _) => parse_base_url("VONAGE_API_BASE", &b, false)?,
        (None, Some(sandbox)) => sandbox.clone(),
        (None, None) => return Err(ConfigError::missing("VONAGE_API_BASE", "the Vonage API base URL")),
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
    Ok(Some(VonageConfig {
        api_base,
        application_id,
        credentials,
        hashed,
    }))
}

#[cfg(feature = "sandbox")]
fn sandbox_mobile_connect(base: &Url) -> MobileConnectConfig {
    MobileConnectConfig {
        api_base: base.clone(),
        client_id: credentials::MC_CLIENT_ID.into(),
        client_secret: Secret::new(credentials::MC_CLIENT_SECRET),
    }
}

#[cfg(feature = "sandbox")]
fn sandbox_vonage(base: &Url, hashed: bool) -> VonageConfig {
    VonageConfig {
        api_base: base.clone(),
        application_id: credentials::VONAGE_APPLICATION_ID.into(),
        credentials: VonageCredentials::PrivateKey(Secret::new(credentials::VONAGE_PRIVATE_KEY)),
        hashed,
    }
}

// Without the virtual operator there is never a mounted base to point at.
#[cfg(not(feature = "sandbox"))]
fn sandbox_mobile_connect(_: &Url) -> MobileConnectConfig {
    unreachable!("SandboxMode::Mounted is refused in a build without the sandbox feature")
}

#[cfg(not(feature = "sandbox"))]
fn sandbox_vonage(_: &Url, _: bool) -> VonageConfig {
    unreachable!("SandboxMode::Mounted is refused in a build without the sandbox feature")
}

/// `REDIS_URL`: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. The
/// error never repeats the value: it may hold a password.
fn parse_redis_url(value: &str) -> Result<Secret, ConfigError> {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "redis" | "rediss") && url.host_str().is_some() => Ok(Secret::new(value)),
        _ => Err(ConfigError::new(
            "REDIS_URL",
            "is not a Redis URL like redis://127.0.0.1:6379/0 (or rediss:// for TLS)".into(),
        )),
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

/// An http(s) URL without trailing slash. An origin (`APP_PUBLIC_URL`) may not carry a
/// path, since `/callback` and `/sandbox` hang off it.
fn parse_base_url(name: &'static str, value: &str, origin_only: bool) -> Result<Url, ConfigError> {
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
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Ok(Url::parse(&trimmed).unwrap_or(url))
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
    use crate::sandbox_shared::credentials::{
        MC_CLIENT_ID as SANDBOX_MC_CLIENT_ID, VONAGE_PRIVATE_KEY as SANDBOX_VONAGE_PRIVATE_KEY,
    };
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_run_everything_against_the_sandbox() {
        let c = config(&[]).unwrap();
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
        let c = config(&[
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
            (&[("TRUST_PROXY", "sometimes")], "TRUST_PROXY"),
            (&[("REDIS_URL", "localhost:6379")], "REDIS_URL"),
            (&[("REDIS_URL", "http://127.0.0.1:6379")], "REDIS_URL"),
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

#[cfg(test)]
mod sandbox_modes {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn only_runs_the_virtual_operator_for_the_given_redirect_uris() {
        let c = config(&[
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

    #[test]
    fn on_with_live_vonage_backs_mobile_connect_with_the_mounted_operator() {
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");
        let c = config(&[
            ("SANDBOX", "on"),
            ("VONAGE_API_BASE", "https://vg.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", key),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Mounted);
        assert_eq!(
            c.mobile_connect.unwrap().api_base.as_str(),
            "http://127.0.0.1:3000/sandbox"
        );
        assert_eq!(c.vonage.unwrap().api_base.as_str(), "https://vg.example/");
    }
}
