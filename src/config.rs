//! Environment → typed configuration, validated once at start-up.
//!
//! Every bad or missing variable is reported by name. With no configuration on a
//! loopback `http://` address, both protocols point at the virtual operator mounted in
//! this process (when the server is built with it), with its documented test
//! credentials, so a laptop runs every flow end to end. Anywhere else the virtual
//! operator is mounted only when `SANDBOX=on` asks for it: a deployment whose operator
//! credentials failed to load stops instead of "verifying" anyone (fail closed).

use std::{net::SocketAddr, time::Duration};

use url::{Host, Url};

use crate::phone::{normalise, E164};
use crate::protocol::Protocol;
use crate::sandbox_shared::credentials;
use crate::sandbox_shared::DEFAULT_SANDBOX_SIM;

pub use crate::support::redacted::Secret;

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
    /// credentials on a loopback `http://` `APP_PUBLIC_URL`); protocols with no live
    /// configuration use it.
    Mounted,
    /// This process is the virtual operator alone (`SANDBOX=only`): `/sandbox/…` and
    /// `/healthz`, no page and no API.
    Only,
}

/// Which kind of operator answers a protocol, decided from configuration alone (never
/// from anything a request says): it marks results as test results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// A live operator: its verdicts are real.
    Live,
    /// The virtual operator — mounted here, or another process reached with its published
    /// test credentials (which open nothing else). Anyone can make it say "verified" for
    /// any number, so every result it gives is a test result.
    VirtualOperator,
}

impl Backing {
    pub fn is_sandbox(self) -> bool {
        self == Backing::VirtualOperator
    }
}

#[derive(Debug, Clone)]
pub struct MobileConnectConfig {
    /// Base URL, e.g. `https://api.example-operator.com/mc`; endpoints hang off it.
    pub api_base: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// `MC_JWKS_URL`: the operator's signing keys, for RS256/ES256 id_tokens (unset: only
    /// HS256 id_tokens verify). The mounted virtual operator's by default.
    pub jwks_url: Option<Url>,
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

/// What "CAMARA" means on the page and in the API (`CAMARA_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamaraProfile {
    /// CAMARA Number Verification through Vonage (v0.3.1), what the tutorial's client uses.
    Vonage,
    /// Standard CAMARA NumberVerification v2.1 at an Open Gateway operator.
    Standard,
}

impl CamaraProfile {
    /// The protocol a request for `protocol` runs: "camara" is this profile.
    pub fn resolve(self, protocol: Protocol) -> Protocol {
        match (protocol, self) {
            (Protocol::Camara, CamaraProfile::Standard) => Protocol::CamaraStandard,
            (other, _) => other,
        }
    }
}

/// The client key the app signs its `private_key_jwt` assertions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeyAlg {
    Es256,
    Rs256,
}

/// A standard CAMARA v2.1 operator, known by its issuer and this app's registered client.
#[derive(Debug, Clone)]
pub struct CamaraStandardConfig {
    /// `CAMARA_ISSUER`: `{issuer}/.well-known/openid-configuration` names the endpoints.
    pub issuer: Url,
    /// `CAMARA_API_ROOT`: `{root}/number-verification/v2/verify`.
    pub api_root: Url,
    pub client_id: String,
    /// `CAMARA_CLIENT_KEY`: the private key (PEM) that signs the client assertions.
    pub client_key: Secret,
    pub client_key_alg: ClientKeyAlg,
    /// `CAMARA_CLIENT_KEY_ID`: the `kid` the operator registered the public key under.
    pub client_key_id: String,
    /// Send `hashedPhoneNumber` instead of `phoneNumber` (`CAMARA_HASHED`).
    pub hashed: bool,
    /// The issuer is the virtual operator mounted in this very process, which cannot
    /// answer before the server listens: discovery then waits for the first use.
    pub issuer_in_process: bool,
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
    pub camara_standard: Option<CamaraStandardConfig>,
    /// What "camara" means (`CAMARA_PROFILE`).
    pub camara_profile: CamaraProfile,
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
    // Lockout limits (issue 10): per client, and the memory store's global capacity.
    /// `MAX_PENDING_PER_CLIENT`: verifications one client (IPv4 address or IPv6 /64) may
    /// have in flight; a start past it drops that client's oldest.
    pub max_pending_per_client: usize,
    /// `MAX_PENDING`: verifications in flight at once, memory store only.
    pub max_pending: usize,
    /// `REQUEST_TIMEOUT_MS` (issue 10, the HTTP edge): the most one request may take, from
    /// its first header byte to its answer, and how long an idle connection stays open.
    pub request_timeout: Duration,
}

