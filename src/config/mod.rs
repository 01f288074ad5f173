//! Environment → typed configuration, validated once at start-up.
//!
//! Every bad or missing variable is reported by name. With no configuration on a
//! loopback `http://` address, every protocol points at the virtual operator mounted in
//! this process (when the server is built with it), with its documented test
//! credentials, so a laptop runs every flow end to end. Anywhere else the virtual
//! operator is mounted only when `SANDBOX=on` asks for it: a deployment whose operator
//! credentials failed to load stops instead of "verifying" anyone (fail closed).

mod events;
mod keys;
mod oidc;
mod operators;
mod sandbox;
mod settings;
mod sms;

use std::{net::SocketAddr, time::Duration};

use ipnet::IpNet;
use url::Url;

pub use oidc::OidcSettings;
pub use operators::CamaraProfile;
pub use sandbox::SandboxMode;
pub use settings::RedisAddress;
pub use sms::SmsSettings;

use crate::{
    events::EventsSettings,
    operators::{CamaraSettings, MobileConnectSettings, RedirectUri, VonageSettings},
    phone::E164,
    protocol::Operator,
    sandbox_contract::{credentials, MOUNT},
    support::redacted::Secret,
};
use settings::Vars;

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
pub struct Config {
    pub site_addr: SocketAddr,
    /// `METRICS_ADDR`: where Prometheus scrapes `/metrics`, a listener of its own (never
    /// the public one); `None`: no metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    /// The origin people and operators reach, without trailing slash.
    pub public_url: String,
    /// `{public_url}/callback`, the one redirect URI of every protocol.
    callback: RedirectUri,
    pub sandbox: SandboxMode,
    /// `SANDBOX=auto` mounted the virtual operator (not `SANDBOX=on`): it and every flow it
    /// backs answer only requests made on this machine.
    pub sandbox_local_only: bool,
    pub sandbox_default_sim: E164,
    /// `SANDBOX_REDIRECT_URIS`: mounted, extra redirect URIs the virtual operator accepts
    /// besides `{public_url}/callback`; alone, exactly its registered redirect URIs (the
    /// first is the Vonage application's).
    pub sandbox_redirect_uris: Vec<String>,
    pub mobile_connect: Option<MobileConnectSettings>,
    pub vonage: Option<VonageSettings>,
    pub camara_standard: Option<CamaraSettings>,
    /// What "camara" means (`CAMARA_PROFILE`).
    pub camara_profile: CamaraProfile,
    pub operator_timeout: Duration,
    /// `RATE_LIMIT_PER_MINUTE`: API verifications one client (IPv4 address or IPv6 /64;
    /// a /48 eight times as many) may start per minute.
    pub rate_limit_per_minute: u32,
    /// `PAGE_RATE_LIMIT_PER_MINUTE`: the same for the page, a budget of its own: behind
    /// carrier NAT one address is many people's browsers.
    pub page_rate_limit_per_minute: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry (set by a
    /// reverse proxy in front of the app) instead of the TCP peer: the peer is the one
    /// trusted proxy. `trusted_proxies`, when set, replaces this.
    pub trust_proxy: bool,
    /// `TRUSTED_PROXIES`: the address ranges of the proxies in front of the app (a CDN, a
    /// load balancer, your own proxy). The client is the first address, right to left in
    /// `X-Forwarded-For` (or RFC 7239 `Forwarded`), outside them.
    pub trusted_proxies: Vec<IpNet>,
    /// `MAX_CONNECTIONS`: open connections at once; a connection past it is closed at once.
    pub max_connections: usize,
    /// `MAX_CONNECTIONS_PER_CLIENT`: open connections from one address (an IPv4 address or
    /// an IPv6 /64) at once, trusted proxies excepted. Sized for carrier-grade NAT, where
    /// thousands of subscribers share one IPv4 address.
    pub max_connections_per_client: usize,
    /// `REDIS_URL` or `REDIS_CLUSTER_URLS`: the shared store; `None` keeps state in this
    /// process's memory.
    pub redis: Option<RedisAddress>,
    /// `REDIS_PREFIX`: the start of every key this app writes.
    pub redis_prefix: String,
    /// `SESSION_KEYS`: the keys that sign session cookies, the current one first. Empty:
    /// a key of the store's (this process's own, or one shared through Redis in sandbox
    /// and development deployments).
    pub session_keys: Vec<Secret>,
    /// `SHUTDOWN_GRACE_MS`: how long requests in flight may finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// `MAX_PENDING_PER_CLIENT`: verifications one client (IPv4 address or IPv6 /64) may
    /// have in flight; a start past it drops that client's oldest.
    pub max_pending_per_client: usize,
    /// `MAX_PENDING`: verifications in flight at once, memory store only.
    pub max_pending: usize,
    /// `REQUEST_TIMEOUT_MS`: the most one request may take, from its first header byte
    /// to its answer, and how long an idle connection stays open.
    pub request_timeout: Duration,
    /// The OpenID Provider (`OIDC_SIGNING_KEYS`, `RELYING_PARTIES`, …; the sandbox's in
    /// sandbox mode); `None`: off, and the mobile-app API signs no verification token.
    pub oidc: Option<OidcSettings>,
    /// `EVENTS_URL` and `EVENTS_SECRET`: where signed events go; `None`: none are sent.
    pub events: Option<EventsSettings>,
    /// The one-time-code channel's SMS (`VONAGE_API_KEY`…, `OTP_HOOK_*`, `SMS_COUNTRIES`;
    /// the virtual operator's gateway when it is mounted and no sender is set); `None`:
    /// no SMS channel.
    pub sms: Option<SmsSettings>,
}

impl Config {
    /// The one redirect URI for every protocol.
    pub fn redirect_uri(&self) -> RedirectUri {
        self.callback.clone()
    }

