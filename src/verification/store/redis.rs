//! The shared backend: Redis, through a connection manager that reconnects by itself.
//!
//! Keys (under `REDIS_PREFIX`, default `nv:`) name states and result ids only by their
//! SHA-256, so what Redis shows an operator cannot complete anyone's verification:
//! - `pending:<h>` — a started verification (JSON), until its callback, TTL = lifetime + afterlife;
//! - `taken:<h>` — a state already completed, to answer "replayed";
//! - `result:<h>` — a finished result for the page (JSON), TTL = result lifetime;
//! - `client:<c>` — a client's verifications in flight: a sorted set of the `<h>` of
//!   their states, scored by start time, TTL = lifetime + afterlife;
//! - `starts:<c>:<minute>` — a client's API starts in this minute, TTL one minute;
//! - `page-starts:<c>:<minute>` — the same for the page's starts.
//!
//! `<c>` is an HMAC-SHA256 of the [`ClientKey`] (an IPv4 address, an IPv6 /64 or /48, or
//! for a page flow's slot a hash of its browser session) under a server key: a plain hash
//! of an IPv4 address is undone by trying all 2^32, a keyed one is not. The key derives
//! from `SESSION_KEYS` in a live deployment; without them it is the key Redis shares for
//! sessions, which hides addresses from no one who can read Redis (sandbox and development
//! only). There is no global count of verifications in flight: Redis is bounded by its
//! own memory (`maxmemory`, with the default `noeviction` a full Redis refuses writes,
//! which starts report as `store_unavailable`), and every key expires with its flow.
//! The scripts name some keys they compute (a client's evicted states); that is fine on
//! one Redis (or a primary with replicas), not on Redis Cluster.

use std::time::Duration;

use hmac::{Hmac, Mac};
use redis::{aio::ConnectionManager, AsyncCommands, Script};
use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use super::{now_ms, Budget, ClientKey, Settings, StoreError, StoredResult, Taken, AFTERLIFE};
use crate::{
    operators::OAuthState,
    verification::{ids::ResultId, Pending},
};

/// A command that takes longer than this counts as Redis being unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// GETDEL the pending record and mark its state taken, in one step: two instances
/// redeeming one state concurrently get it exactly once. Returns the record, or
/// "replayed" / "missing".
/// Frees the client's slot too (the record names its client's set), in the same step.
const TAKE: &str = r#"
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  local ok, record = pcall(cjson.decode, value)
  if ok and type(record) == 'table' and type(record.slot) == 'string' then
    redis.call('ZREM', record.slot, ARGV[2])
  end
  return {'found', value}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'replayed', ''}
end
return {'missing', ''}
"#;

/// Writes a pending record into one of its client's slots, in one step: forgets the
/// client's members older than any record can live, drops its oldest records while it
/// holds `max` or more, then adds this one (scored after its newest, so start order is
/// kept within a millisecond). Returns how many were dropped.
/// KEYS: pending key, client set (absent: no client). ARGV: record, lifetime ms, now ms,
/// max per client, this state's hash, the pending key prefix.
const PUT: &str = r#"
local dropped = 0
local set = KEYS[2]
if set then
  local now, keep, max = tonumber(ARGV[3]), tonumber(ARGV[2]), tonumber(ARGV[4])
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now - keep)
  local held = redis.call('ZCARD', set)
  if held >= max then
    for _, h in ipairs(redis.call('ZRANGE', set, 0, held - max)) do
      redis.call('DEL', ARGV[6] .. h)
      redis.call('ZREM', set, h)
      dropped = dropped + 1
    end
  end
  local score = now
  local newest = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 1 end
  redis.call('ZADD', set, score, ARGV[5])
  redis.call('PEXPIRE', set, keep)
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return dropped
"#;

/// Forgets a record whose flow never started, and its slot.
const RELEASE: &str = r#"
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"#;

/// A pending record as Redis holds it: the verification and the key of its client's set.
#[derive(Serialize)]
struct Record<'a> {
    slot: Option<&'a str>,
    pending: &'a Pending,
}

/// Reads records with or without a slot (written before slots existed, by an older
/// instance in a rolling upgrade).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredRecord {
    Slotted { pending: Pending },
    Bare(Pending),
}