/// The variables that configure a live operator.
const LIVE_NAMES: [&str; 12] = [
    "MC_API_BASE",
    "MC_CLIENT_ID",
    "MC_CLIENT_SECRET",
    "VONAGE_API_BASE",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_JWT",
    "CAMARA_ISSUER",
    "CAMARA_API_ROOT",
    "CAMARA_CLIENT_ID",
    "CAMARA_CLIENT_KEY",
    "CAMARA_CLIENT_KEY_ID",
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

    /// Who answers `protocol`, or `None` when it is not offered. The virtual operator's
    /// published credentials identify it wherever it runs: a live operator never issues
    /// them.
    pub fn backing(&self, protocol: Protocol) -> Option<Backing> {
        let sandbox = match self.resolve(protocol) {
            Protocol::MobileConnect => self.mobile_connect.as_ref()?.client_id == credentials::MC_CLIENT_ID,
            Protocol::Camara => self.vonage.as_ref()?.application_id == credentials::VONAGE_APPLICATION_ID,
            Protocol::CamaraStandard => self.camara_standard.as_ref()?.client_id == credentials::CAMARA_CLIENT_ID,
        };
        Some(if sandbox {
            Backing::VirtualOperator
        } else {
            Backing::Live
        })
    }

    /// The protocol a request for `protocol` runs: "camara" is the configured profile.
    pub fn resolve(&self, protocol: Protocol) -> Protocol {
        self.camara_profile.resolve(protocol)
    }

    /// Whether `protocol`'s results are test results from the virtual operator.
    pub fn sandbox_backed(&self, protocol: Protocol) -> bool {
        self.backing(protocol).is_some_and(Backing::is_sandbox)
    }

    /// One start-up line per protocol saying who answers it (origins only, never a
    /// credential), and a warning when the virtual operator answers on a public address.
    pub fn log_operators(&self) {
        if self.sandbox == SandboxMode::Only {
            tracing::info!(
                public_base = %self.sandbox_public_base(),
                "this process is the virtual operator alone (SANDBOX=only)"
            );
            return;
        }
        let bases = [
            (
                Protocol::MobileConnect,
                self.mobile_connect.as_ref().map(|c| &c.api_base),
            ),
            (Protocol::Camara, self.vonage.as_ref().map(|c| &c.api_base)),
            (
                Protocol::CamaraStandard,
                self.camara_standard.as_ref().map(|c| &c.issuer),
            ),
        ];
        for (protocol, base) in bases {
            let operator = match self.backing(protocol) {
                None => "none (not offered)",
                Some(Backing::Live) => "live operator",
                Some(Backing::VirtualOperator) => "virtual operator (test results)",
            };
            let origin = base.map(|b| b.origin().ascii_serialization());
            tracing::info!(
                protocol = protocol.label(),
                operator,
                origin = origin.as_deref().unwrap_or("-"),
                "operator for protocol"
            );
        }
        let profile = match self.camara_profile {
            CamaraProfile::Vonage => "vonage",
            CamaraProfile::Standard => "standard",
        };
        tracing::info!(profile, "\"CAMARA\" means the {profile} profile (CAMARA_PROFILE)");
        if self.sandbox == SandboxMode::Mounted && !is_loopback_http(&self.public_url) {
            tracing::warn!(
                public_url = %self.public_url,
                "SANDBOX=on on a non-loopback address: anyone can get a test \"verified\" for any number; \
                 its results are marked as test results"
            );
        }
    }

    /// Reads the process environment (and `.env`, if present), and logs who answers each
    /// protocol.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        let config = Self::from_lookup(|name| std::env::var(name).ok())?;
        config.log_operators();
        Ok(config)
    }

    /// The configuration these variables (and no others) give: what tests and tools
    /// build it from.
    pub fn from_pairs(vars: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
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
        let sandbox_setting = var("SANDBOX");
        let sandbox = sandbox_mode(sandbox_setting.as_deref(), any_live, &public_url)?;
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
        let (mobile_connect, vonage, camara_standard) = match sandbox {
            SandboxMode::Only => (None, None, None),
            _ => (
                mobile_connect_config(&var, mounted)?,
                vonage_config(&var, mounted)?,
                camara_standard_config(&var, mounted)?,
            ),
        };
        let camara_profile = camara_profile(&var, vonage.is_some(), camara_standard.is_some())?;
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
        // Lockout limits (issue 10).
        let max_pending_per_client = parse_count(&var, "MAX_PENDING_PER_CLIENT", 5, 1_000_000)?;
        let max_pending = parse_count(&var, "MAX_PENDING", 100_000, 100_000_000)?;
        // The HTTP edge (issue 10): at most 30 s, so slow clients cannot hold a drain.
        let request_timeout = match var("REQUEST_TIMEOUT_MS") {
            None => Duration::from_millis(15_000),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if (100..=30_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::new(
                        "REQUEST_TIMEOUT_MS",
                        format!("“{v}” is not a number of milliseconds between 100 and 30000"),
                    ))
                }
            },
        };
        // Checked last: a misspelt variable above is the likelier cause, and named first.
        if sandbox != SandboxMode::Only && mobile_connect.is_none() && vonage.is_none() && camara_standard.is_none() {
            let is_auto = sandbox_setting
                .as_deref()
                .is_none_or(|v| v.eq_ignore_ascii_case("auto"));
            let reason = if !cfg!(feature = "sandbox") {
                format!("has no virtual operator in this build and no operator is configured: {SET_OPERATOR}")
            } else if is_auto {
                format!(
                    "is auto and APP_PUBLIC_URL {public_url} is not a loopback http:// URL, so the virtual \
                     operator stays off (fail closed), and no operator is configured: {SET_OPERATOR}; \
                     or SANDBOX=on for a deliberate test deployment"
                )
            } else {
                format!("is off and no operator is configured: {SET_OPERATOR}; or SANDBOX=on")
            };
            return Err(ConfigError::new("SANDBOX", reason));
        }

        Ok(Config {
            site_addr,
            public_url,
            sandbox,
            sandbox_default_sim,
            sandbox_redirect_uris,
            mobile_connect,
            vonage,
            camara_standard,
            camara_profile,
            operator_timeout,
            rate_limit_per_minute,
            trust_proxy,
            redis_url,
            redis_prefix,
            shutdown_grace,
            max_pending_per_client,
            max_pending,
            request_timeout,
        })
    }
}