    /// Where the virtual operator is reachable from outside, in either sandbox mode.
    pub fn sandbox_public_base(&self) -> String {
        format!("{}{MOUNT}", self.public_url)
    }

    /// Who answers `operator`, or `None` when it is not configured. The virtual
    /// operator's published credentials identify it wherever it runs: a live operator
    /// never issues them.
    pub fn backing(&self, operator: Operator) -> Option<Backing> {
        let sandbox = match operator {
            Operator::MobileConnect => self.mobile_connect.as_ref()?.client_id == credentials::MC_CLIENT_ID,
            Operator::Vonage => self.vonage.as_ref()?.application_id == credentials::VONAGE_APPLICATION_ID,
            Operator::CamaraStandard => self.camara_standard.as_ref()?.client_id == credentials::CAMARA_CLIENT_ID,
        };
        Some(if sandbox {
            Backing::VirtualOperator
        } else {
            Backing::Live
        })
    }

    /// Whether `operator`'s results are test results from the virtual operator.
    pub fn sandbox_backed(&self, operator: Operator) -> bool {
        self.backing(operator).is_some_and(Backing::is_sandbox)
    }

    /// Reads the process environment (and `.env`, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration these variables (and no others) give: what tests and tools
    /// build it from.
    pub fn from_pairs(vars: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    /// Builds the configuration from any variable source.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&get);
        let site_addr = match vars.get("LEPTOS_SITE_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.parse().map_err(|_| {
                ConfigError::new(
                    "LEPTOS_SITE_ADDR",
                    format!("“{v}” is not an address like 127.0.0.1:3000"),
                )
            })?,
        };
        let metrics_addr = settings::metrics_addr(&vars, site_addr)?;
        let public_url = match vars.get("APP_PUBLIC_URL") {
            None => format!("http://{site_addr}"),
            Some(v) => settings::base_url("APP_PUBLIC_URL", &v, true)?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        };
        let callback = RedirectUri::for_origin(&public_url)
            .ok_or_else(|| ConfigError::new("APP_PUBLIC_URL", format!("“{public_url}” is not a URL")))?;

        let sandbox_setting = vars.get("SANDBOX");
        let sandbox = sandbox::mode(sandbox_setting.as_deref(), operators::any_live(&vars), &public_url)?;
        let sandbox_local_only = sandbox::mounted_by_auto(sandbox_setting.as_deref(), sandbox);
        let sandbox_base = Url::parse(&format!("{public_url}{MOUNT}"))
            .map_err(|e| ConfigError::new("APP_PUBLIC_URL", format!("cannot carry {MOUNT}: {e}")))?;
        let sandbox_default_sim = sandbox::default_sim(&vars)?;
        let sandbox_redirect_uris = sandbox::redirect_uris(&vars, sandbox)?;

