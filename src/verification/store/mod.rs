//! Where verifications in flight, finished results and rate-limit counters live: one
//! interface, two backends with one behaviour.
//!
//! - **memory** (the default when `REDIS_URL` is unset): this process only; a restart
//!   loses every flow in progress.
//! - **Redis** (`REDIS_URL`): shared by every instance, kept across restarts; expiry by
//!   Redis TTLs; taking a pending verification is atomic and single use across instances.
//!
//! Values hold what the flow needs and nothing more: no operator token ever; the number
//! only until the flow completes (pending) and, for the page, in its result.
//!
//! Limits are per client ([`ClientKey`]: an IPv4 address, an IPv6 /64 and its /48), never
//! only global, so that no flood from a few addresses can lock everyone else out. One
//! IPv4 address is often many people (carrier-grade NAT), so the page and the API do not
//! share what they are limited by:
//! - starts per minute, one budget for the API (`RATE_LIMIT_PER_MINUTE`) and one for the
//!   page (`PAGE_RATE_LIMIT_PER_MINUTE`); an IPv6 /48 has [`SITE_MULTIPLE`] times the
//!   /64's budget, so one allocation's 65,536 /64s cannot fill the store;
//! - verifications in flight: an API client (address) holds `MAX_PENDING_PER_CLIENT`, a
//!   page flow's slot belongs to its browser session ([`PENDING_PER_SESSION`]), so
//!   another person behind the same address cannot push it out. Past the cap, that
//!   holder's *oldest* pending verification is dropped to make room, never the new one. A
//!   person who retries always gets through; the dropped verification's callback
//!   answers as for an unknown state;
//! - in memory only, a global `MAX_PENDING`, large enough that filling it takes more
//!   addresses than a flood has (then starts are refused, `StoreError::Full`). Redis has
//!   no such count: it is bounded by its own memory (`maxmemory`), and every key it holds
//!   expires with its flow.

mod memory;
mod redis;

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::{ids::ResultId, ids::SessionId, Pending};
use crate::{operators::OAuthState, outcome::Outcome};

/// Page flows one browser session may have in flight; a start past it drops the
/// session's oldest. A person retries a few times at most; the slot is theirs alone.
pub const PENDING_PER_SESSION: usize = 3;

/// An IPv6 /48 may start this many times what one of its /64s may.
pub const SITE_MULTIPLE: u32 = 8;

/// Which start budget a start spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// The mobile-app JSON API (`RATE_LIMIT_PER_MINUTE`).
    Api,
    /// The page (`PAGE_RATE_LIMIT_PER_MINUTE`).
    Page,
}

/// Lifetimes and bounds, the same for both backends.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a started verification may take.
    pub pending_ttl: Duration,
    /// How long a finished result stays readable for the page.
    pub result_ttl: Duration,
    /// API starts per client per minute.
    pub starts_per_minute: u32,
    /// Page starts per client per minute.
    pub page_starts_per_minute: u32,
    /// Verifications one client may have in flight; a start past it drops that client's
    /// oldest.
    pub max_pending_per_client: usize,
    /// Verifications in flight at once in the memory backend (Redis: its own memory).
    pub max_pending: usize,
}

impl Settings {
    /// Starts per minute `key` may make from `budget`: a /48 a multiple of a /64's.
    pub fn starts_allowed(&self, key: ClientKey, budget: Budget) -> u32 {
        let per_client = match budget {
            Budget::Api => self.starts_per_minute,
            Budget::Page => self.page_starts_per_minute,
        };
        match key {
            ClientKey::V6Site(_) => per_client.saturating_mul(SITE_MULTIPLE),
            _ => per_client,
        }
    }

    /// Verifications `holder` may have in flight.
    pub fn pending_allowed(&self, holder: ClientKey) -> usize {
        match holder {
            ClientKey::Session(_) => PENDING_PER_SESSION,
            _ => self.max_pending_per_client.max(1),
        }
    }
}
/// Who a limit applies to: an IPv4 address, or the /64 of an IPv6 address (one
/// subscriber's network: every address in it is the client's for free) and its /48 (one
/// allocation: all its /64s are too). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, a
/// dual-stack socket) is its IPv4 address. A page flow's slot is held by its browser
/// session instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The first 64 bits.
    V6(u64),
    /// The first 48 bits (of a /64's key: its [`ClientKey::site`]).
    V6Site(u64),
    /// A browser session, by the first half of its SHA-256: never the cookie itself.
    Session([u8; 16]),
}

