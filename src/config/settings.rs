//! Reading variables: one lookup that treats empty as unset, one kind of ranged number,
//! and the flat value types (booleans, URLs, the Redis URL), each error naming its
//! variable and never quoting a secret.

use std::{net::IpAddr, ops::RangeInclusive, time::Duration};

use ipnet::IpNet;
use url::Url;

use super::ConfigError;
use crate::support::{redacted::Secret, urls};

/// The variables, from any source. An empty variable counts as unset: `.env` templates
/// leave lines like `MC_CLIENT_ID=`.
pub(super) struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

/// What a ranged number counts, for its error message.
#[derive(Clone, Copy)]
pub(super) enum Unit {
    Milliseconds,
    Whole,
}

/// A number setting: its bounds, its default and what it counts.
pub(super) struct Ranged {
    pub name: &'static str,
    pub range: RangeInclusive<u64>,
    pub default: u64,
    pub unit: Unit,
}

impl<'a> Vars<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { get }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.get)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A set variable, or the error saying what to set it to.
    pub fn required(&self, name: &'static str, what: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::missing(name, what))
    }

    pub fn number(&self, setting: Ranged) -> Result<u64, ConfigError> {
        let Some(value) = self.get(setting.name) else {
            return Ok(setting.default);
        };
        match value.parse::<u64>() {
            Ok(n) if setting.range.contains(&n) => Ok(n),
            _ => {
                let what = match setting.unit {
                    Unit::Milliseconds => "a number of milliseconds",
                    Unit::Whole => "a whole number",
                };
                Err(ConfigError::new(
                    setting.name,
                    format!(
                        "“{value}” is not {what} between {} and {}",
                        setting.range.start(),
                        setting.range.end()
                    ),
                ))
            }
        }
    }

    pub fn millis(
        &self,
        name: &'static str,
        range: RangeInclusive<u64>,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        self.number(Ranged {
            name,
            range,
            default,
            unit: Unit::Milliseconds,
        })
        .map(Duration::from_millis)
    }

    pub fn count(&self, name: &'static str, range: RangeInclusive<u64>, default: u64) -> Result<u64, ConfigError> {
        self.number(Ranged {
            name,
            range,
            default,
            unit: Unit::Whole,
        })
    }

    /// `true`/`false` (also 1/0, on/off, yes/no); unset is false.
    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "off" | "no") => Ok(false),
            Some("true" | "1" | "on" | "yes") => Ok(true),
            Some(other) => Err(ConfigError::new(name, format!("“{other}” is not true or false"))),
        }
    }

    /// A URL the app sends credentials to: https, or http on loopback (see
    /// [`urls::operator_url`]).
    pub fn operator_url(&self, name: &'static str) -> Result<Option<Url>, ConfigError> {
        self.get(name).map(|v| operator_url(name, &v)).transpose()
    }
}

pub(super) fn operator_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    urls::operator_url(value).map_err(|reason| ConfigError::new(name, reason))
}

pub(super) fn base_url(name: &'static str, value: &str, origin_only: bool) -> Result<Url, ConfigError> {
    urls::base_url(value, origin_only).map_err(|reason| ConfigError::new(name, reason))
}

/// Where the shared store is. Secrets: a URL may carry a password.
#[derive(Debug, Clone)]
pub enum RedisAddress {
    /// `REDIS_URL`: one Redis (a primary, perhaps with replicas behind it).
    Single(Secret),
    /// `REDIS_CLUSTER_URLS`: seed nodes of a Redis Cluster; the client learns the rest.
    Cluster(Vec<Secret>),
}