/// A fixed one-minute window per client, shared by every instance.
const COUNT_START: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"#;

#[derive(Clone)]
pub struct RedisStore {
    pub(super) settings: Settings,
    connection: ConnectionManager,
    prefix: String,
    /// Names clients in keys (see the module's doc).
    client_names: Hmac<Sha256>,
    take: Script,
    put: Script,
    release: Script,
    count_start: Script,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Unavailable(format!("not a Redis URL: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT + RESPONSE_TIMEOUT,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| StoreError::Unavailable("no answer within the connection timeout".into()))?
        .map_err(unavailable)?;
        let mut store = Self {
            settings,
            connection,
            prefix: prefix.to_owned(),
            // Replaced below by the shared key, or by `name_clients_with`.
            client_names: Hmac::<Sha256>::new_from_slice(&rand::random::<[u8; 32]>())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            take: Script::new(TAKE),
            put: Script::new(PUT),
            release: Script::new(RELEASE),
            count_start: Script::new(COUNT_START),
        };
        store.ping().await?;
        let shared = store.session_key().await?;
        store.name_clients_with(&shared);
        Ok(store)
    }

    fn key(&self, kind: &str, secret: &str) -> String {
        format!("{}{kind}:{}", self.prefix, Self::hash(secret))
    }

    /// The hex SHA-256 that names `state` in keys and client sets.
    fn hash(secret: &str) -> String {
        hex::encode(Sha256::digest(secret.as_bytes()))
    }

    /// `{prefix}{kind}:<HMAC of the client>`.
    fn client_key(&self, kind: &str, client: ClientKey) -> String {
        let mut mac = self.client_names.clone();
        mac.update(client.to_string().as_bytes());
        format!("{}{kind}:{}", self.prefix, hex::encode(mac.finalize().into_bytes()))
    }

    fn client_set(&self, client: ClientKey) -> String {
        self.client_key("client", client)
    }

    /// Names clients with this key from now on (derived from `SESSION_KEYS`).
    pub fn name_clients_with(&mut self, key: &[u8]) {
        if let Ok(mac) = Hmac::<Sha256>::new_from_slice(key) {
            self.client_names = mac;
        }
    }

    pub async fn put_pending(
        &self,
        state: &OAuthState,
        pending: &Pending,
        client: Option<ClientKey>,
    ) -> Result<usize, StoreError> {
        let set = client.map(|c| self.client_set(c));
        let value = serde_json::to_string(&Record {
            slot: set.as_deref(),
            pending,
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keep = millis(self.settings.pending_ttl + AFTERLIFE);
        let mut invocation = self.put.key(self.key("pending", state.secret()));
        if let Some(set) = &set {
            invocation.key(set);
        }
        invocation
            .arg(value)
            .arg(keep)
            .arg(now_ms())
            .arg(client.map_or(1, |c| self.settings.pending_allowed(c)))
            .arg(Self::hash(state.secret()))
            .arg(format!("{}pending:", self.prefix));
        let mut connection = self.connection.clone();
        invocation.invoke_async(&mut connection).await.map_err(unavailable)
    }

    pub async fn release_pending(&self, state: &OAuthState, client: Option<ClientKey>) -> Result<(), StoreError> {
        let mut invocation = self.release.key(self.key("pending", state.secret()));
        if let Some(client) = client {
            invocation.key(self.client_set(client));
        }
        invocation.arg(Self::hash(state.secret()));
        let mut connection = self.connection.clone();
        invocation
            .invoke_async::<i64>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    pub async fn take_pending(&self, state: &OAuthState) -> Result<Taken, StoreError> {
        let mut connection = self.connection.clone();
        let (status, value): (String, String) = self
            .take
            .key(self.key("pending", state.secret()))
            .key(self.key("taken", state.secret()))
            .arg(millis(self.settings.pending_ttl + AFTERLIFE))
            .arg(Self::hash(state.secret()))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(match status.as_str() {
            "found" => {
                let pending = match serde_json::from_str(&value).map_err(|e| StoreError::Corrupt(e.to_string()))? {
                    StoredRecord::Slotted { pending } | StoredRecord::Bare(pending) => pending,
                };
                if pending.expires_at_ms <= now_ms() {
                    Taken::Expired
                } else {
                    Taken::Found(pending)
                }
            }
            "replayed" => Taken::Replayed,
            _ => Taken::Missing,
        })
    }

    pub async fn put_result(&self, id: &ResultId, result: &StoredResult) -> Result<(), StoreError> {
        let value = serde_json::to_string(result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key("result", id.secret()), value, millis(self.settings.result_ttl))
            .await
            .map_err(unavailable)
    }

    pub async fn get_result(&self, id: &ResultId) -> Result<Option<StoredResult>, StoreError> {
        let mut connection = self.connection.clone();
        let value: Option<String> = connection
            .get(self.key("result", id.secret()))
            .await
            .map_err(unavailable)?;
        value
            .map(|v| serde_json::from_str(&v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    pub async fn allow_start(&self, client: ClientKey, budget: Budget, per_minute: u32) -> Result<bool, StoreError> {
        let minute = now_ms() / 60_000;
        let kind = match budget {
            Budget::Api => "starts",
            Budget::Page => "page-starts",
        };
        let key = format!("{}:{minute}", self.client_key(kind, client));
        let mut connection = self.connection.clone();
        let count: u64 = self
            .count_start
            .key(key)
            .arg(60_000u64)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(count <= u64::from(per_minute))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// The session-signing key every instance shares: the first instance to start sets a
    /// random one (NX), every instance reads the one that won.
    pub async fn session_key(&self) -> Result<Vec<u8>, StoreError> {
        let key = format!("{}session-key", self.prefix);
        let mut connection = self.connection.clone();
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        redis::cmd("SET")
            .arg(&key)
            .arg(&candidate)
            .arg("NX")
            .query_async::<Option<String>>(&mut connection)
            .await
            .map_err(unavailable)?;
        let stored: Option<String> = connection.get(&key).await.map_err(unavailable)?;
        stored
            .and_then(|v| hex::decode(v).ok())
            .filter(|k| k.len() == 32)
            .ok_or_else(|| StoreError::Corrupt("the session key is not 64 hex digits".into()))
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().max(1) as u64
}

/// Redis errors carry no keys or values in their text; keep it short anyway.
fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string().chars().take(160).collect())
}

/// Redeems an authorization code at most once across every instance: GETDEL the code and
/// leave a marker naming what the first redemption issued (ARGV[1]), so a second use can
/// revoke it (RFC 6749 §4.1.2). Both keys are the code's own.
const REDEEM_CODE: &str = r#"
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'found', value}
end
local issued = redis.call('GET', KEYS[2])
if issued then
  return {'replayed', issued}
end
return {'missing', ''}
"#;

/// The OpenID Provider's records: authorization codes (`code:<h>`, then
/// `code-used:<h>` naming what its redemption issued), revoked access tokens
/// (`revoked:<h of the token id>`) and values that may be used once
/// (`<kind>:<h>`, e.g. client assertion ids). Every key names its value by SHA-256.
impl RedisStore {
    pub async fn put_code(&self, code: &str, value: &str, keep: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key("code", code), value, millis(keep))
            .await
            .map_err(unavailable)
    }

    pub async fn redeem_code(&self, code: &str, issued: &str, keep: Duration) -> Result<super::Redeemed, StoreError> {
        let mut connection = self.connection.clone();
        static REDEEM: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(REDEEM_CODE));
        let (status, value): (String, String) = REDEEM
            .key(self.key("code", code))
            .key(self.key("code-used", code))
            .arg(issued)
            .arg(millis(keep))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(match status.as_str() {
            "found" => super::Redeemed::Found(value),
            "replayed" => super::Redeemed::Replayed { issued: value },
            _ => super::Redeemed::Missing,
        })
    }

    pub async fn revoke(&self, id: &str, keep: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key("revoked", id), "1", millis(keep))
            .await
            .map_err(unavailable)
    }

    pub async fn is_revoked(&self, id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        connection.exists(self.key("revoked", id)).await.map_err(unavailable)
    }

    pub async fn first_use(&self, kind: &str, id: &str, keep: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(kind, id))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(millis(keep))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }
}