impl ClientKey {
    /// The /48 an IPv6 /64 belongs to.
    pub fn site(self) -> Option<ClientKey> {
        match self {
            ClientKey::V6(net) => Some(ClientKey::V6Site(net >> 16)),
            _ => None,
        }
    }

    /// The holder of a page flow's slot.
    pub fn session(session: &SessionId) -> ClientKey {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(session.secret().as_bytes());
        let mut half = [0u8; 16];
        half.copy_from_slice(&digest[..16]);
        ClientKey::Session(half)
    }
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// `192.0.2.1` or `2001:db8:0:1::/64`: what Redis keys hash, never logged.
impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::V4(v4) => write!(f, "{v4}"),
            ClientKey::V6(net) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*net) << 64)),
            ClientKey::V6Site(net) => write!(f, "{}/48", Ipv6Addr::from(u128::from(*net) << 80)),
            ClientKey::Session(hash) => write!(f, "session {}", hex::encode(hash)),
        }
    }
}

/// How long past its own expiry a pending verification (or a completed state) is kept,
/// so a late callback hears "expired" or "replayed" rather than "unknown".
pub const AFTERLIFE: Duration = Duration::from_secs(10 * 60);

/// Taking a pending verification.
#[derive(Debug, PartialEq)]
pub enum Taken {
    Found(Pending),
    Expired,
    /// Taken before (by this instance or another).
    Replayed,
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend does not answer (Redis down, timed out, refused).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The memory backend holds as many verifications in flight as it may.
    #[error("the store is full: MAX_PENDING verifications in flight")]
    Full,
    /// A value that does not decode (another version wrote it, or it was tampered with).
    #[error("a stored value does not decode: {0}")]
    Corrupt(String),
}

/// Redeeming an authorization code.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The code's record; it is gone now.
    Found(String),
    /// Redeemed before (here or on another instance): what that redemption issued.
    Replayed { issued: String },
    /// Never issued, or expired and forgotten.
    Missing,
}

/// A finished verification as kept for the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub owner: SessionId,
    pub outcome: Outcome,
}

#[derive(Clone)]
pub enum Store {
    Memory(memory::MemoryStore),
    /// Boxed (connection, scripts, prefix) so a `Store` stays the size of a handle.
    Redis(Box<redis::RedisStore>),
}

impl Store {
    pub fn memory(settings: Settings) -> Self {
        Store::Memory(memory::MemoryStore::new(settings))
    }

    /// Names clients in the store's keys with `key` (derived from `SESSION_KEYS`); the
    /// memory store keeps no names anyone else can read.
    pub fn name_clients_with(mut self, key: &[u8]) -> Self {
        if let Store::Redis(store) = &mut self {
            store.name_clients_with(key);
        }
        self
    }

    /// Connects to Redis (`redis://` or `rediss://`); fails if it does not answer now.
    pub async fn redis(url: &str, prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        Ok(Store::Redis(Box::new(
            redis::RedisStore::connect(url, prefix, settings).await?,
        )))
    }