        // Alone, the virtual operator talks to no operator itself.
        let mounted = (sandbox == SandboxMode::Mounted).then_some(&sandbox_base);
        let (mobile_connect, vonage, camara_standard) = match sandbox {
            SandboxMode::Only => (None, None, None),
            _ => (
                operators::mobile_connect(&vars, mounted)?,
                operators::vonage(&vars, mounted)?,
                operators::camara_standard(&vars, mounted)?,
            ),
        };
        let camara_profile = operators::camara_profile(&vars, vonage.is_some(), camara_standard.is_some())?;
        let operator_timeout = vars.millis("OPERATOR_TIMEOUT_MS", 1..=120_000, 10_000)?;
        let rate_limit_per_minute = vars.count("RATE_LIMIT_PER_MINUTE", 1..=1_000_000, 30)? as u32;
        let page_rate_limit_per_minute = vars.count("PAGE_RATE_LIMIT_PER_MINUTE", 1..=1_000_000, 120)? as u32;
        let trust_proxy = vars.flag("TRUST_PROXY")?;
        let trusted_proxies = settings::trusted_proxies(&vars)?;
        let max_connections = vars.count("MAX_CONNECTIONS", 1..=1_000_000, 10_000)? as usize;
        let max_connections_per_client = vars.count("MAX_CONNECTIONS_PER_CLIENT", 1..=1_000_000, 1_000)? as usize;
        let redis = settings::redis_address(&vars)?;
        let redis_prefix = settings::redis_prefix(&vars)?;
        let session_keys = settings::session_keys(&vars)?;
        // Several live instances must agree on their keys without trusting whatever a
        // Redis that restarted empty hands out.
        if redis.is_some() && sandbox == SandboxMode::Off && session_keys.is_empty() {
            return Err(ConfigError::missing(
                "SESSION_KEYS",
                "the keys that sign session cookies, comma-separated, current first (each at least 32 random \
                 characters, e.g. from `openssl rand -hex 32`); required with Redis in a live deployment",
            ));
        }
        let shutdown_grace = vars.millis("SHUTDOWN_GRACE_MS", 0..=600_000, 10_000)?;
        let max_pending_per_client = vars.count("MAX_PENDING_PER_CLIENT", 1..=1_000_000, 5)? as usize;
        let max_pending = vars.count("MAX_PENDING", 1..=100_000_000, 100_000)? as usize;
        // At most 30 s, so slow clients cannot hold a drain.
        let request_timeout = vars.millis("REQUEST_TIMEOUT_MS", 100..=30_000, 15_000)?;
        let oidc = oidc::oidc(&vars, sandbox)?;
        let events = events::events(&vars)?;
        let sms = sms::sms(&vars, sandbox, &sandbox_base)?;
        // Checked last: a misspelt variable above is the likelier cause, and named first.
        if sandbox != SandboxMode::Only && mobile_connect.is_none() && vonage.is_none() && camara_standard.is_none() {
            return Err(no_operator(sandbox_setting.as_deref(), &public_url));
        }

        Ok(Config {
            site_addr,
            metrics_addr,
            public_url,
            callback,
            sandbox,
            sandbox_local_only,
            sandbox_default_sim,
            sandbox_redirect_uris,
            mobile_connect,
            vonage,
            camara_standard,
            camara_profile,
            operator_timeout,
            rate_limit_per_minute,
            page_rate_limit_per_minute,
            trust_proxy,
            trusted_proxies,
            max_connections,
            max_connections_per_client,
            redis,
            redis_prefix,
            session_keys,
            shutdown_grace,
            max_pending_per_client,
            max_pending,
            request_timeout,
            oidc,
            events,
            sms,
        })
    }
}

/// Why a server with no operator at all cannot start, and what to set.
fn no_operator(sandbox_setting: Option<&str>, public_url: &str) -> ConfigError {
    let set_operator = operators::SET_OPERATOR;
    let is_auto = sandbox_setting.is_none_or(|v| v.eq_ignore_ascii_case("auto"));
    let reason = if !cfg!(feature = "sandbox") {
        format!("has no virtual operator in this build and no operator is configured: {set_operator}")
    } else if is_auto {
        format!(
            "is auto and APP_PUBLIC_URL {public_url} is not a loopback http:// URL, so the virtual \
             operator stays off (fail closed), and no operator is configured: {set_operator}; \
             or SANDBOX=on for a deliberate test deployment"
        )
    } else {
        format!("is off and no operator is configured: {set_operator}; or SANDBOX=on")
    };
    ConfigError::new("SANDBOX", reason)
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
mod tests;