/// `REDIS_URL` or `REDIS_CLUSTER_URLS` (comma-separated), never both.
pub(super) fn redis_address(vars: &Vars) -> Result<Option<RedisAddress>, ConfigError> {
    match (vars.get("REDIS_URL"), vars.get("REDIS_CLUSTER_URLS")) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "REDIS_CLUSTER_URLS",
            "and REDIS_URL are both set: set REDIS_URL for one Redis, or REDIS_CLUSTER_URLS for a Redis Cluster".into(),
        )),
        (Some(url), None) => Ok(Some(RedisAddress::Single(redis_url("REDIS_URL", &url)?))),
        (None, Some(urls)) => {
            let seeds = urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| redis_url("REDIS_CLUSTER_URLS", u))
                .collect::<Result<Vec<_>, _>>()?;
            if seeds.is_empty() {
                return Err(ConfigError::new(
                    "REDIS_CLUSTER_URLS",
                    "names no node: give one or more redis://host:port, comma-separated".into(),
                ));
            }
            Ok(Some(RedisAddress::Cluster(seeds)))
        }
        (None, None) => Ok(None),
    }
}

/// One Redis URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. The
/// error never repeats the value: it may hold a password.
fn redis_url(name: &'static str, value: &str) -> Result<Secret, ConfigError> {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "redis" | "rediss") && url.host_str().is_some() => Ok(Secret::new(value)),
        _ => Err(ConfigError::new(
            name,
            "is not a Redis URL like redis://127.0.0.1:6379/0 (or rediss:// for TLS)".into(),
        )),
    }
}

/// `REDIS_PREFIX`: the start of every key this app writes.
pub(super) fn redis_prefix(vars: &Vars) -> Result<String, ConfigError> {
    match vars.get("REDIS_PREFIX") {
        None => Ok("nv:".to_owned()),
        Some(v) if v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic()) => Ok(v),
        Some(_) => Err(ConfigError::new(
            "REDIS_PREFIX",
            "must be at most 64 visible ASCII characters, e.g. nv:".into(),
        )),
    }
}

/// The shortest session key accepted: 32 bytes, the HMAC-SHA256 block's half, as RFC 2104
/// §3 advises (no shorter than the hash output).
pub(super) const SESSION_KEY_MIN_BYTES: usize = 32;

/// `SESSION_KEYS`: comma-separated keys that sign session cookies, the current one first;
/// the others are still accepted, so a key can be rotated without logging anyone out.
/// The error says which key (by position) is wrong, never its value.
pub(super) fn session_keys(vars: &Vars) -> Result<Vec<Secret>, ConfigError> {
    let Some(value) = vars.get("SESSION_KEYS") else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .enumerate()
        .map(|(at, key)| {
            if key.len() < SESSION_KEY_MIN_BYTES {
                Err(ConfigError::new(
                    "SESSION_KEYS",
                    format!(
                        "key {} is shorter than {SESSION_KEY_MIN_BYTES} characters: use random keys, e.g. `openssl rand -hex 32`",
                        at + 1
                    ),
                ))
            } else {
                Ok(Secret::new(key))
            }
        })
        .collect()
}

/// `TRUSTED_PROXIES`: comma-separated address ranges (`10.0.0.0/8`, `2001:db8::/32`) or
/// single addresses; unset is none.
pub(super) fn trusted_proxies(vars: &Vars) -> Result<Vec<IpNet>, ConfigError> {
    let Some(value) = vars.get("TRUSTED_PROXIES") else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("“{entry}” is not an address or a range like 10.0.0.0/8 or 2001:db8::/32"),
                    )
                })
        })
        .collect()
}

/// `METRICS_ADDR`: an address of its own for Prometheus. The public port is refused: the
/// exposition is for whoever runs the service, not for everyone who can reach the page.
pub(super) fn metrics_addr(
    vars: &Vars,
    site_addr: std::net::SocketAddr,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let Some(value) = vars.get("METRICS_ADDR") else {
        return Ok(None);
    };
    let addr: std::net::SocketAddr = value.parse().map_err(|_| {
        ConfigError::new(
            "METRICS_ADDR",
            format!("“{value}” is not an address like 127.0.0.1:9090"),
        )
    })?;
    if addr.port() != 0 && addr.port() == site_addr.port() {
        return Err(ConfigError::new(
            "METRICS_ADDR",
            format!(
                "{addr} shares the public port of LEPTOS_SITE_ADDR {site_addr}: metrics need a listener of their own \
                 (e.g. 127.0.0.1:9090), never the public one"
            ),
        ));
    }
    Ok(Some(addr))
}