/// What a server with no operator must be given, named variable by variable.
const SET_OPERATOR: &str = "set MC_API_BASE, MC_CLIENT_ID and MC_CLIENT_SECRET (Mobile Connect), and/or \
     VONAGE_API_BASE, VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY or VONAGE_JWT (CAMARA through Vonage), and/or \
     CAMARA_ISSUER, CAMARA_API_ROOT, CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY and CAMARA_CLIENT_KEY_ID (standard CAMARA)";

/// `SANDBOX`: auto (the default), on, off, only. `auto` mounts the virtual operator only
/// when no live credentials are set and `public_url` is a loopback `http://` URL, a
/// laptop: on any other address a missing secret must stop the server, not turn every
/// number into "verified". A server built without the virtual operator refuses on and
/// only, saying so.
fn sandbox_mode(value: Option<&str>, any_live: bool, public_url: &str) -> Result<SandboxMode, ConfigError> {
    let wanted = match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") if any_live => SandboxMode::Off,
        None | Some("auto") if !cfg!(feature = "sandbox") => SandboxMode::Off,
        None | Some("auto") if !is_loopback_http(public_url) => SandboxMode::Off,
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

/// Mobile Connect from `MC_*`; with none set, the mounted virtual operator (if any). Any
/// `MC_*` set makes the protocol live: all three are then required, and none is ever
/// filled in from the virtual operator (a live client id sent to the sandbox, or the
/// sandbox's secret to a live operator, is a misconfiguration, not a fallback).
fn mobile_connect_config(
    var: &impl Fn(&str) -> Option<String>,
    sandbox_base: Option<&Url>,
) -> Result<Option<MobileConnectConfig>, ConfigError> {
    let (base, id, secret) = (var("MC_API_BASE"), var("MC_CLIENT_ID"), var("MC_CLIENT_SECRET"));
    // id_token keys (issue 10): MC_JWKS_URL, else the virtual operator's when it is the operator.
    // https only, like the base URLs (loopback http:// allowed).
    let jwks_url = var("MC_JWKS_URL")
        .map(|v| operator_url("MC_JWKS_URL", &v))
        .transpose()?;
    if base.is_none() && id.is_none() && secret.is_none() {
        return Ok(sandbox_base.map(|b| MobileConnectConfig {
            jwks_url: jwks_url.or_else(|| Some(sandbox_jwks_url(b))),
            ..sandbox_mobile_connect(b)
        }));
    }
    let api_base = match base {
        Some(b) => operator_url("MC_API_BASE", &b)?,
        None => {
            return Err(ConfigError::missing(
                "MC_API_BASE",
                "the Mobile Connect API base URL (https://…)",
            ))
        }
    };
    Ok(Some(MobileConnectConfig {
        api_base,
        client_id: id.ok_or_else(|| ConfigError::missing("MC_CLIENT_ID", "the Mobile Connect client id"))?,
        client_secret: Secret::new(
            secret.ok_or_else(|| ConfigError::missing("MC_CLIENT_SECRET", "the Mobile Connect client secret"))?,
        ),
        jwks_url,
    }))
}

/// Vonage from `VONAGE_*`; with none set, the mounted virtual operator (if any). As for
/// Mobile Connect, any `VONAGE_*` set makes it live and nothing is borrowed from the
/// virtual operator.
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
    let api_base = match base {
        Some(b) => operator_url("VONAGE_API_BASE", &b)?,
        None => {
            return Err(ConfigError::missing(
                "VONAGE_API_BASE",
                "the Vonage API base URL (https://…)",
            ))
        }
    };
    let application_id =
        app.ok_or_else(|| ConfigError::missing("VONAGE_APPLICATION_ID", "the Vonage application id"))?;
    let credentials = match (jwt, key) {
        (Some(jwt), _) => VonageCredentials::Jwt(Secret::new(check_vonage_jwt(&jwt, unix_now())?)),
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

/// Standard CAMARA v2.1 from `CAMARA_*`; with none set, the mounted virtual operator's
/// v2.1 operator (if any) and its documented client. As for the others, any `CAMARA_*`
/// client variable set makes it live, and then all five are required.
fn camara_standard_config(
    var: &impl Fn(&str) -> Option<String>,
    sandbox_base: Option<&Url>,
) -> Result<Option<CamaraStandardConfig>, ConfigError> {
    let hashed = parse_bool("CAMARA_HASHED", var("CAMARA_HASHED"))?;
    let names = [
        "CAMARA_ISSUER",
        "CAMARA_API_ROOT",
        "CAMARA_CLIENT_ID",
        "CAMARA_CLIENT_KEY",
        "CAMARA_CLIENT_KEY_ID",
    ];
    if names.iter().all(|n| var(n).is_none()) {
        return Ok(sandbox_base.map(|base| sandbox_camara_standard(base, hashed)));
    }
    let required = |name: &'static str, what: &str| var(name).ok_or_else(|| ConfigError::missing(name, what));
    let issuer = operator_url(
        "CAMARA_ISSUER",
        &required("CAMARA_ISSUER", "the operator's OpenID issuer URL (https://…)")?,
    )?;
    let api_root = operator_url(
        "CAMARA_API_ROOT",
        &required("CAMARA_API_ROOT", "the operator's CAMARA API root (https://…)")?,
    )?;
    let client_id = required("CAMARA_CLIENT_ID", "the client id the operator registered for this app")?;
    let (client_key, client_key_alg) = read_client_key(&required(
        "CAMARA_CLIENT_KEY",
        "the app's private key (a file path or the PEM itself) whose public key the operator registered",
    )?)?;
    let client_key_id = required(
        "CAMARA_CLIENT_KEY_ID",
        "the key id (kid) the operator registered the app's public key under",
    )?;
    Ok(Some(CamaraStandardConfig {
        issuer,
        api_root,
        client_id,
        client_key: Secret::new(client_key),
        client_key_alg,
        client_key_id,
        hashed,
        issuer_in_process: false,
    }))
}

/// `CAMARA_PROFILE`: `vonage` or `standard`, and it must be configured. Unset, it is
/// `vonage` — unless only the standard operator is configured, which "camara" then means.
fn camara_profile(
    var: &impl Fn(&str) -> Option<String>,
    vonage: bool,
    standard: bool,
) -> Result<CamaraProfile, ConfigError> {
    match var("CAMARA_PROFILE").map(|v| v.to_ascii_lowercase()).as_deref() {
        None if standard && !vonage => Ok(CamaraProfile::Standard),
        None | Some("vonage") => Ok(CamaraProfile::Vonage),
        Some("standard") if standard => Ok(CamaraProfile::Standard),
        Some("standard") => Err(ConfigError::new(
            "CAMARA_PROFILE",
            "is standard, but no standard CAMARA operator is configured: set CAMARA_ISSUER, CAMARA_API_ROOT, \
             CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY and CAMARA_CLIENT_KEY_ID"
                .into(),
        )),
        Some(other) => Err(ConfigError::new(
            "CAMARA_PROFILE",
            format!("“{other}” is not one of vonage, standard"),
        )),
    }
}

#[cfg(feature = "sandbox")]
fn sandbox_camara_standard(base: &Url, hashed: bool) -> CamaraStandardConfig {
    let root = Url::parse(&format!(
        "{}{}",
        base.as_str().trim_end_matches('/'),
        crate::sandbox_shared::CAMARA_V2_PATH
    ))
    .expect("the sandbox base with a path is a URL");
    CamaraStandardConfig {
        issuer: root.clone(),
        api_root: root,
        client_id: credentials::CAMARA_CLIENT_ID.into(),
        client_key: Secret::new(credentials::CAMARA_CLIENT_PRIVATE_KEY),
        client_key_alg: ClientKeyAlg::Es256,
        client_key_id: credentials::CAMARA_CLIENT_KEY_ID.into(),
        hashed,
        issuer_in_process: true,
    }
}

#[cfg(not(feature = "sandbox"))]
fn sandbox_camara_standard(_: &Url, _: bool) -> CamaraStandardConfig {
    unreachable!("SandboxMode::Mounted is refused in a build without the sandbox feature")
}

#[cfg(feature = "sandbox")]
fn sandbox_mobile_connect(base: &Url) -> MobileConnectConfig {
    MobileConnectConfig {
        api_base: base.clone(),
        client_id: credentials::MC_CLIENT_ID.into(),
        client_secret: Secret::new(credentials::MC_CLIENT_SECRET),
        jwks_url: Some(sandbox_jwks_url(base)),
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

// --- id_token keys and VONAGE_JWT expiry (issue 10, items 5 and 8) ---

/// `VONAGE_JWT` must outlive start-up by this much: a token about to expire would fail
/// every verification moments after a successful start.
pub const VONAGE_JWT_MIN_REMAINING_SECS: u64 = 5 * 60;
/// Vonage's default lifetime of an application JWT without `exp`: 15 minutes after `iat`.
const VONAGE_JWT_DEFAULT_LIFETIME_SECS: u64 = 15 * 60;

/// The virtual operator's JWKS under its base URL.
fn sandbox_jwks_url(base: &Url) -> Url {
    Url::parse(&format!(
        "{}{}",
        base.as_str().trim_end_matches('/'),
        crate::sandbox_shared::MC_JWKS_PATH
    ))
    .unwrap_or_else(|_| base.clone())
}

/// When the application JWT `jwt` stops being valid (seconds since the epoch): its `exp`,
/// else `iat` + 15 minutes as Vonage reads it. `Err` says why it cannot be known; never
/// repeats the token.
pub fn vonage_jwt_expiry(jwt: &str) -> Result<u64, String> {
    use base64::Engine;
    let mut parts = jwt.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("is not a JWT (three dot-separated parts)".into());
    };
    let claims: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(serde_json::Value::is_object)
        .ok_or("is not a JWT: its payload is not base64url JSON")?;
    let seconds = |name: &str| {
        claims
            .get(name)
            .map(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
    };
    match (seconds("exp"), seconds("iat")) {
        (Some(Some(exp)), _) => Ok(exp),
        (Some(None), _) => Err("has an exp claim that is not a number of seconds".into()),
        (None, Some(Some(iat))) => Ok(iat.saturating_add(VONAGE_JWT_DEFAULT_LIFETIME_SECS)),
        _ => Err("has neither exp nor iat, so when it expires cannot be known".into()),
    }
}

/// A pre-made `VONAGE_JWT` must be a JWT valid for at least 5 more minutes at `now`.
fn check_vonage_jwt(jwt: &str, now: u64) -> Result<String, ConfigError> {
    let exp = vonage_jwt_expiry(jwt).map_err(|reason| ConfigError::new("VONAGE_JWT", reason))?;
    if exp <= now {
        return Err(ConfigError::new(
            "VONAGE_JWT",
            format!(
                "expired {} s ago: mint a new application JWT, or set VONAGE_PRIVATE_KEY instead so the server mints its own",
                now - exp
            ),
        ));
    }
    if exp - now < VONAGE_JWT_MIN_REMAINING_SECS {
        return Err(ConfigError::new(
            "VONAGE_JWT",
            format!(
                "expires in {} s (less than 5 minutes): mint one that lives longer, or set VONAGE_PRIVATE_KEY instead",
                exp - now
            ),
        ));
    }
    Ok(jwt.to_owned())
}

use crate::support::unix_now;

// --- end of id_token keys and VONAGE_JWT expiry ---

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

/// A whole number between 1 and `max`; unset is `default` (lockout limits, issue 10).
fn parse_count(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                name,
                format!("“{v}” is not a whole number between 1 and {max}"),
            )),
        },
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
    let pem = read_pem("VONAGE_PRIVATE_KEY", value)?;
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
        ConfigError::new(
            "VONAGE_PRIVATE_KEY",
            format!("is not an RSA private key in PEM form: {e}"),
        )
    })?;
    Ok(pem)
}