    /// Connects to a Redis Cluster through any of its `seeds`; fails if none answers now.
    pub async fn redis_cluster(seeds: &[&str], prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        Ok(Store::Redis(Box::new(
            redis::RedisStore::connect_cluster(seeds, prefix, settings).await?,
        )))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    pub fn settings(&self) -> Settings {
        match self {
            Store::Memory(s) => s.settings,
            Store::Redis(s) => s.settings,
        }
    }

    /// Records a started verification under its state, in one of `client`'s slots: if
    /// the client already holds `max_pending_per_client`, its oldest is dropped first.
    /// Returns how many were dropped (0 or 1). `Full` only from the memory backend.
    pub async fn put_pending(
        &self,
        state: &OAuthState,
        pending: &Pending,
        client: Option<ClientKey>,
    ) -> Result<usize, StoreError> {
        match self {
            Store::Memory(s) => s.put_pending(state, pending, client),
            Store::Redis(s) => s.put_pending(state, pending, client).await,
        }
    }

    /// Forgets a verification that never got under way (its operator call failed), and
    /// frees its slot: its state was never given out.
    pub async fn release_pending(&self, state: &OAuthState, client: Option<ClientKey>) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.release_pending(state);
                Ok(())
            }
            Store::Redis(s) => s.release_pending(state, client).await,
        }
    }

    /// Takes the verification under `state`, at most once across every instance; frees
    /// its client's slot.
    pub async fn take_pending(&self, state: &OAuthState) -> Result<Taken, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.take_pending(state)),
            Store::Redis(s) => s.take_pending(state).await,
        }
    }

    pub async fn put_result(&self, id: &ResultId, result: &StoredResult) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.put_result(id, result);
                Ok(())
            }
            Store::Redis(s) => s.put_result(id, result).await,
        }
    }

    pub async fn get_result(&self, id: &ResultId) -> Result<Option<StoredResult>, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.get_result(id)),
            Store::Redis(s) => s.get_result(id).await,
        }
    }

    /// Counts a start from `budget` by `client` (and, for an IPv6 /64, by its /48);
    /// `false` once either is past its starts per minute. A /64 past its own budget
    /// spends nothing of its /48's: one /64's flood takes at most its own share of the
    /// /48, and the other /64s there still get in.
    pub async fn allow_start(&self, client: ClientKey, budget: Budget) -> Result<bool, StoreError> {
        for key in std::iter::once(client).chain(client.site()) {
            let limit = self.settings().starts_allowed(key, budget);
            let allowed = match self {
                Store::Memory(s) => s.allow_start(key, budget, limit),
                Store::Redis(s) => s.allow_start(key, budget, limit).await?,
            };
            if !allowed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the store answers now (for `/healthz`).
    pub async fn health(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.ping().await,
        }
    }

    /// The key that signs session cookies: the same on every instance sharing this store.
    /// Asked once, at start-up.
    pub async fn session_key(&self) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.session_key()),
            Store::Redis(s) => s.session_key().await,
        }
    }
}

/// Records a flow reads once, by `kind` and an id that is itself a secret (a
/// credential request's): the value until `ttl`, taken at most once across instances.
impl Store {
    pub async fn put_once(&self, kind: &'static str, id: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.put_once(kind, id, value, ttl),
            Store::Redis(s) => s.put_once(kind, id, &value, ttl).await,
        }
    }

    pub async fn take_once(&self, kind: &'static str, id: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.take_once(kind, id)),
            Store::Redis(s) => s.take_once(kind, id).await,
        }
    }
}

/// Records several steps read and rewrite (a handoff's: the desktop's page reads it
/// until the phone's verdict is in it), by `kind` and an id that is itself a secret.
impl Store {
    /// Keeps `value` until `ttl`, replacing what was there.
    pub async fn put_kept(&self, kind: &'static str, id: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.put_kept(kind, id, value, ttl),
            Store::Redis(s) => s.put_kept(kind, id, &value, ttl).await,
        }
    }

    pub async fn get_kept(&self, kind: &'static str, id: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.get_kept(kind, id)),
            Store::Redis(s) => s.get_kept(kind, id).await,
        }
    }

    /// Whether `holder` holds `id` of `kind`: the first to claim it (for `ttl`) holds it,
    /// on any instance, and goes on holding it; anyone else is refused.
    pub async fn claim(&self, kind: &'static str, id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => s.claim(kind, id, holder, ttl),
            Store::Redis(s) => s.claim(kind, id, holder, ttl).await,
        }
    }

    /// Tells every instance listening on `channel` (see [`Store::listen`]) that something
    /// named `message` changed. One process: nothing to do beyond the caller's own.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.publish(channel, message).await,
        }
    }

    /// Forwards every message published on `channel` by any instance to `to`, for as long
    /// as `to` lives, reconnecting after a failure. Nothing for the memory store,
    /// whose only instance is this one.
    pub fn listen(&self, channel: &str, to: std::sync::Weak<tokio::sync::broadcast::Sender<String>>) {
        if let Store::Redis(s) = self {
            s.listen(channel, to);
        }
    }
}