/// A PEM given as itself or as a path to it.
fn read_pem(name: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.contains("-----BEGIN") {
        // `.env` files often carry the PEM on one line with literal `\n`s.
        Ok(value.replace("\\n", "\n"))
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| ConfigError::new(name, format!("cannot read the key file “{value}”: {e}")))
    }
}

/// `CAMARA_CLIENT_KEY`: a P-256 (ES256) or RSA (RS256) private key in PKCS#8 PEM, as
/// CAMARA's security profile allows for `private_key_jwt`.
fn read_client_key(value: &str) -> Result<(String, ClientKeyAlg), ConfigError> {
    use jsonwebtoken::EncodingKey;
    let pem = read_pem("CAMARA_CLIENT_KEY", value)?;
    if EncodingKey::from_ec_pem(pem.as_bytes()).is_ok() {
        return Ok((pem, ClientKeyAlg::Es256));
    }
    if EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok() {
        return Ok((pem, ClientKeyAlg::Rs256));
    }
    Err(ConfigError::new(
        "CAMARA_CLIENT_KEY",
        "is not a P-256 (ES256) or RSA (RS256) private key in PEM form".into(),
    ))
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

/// A live operator's URL (`MC_API_BASE`, `VONAGE_API_BASE`, and any other URL the app
/// sends credentials to): `https://`, because the client secret, the application JWT
/// and the tokens travel with every request; `http://` only to a loopback host (tests,
/// a local operator). No user or password in the URL: credentials have their own
/// variables, and a URL may be logged.
pub fn operator_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = parse_base_url(name, value, false)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            name,
            "must not carry a user or password: the credentials have variables of their own".into(),
        ));
    }
    if url.scheme() != "https" && !is_loopback_http(url.as_str()) {
        return Err(ConfigError::new(
            name,
            format!(
                "“{}” must be an https:// URL: credentials and tokens are sent there \
                 (http:// is allowed only for a loopback host such as 127.0.0.1)",
                url.origin().ascii_serialization()
            ),
        ));
    }
    Ok(url)
}

/// An `http://` URL whose host is this machine: 127.0.0.0/8, `[::1]` or `localhost`.
/// Nothing outside the machine can reach it, so neither a test operator nor plain HTTP
/// exposes anything there.
pub fn is_loopback_http(value: &str) -> bool {
    let Ok(url) = Url::parse(value) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        }
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
            (&[("MAX_PENDING_PER_CLIENT", "0")], "MAX_PENDING_PER_CLIENT"),
            (&[("MAX_PENDING", "many")], "MAX_PENDING"),
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
                matches!(vg.credentials, VonageCredentials::PrivateKey(ref k) if k.secret() == SANDBOX_VONAGE_PRIVATE_KEY)
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

    const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sandbox-keys/vonage-sandbox-private.pem");

    /// Each protocol is decided on its own: the sandbox backs only the one with no live
    /// configuration, and says so.
    #[test]
    fn on_with_live_vonage_backs_only_mobile_connect_with_the_mounted_operator() {
        let c = config(&[
            ("SANDBOX", "on"),
            ("VONAGE_API_BASE", "https://vg.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", KEY),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Mounted);
        assert_eq!(c.backing(Protocol::MobileConnect), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Protocol::Camara), Some(Backing::Live));
        assert!(c.sandbox_backed(Protocol::MobileConnect) && !c.sandbox_backed(Protocol::Camara));
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
        let err = config(&[
            ("SANDBOX", "on"),
            ("MC_CLIENT_ID", "live-id"),
            ("MC_CLIENT_SECRET", "live-secret"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "MC_API_BASE", "{err}");
        let err = config(&[
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
                let c = config(&vars).unwrap_or_else(|e| panic!("{public} {sandbox:?}: {e}"));
                assert_eq!(c.sandbox, SandboxMode::Mounted, "{public}");
                assert!(c.sandbox_backed(Protocol::MobileConnect) && c.sandbox_backed(Protocol::Camara));
            }
        }
        // The default APP_PUBLIC_URL follows LEPTOS_SITE_ADDR: loopback unless told otherwise.
        assert_eq!(config(&[]).unwrap().sandbox, SandboxMode::Mounted);
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
            let err = config(vars).expect_err(&format!("{vars:?} must not run the sandbox"));
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
        let c = config(&[("SANDBOX", "on"), ("APP_PUBLIC_URL", "https://test.example.com")]).unwrap();
        assert_eq!(c.sandbox, SandboxMode::Mounted);
        assert_eq!(
            c.mobile_connect.as_ref().unwrap().api_base.as_str(),
            "https://test.example.com/sandbox"
        );
        assert_eq!(c.backing(Protocol::Camara), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Protocol::MobileConnect), Some(Backing::VirtualOperator));
    }

    #[test]
    fn live_credentials_are_live_and_an_unconfigured_protocol_is_not_offered() {
        let c = config(&[
            ("APP_PUBLIC_URL", "https://verify.example.com"),
            ("MC_API_BASE", "https://mc.example.net"),
            ("MC_CLIENT_ID", "live-id"),
            ("MC_CLIENT_SECRET", "live-secret"),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert_eq!(c.backing(Protocol::MobileConnect), Some(Backing::Live));
        assert_eq!(c.backing(Protocol::Camara), None);
        assert!(!c.sandbox_backed(Protocol::MobileConnect) && !c.sandbox_backed(Protocol::Camara));
    }

    /// A virtual operator in another process (`SANDBOX=only`), reached with its published
    /// credentials, is still the virtual operator: its results are test results.
    #[test]
    fn the_published_test_credentials_mark_a_remote_virtual_operator() {
        let c = config(&[
            ("MC_API_BASE", "http://127.0.0.1:4000/sandbox"),
            ("MC_CLIENT_ID", credentials::MC_CLIENT_ID),
            ("MC_CLIENT_SECRET", credentials::MC_CLIENT_SECRET),
            ("VONAGE_API_BASE", "http://127.0.0.1:4000/sandbox"),
            ("VONAGE_APPLICATION_ID", credentials::VONAGE_APPLICATION_ID),
            ("VONAGE_PRIVATE_KEY", KEY),
        ])
        .unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert_eq!(c.backing(Protocol::MobileConnect), Some(Backing::VirtualOperator));
        assert_eq!(c.backing(Protocol::Camara), Some(Backing::VirtualOperator));
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

// id_token keys and VONAGE_JWT expiry (issue 10, items 5 and 8).
#[cfg(test)]
mod operator_tokens {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

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
        config(&[
            ("VONAGE_API_BASE", "https://api.example.com"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_JWT", token),
        ])
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn the_mounted_virtual_operator_is_the_default_jwks() {
        let mc = config(&[]).unwrap().mobile_connect.unwrap();
        assert_eq!(
            mc.jwks_url.unwrap().as_str(),
            "http://127.0.0.1:3000/sandbox/.well-known/jwks.json"
        );
        let mc = config(&[("MC_JWKS_URL", "http://localhost:9/keys")])
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
        assert_eq!(config(&live).unwrap().mobile_connect.unwrap().jwks_url, None);
        let with = |url: &'static str| {
            let mut vars = live.to_vec();
            vars.push(("MC_JWKS_URL", url));
            config(&vars)
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
            VonageCredentials::Jwt(ref t) if t.secret() == ok
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

#[cfg(test)]
mod camara_profiles {
    use super::*;
    use std::collections::HashMap;

    const CLIENT_KEY: &str = include_str!("../sandbox-keys/camara-client-private.pem");
    const RSA_KEY: &str = include_str!("../sandbox-keys/vonage-sandbox-private.pem");

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn live_standard() -> Vec<(&'static str, &'static str)> {
        vec![
            ("CAMARA_ISSUER", "https://op.example/oidc"),
            ("CAMARA_API_ROOT", "https://api.op.example"),
            ("CAMARA_CLIENT_ID", "client-1"),
            ("CAMARA_CLIENT_KEY", CLIENT_KEY),
            ("CAMARA_CLIENT_KEY_ID", "kid-1"),
        ]
    }

    #[test]
    fn the_sandbox_offers_both_profiles_and_camara_means_vonage_by_default() {
        let c = config(&[]).unwrap();
        assert_eq!(c.camara_profile, CamaraProfile::Vonage);
        assert_eq!(c.resolve(Protocol::Camara), Protocol::Camara);
        let standard = c.camara_standard.as_ref().unwrap();
        assert_eq!(standard.issuer.as_str(), "http://127.0.0.1:3000/sandbox/camara/v2");
        assert_eq!(standard.api_root.as_str(), "http://127.0.0.1:3000/sandbox/camara/v2");
        assert_eq!(standard.client_id, credentials::CAMARA_CLIENT_ID);
        assert_eq!(standard.client_key_alg, ClientKeyAlg::Es256);
        assert!(standard.issuer_in_process, "the mounted operator is read at first use");
        assert_eq!(c.backing(Protocol::CamaraStandard), Some(Backing::VirtualOperator));

        let c = config(&[("CAMARA_PROFILE", "standard"), ("CAMARA_HASHED", "true")]).unwrap();
        assert_eq!(c.camara_profile, CamaraProfile::Standard);
        assert_eq!(c.resolve(Protocol::Camara), Protocol::CamaraStandard);
        assert!(c.camara_standard.unwrap().hashed);
    }

    #[test]
    fn a_live_standard_operator_turns_the_sandbox_off_and_is_what_camara_means() {
        let c = config(&live_standard()).unwrap();
        assert_eq!(c.sandbox, SandboxMode::Off);
        assert!(c.mobile_connect.is_none() && c.vonage.is_none());
        assert_eq!(c.camara_profile, CamaraProfile::Standard, "the only CAMARA configured");
        let standard = c.camara_standard.as_ref().unwrap();
        assert!(!standard.issuer_in_process);
        assert_eq!(c.backing(Protocol::Camara), Some(Backing::Live));
        // An RSA key signs RS256 assertions.
        let mut vars = live_standard();
        vars[3] = ("CAMARA_CLIENT_KEY", RSA_KEY);
        assert_eq!(
            config(&vars).unwrap().camara_standard.unwrap().client_key_alg,
            ClientKeyAlg::Rs256
        );
    }

    #[test]
    fn each_missing_or_bad_camara_variable_is_named() {
        for missing in 0..5 {
            let mut vars = live_standard();
            let (name, _) = vars.remove(missing);
            let err = config(&vars).unwrap_err();
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
            let err = config(&vars).unwrap_err();
            assert_eq!(err.variable, name, "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn camara_profile_must_name_a_configured_profile() {
        let err = config(&[("CAMARA_PROFILE", "camara2")]).unwrap_err();
        assert_eq!(err.variable, "CAMARA_PROFILE");
        let vonage_only = [
            ("VONAGE_API_BASE", "https://vg.example"),
            ("VONAGE_APPLICATION_ID", "app"),
            ("VONAGE_PRIVATE_KEY", RSA_KEY),
            ("CAMARA_PROFILE", "standard"),
        ];
        let err = config(&vonage_only).unwrap_err();
        assert_eq!(err.variable, "CAMARA_PROFILE");
        assert!(err.to_string().contains("CAMARA_ISSUER"), "{err}");
        let mut both = live_standard();
        both.extend_from_slice(&vonage_only[..3]);
        assert_eq!(
            config(&both).unwrap().camara_profile,
            CamaraProfile::Vonage,
            "the default"
        );
    }
}