/// Records guessed at (a one-time code's digest), by kind and an id that is itself a
/// secret: each attempt is counted before its guess is judged, on any instance, so
/// guesses sent in parallel cannot pass the budget. And counts per day (a number's or a
/// country's codes sent).
impl Store {
    /// Keeps `value` until `ttl` with no attempts yet, replacing what was there.
    pub async fn put_guarded(
        &self,
        kind: &'static str,
        id: &str,
        value: String,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.put_guarded(kind, id, value, ttl),
            Store::Redis(s) => s.put_guarded(kind, id, &value, ttl).await,
        }
    }

    /// Counts one attempt: the value and how many attempts it has had, this one included;
    /// `None` when it is gone (expired, removed, never there).
    pub async fn attempt(&self, kind: &'static str, id: &str) -> Result<Option<(String, u32)>, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.attempt(kind, id)),
            Store::Redis(s) => s.attempt(kind, id).await,
        }
    }

    /// Removes it: `true` for the one caller, on any instance, that removed it.
    pub async fn remove_guarded(&self, kind: &'static str, id: &str) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.remove_guarded(kind, id)),
            Store::Redis(s) => s.remove_guarded(kind, id).await,
        }
    }

    /// Counts one more `kind` for `subject` in the current UTC day, on every instance:
    /// whether the count is still within `limit`. `subject` is named in Redis by its
    /// SHA-256 only (it may be a phone number).
    pub async fn count_daily(&self, kind: &'static str, subject: &str, limit: u32) -> Result<bool, StoreError> {
        let day = now_ms() / DAY_MS;
        let count = match self {
            Store::Memory(s) => s.count_daily(kind, subject, day),
            Store::Redis(s) => s.count_daily(kind, subject, day).await?,
        };
        Ok(count <= u64::from(limit))
    }
}

/// A UTC day in milliseconds: daily limits reset at midnight UTC on every instance.
pub const DAY_MS: u64 = 86_400_000;

/// The OpenID Provider's records: codes (single use across every instance), revoked
/// tokens, values that may be used once. Values are opaque strings to the store.
impl Store {
    /// Keeps an authorization code's record for `keep`.
    pub async fn put_code(&self, code: &str, value: &str, keep: Duration) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.put_code(code, value, keep);
                Ok(())
            }
            Store::Redis(s) => s.put_code(code, value, keep).await,
        }
    }

    /// Takes a code's record at most once across every instance, leaving `issued` (the id
    /// of what this redemption will issue) for `keep`, so that a replay can revoke it.
    pub async fn redeem_code(&self, code: &str, issued: &str, keep: Duration) -> Result<Redeemed, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.redeem_code(code, issued, keep)),
            Store::Redis(s) => s.redeem_code(code, issued, keep).await,
        }
    }

    /// Revokes the token with this id for `keep` (its remaining lifetime at most).
    pub async fn revoke(&self, id: &str, keep: Duration) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => {
                s.revoke(id, keep);
                Ok(())
            }
            Store::Redis(s) => s.revoke(id, keep).await,
        }
    }

    pub async fn is_revoked(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.is_revoked(id)),
            Store::Redis(s) => s.is_revoked(id).await,
        }
    }

    /// `true` the first time `id` of `kind` is seen within `keep` (a client assertion's
    /// `jti`, RFC 7523 §3), on any instance; `false` after.
    pub async fn first_use(&self, kind: &str, id: &str, keep: Duration) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.first_use(kind, id, keep)),
            Store::Redis(s) => s.first_use(kind, id, keep).await,
        }
    }
}

/// Milliseconds since the Unix epoch, the clock expiry is judged by on every instance.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::from(ip.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("2001:db8:1:2::9").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2::9").site().unwrap().to_string(), "2001:db8:1::/48");
        assert_eq!(key("2001:db8:1:2::9").site(), key("2001:db8:1:ffff::1").site());
        assert_ne!(key("2001:db8:1:2::9").site(), key("2001:db8:2:2::1").site());
        assert_eq!(key("192.0.2.1").site(), None);
    }
}
