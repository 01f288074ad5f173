//! The shared backend: one Redis, through a connection manager that reconnects by
//! itself, or a Redis Cluster (`REDIS_CLUSTER_URLS`), through the cluster client.
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
//! On a cluster `<h>` is written `{<h>}`, a hash tag: a flow's `pending` and `taken` keys
//! share a slot, so taking a state stays one atomic step and single use across
//! instances. Every script declares every key it touches, and each touches one slot
//! only: a client's set is updated by a script of its own, and the records it evicts
//! are deleted by commands of their own.
//!
//! `<c>` is an HMAC-SHA256 of the [`ClientKey`] (an IPv4 address, an IPv6 /64 or /48, or
//! for a page flow's slot a hash of its browser session) under a server key: a plain hash
//! of an IPv4 address is undone by trying all 2^32, a keyed one is not. The key derives
//! from `SESSION_KEYS` in a live deployment; without them it is the key Redis shares for
//! sessions, which hides addresses from no one who can read Redis (sandbox and development
//! only). There is no global count of verifications in flight: Redis is bounded by its
//! own memory (`maxmemory`, with the default `noeviction` a full Redis refuses writes,
//! which starts report as `store_unavailable`), and every key expires with its flow.

use std::time::Duration;

use hmac::{Hmac, Mac};
use redis::{AsyncCommands, Script};
use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

mod channels;
mod records;

use super::{now_ms, Budget, ClientKey, Settings, StoreError, StoredResult, Taken, AFTERLIFE};
use crate::{
    operators::OAuthState,
    support::redis_connection::Connection,
    verification::{ids::ResultId, Pending},
};

// The subscriber connects within the same bound as every other connection.
use crate::support::redis_connection::CONNECT_TIMEOUT;

/// GETDEL the pending record and mark its state taken, in one step: two instances
/// redeeming one state concurrently get it exactly once. Returns the record, or
/// "replayed" / "missing". Both keys are the flow's (one hash slot on a cluster); its
/// client's slot is freed after, by a command of its own.
const TAKE: &str = r#"
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  return {'found', value}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'replayed', ''}
end
return {'missing', ''}
"#;

/// Takes one of a client's slots, in one step: forgets the client's members older than
/// any record can live, removes its oldest while it holds `max` or more, then adds this
/// one (scored after its newest, so start order is kept within a millisecond). Returns
/// the hashes of the states it removed: their records are deleted after, each by a
/// command of its own (they live in other hash slots on a cluster).
/// KEYS: the client's set. ARGV: lifetime ms, now ms, max per client, this state's hash.
const TAKE_SLOT: &str = r#"
local set = KEYS[1]
local keep, now, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', set, '-inf', now - keep)
local held = redis.call('ZCARD', set)
local dropped = {}
if held >= max then
  dropped = redis.call('ZRANGE', set, 0, held - max)
  for _, h in ipairs(dropped) do redis.call('ZREM', set, h) end
end
local score = now
local newest = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 1 end
redis.call('ZADD', set, score, ARGV[4])
redis.call('PEXPIRE', set, keep)
return dropped
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
    Slotted { slot: Option<String>, pending: Pending },
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
    connection: Connection,
    prefix: String,
    /// Names clients in keys (see the module's doc).
    client_names: Hmac<Sha256>,
    take: Script,
    take_slot: Script,
    count_start: Script,
    /// Where a subscriber connects: the one Redis, or the cluster's seeds (a message
    /// published on any node of a cluster reaches every node's subscribers).
    listen_at: Vec<String>,
}

impl RedisStore {
    /// One Redis at `url` (`redis://` or `rediss://`).
    pub async fn connect(url: &str, prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        let connection = Connection::connect(url).await.map_err(StoreError::Unavailable)?;
        Self::over(connection, vec![url.to_owned()], prefix, settings).await
    }

    /// A Redis Cluster, found from any of its `seeds` (`redis://host:port` each): the
    /// client learns the slot map and follows it as it changes.
    pub async fn connect_cluster(seeds: &[&str], prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        let connection = Connection::connect_cluster(seeds)
            .await
            .map_err(StoreError::Unavailable)?;
        let seeds = seeds.iter().map(|s| (*s).to_owned()).collect();
        Self::over(connection, seeds, prefix, settings).await
    }

    async fn over(
        connection: Connection,
        listen_at: Vec<String>,
        prefix: &str,
        settings: Settings,
    ) -> Result<Self, StoreError> {
        let mut store = Self {
            settings,
            connection,
            prefix: prefix.to_owned(),
            // Replaced below by the shared key, or by `name_clients_with`.
            client_names: Hmac::<Sha256>::new_from_slice(&rand::random::<[u8; 32]>())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            take: Script::new(TAKE),
            take_slot: Script::new(TAKE_SLOT),
            count_start: Script::new(COUNT_START),
            listen_at,
        };
        store.ping().await?;
        let shared = store.session_key().await?;
        store.name_clients_with(&shared);
        Ok(store)
    }

    /// `{prefix}{kind}:<SHA-256 of secret>`; on a cluster the hash is a hash tag
    /// (`{…}`), so every key of one flow lands in one slot and a script may touch them
    /// together. One Redis keeps the names it always had: a rolling upgrade finds the
    /// flows the previous version started.
    fn key(&self, kind: &str, secret: &str) -> String {
        self.key_of_hash(kind, &Self::hash(secret))
    }

    fn key_of_hash(&self, kind: &str, hash: &str) -> String {
        match self.connection {
            Connection::Single(_) => format!("{}{kind}:{hash}", self.prefix),
            Connection::Cluster(_) => format!("{}{kind}:{{{hash}}}", self.prefix),
        }
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

    /// Writes the record, then takes one of the client's slots, dropping its oldest past
    /// the cap. In this order, every member of a client's set has its record written
    /// already, so a start that evicts it deletes it for good: written the other way
    /// round, a concurrent start could delete a record not yet written, and the client
    /// would keep more than its share. A crash between the two leaves a record with no
    /// slot, which expires with its lifetime; its state was never given out.
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
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key("pending", state.secret()), value, keep)
            .await
            .map_err(unavailable)?;
        let (Some(set), Some(client)) = (&set, client) else {
            return Ok(0);
        };
        let dropped: Vec<String> = self
            .take_slot
            .key(set)
            .arg(keep)
            .arg(now_ms())
            .arg(self.settings.pending_allowed(client))
            .arg(Self::hash(state.secret()))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        for hash in &dropped {
            connection
                .del::<_, ()>(self.key_of_hash("pending", hash))
                .await
                .map_err(unavailable)?;
        }
        Ok(dropped.len())
    }

    pub async fn release_pending(&self, state: &OAuthState, client: Option<ClientKey>) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .del::<_, ()>(self.key("pending", state.secret()))
            .await
            .map_err(unavailable)?;
        if let Some(client) = client {
            connection
                .zrem::<_, _, ()>(self.client_set(client), Self::hash(state.secret()))
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    pub async fn take_pending(&self, state: &OAuthState) -> Result<Taken, StoreError> {
        let mut connection = self.connection.clone();
        let (status, value): (String, String) = self
            .take
            .key(self.key("pending", state.secret()))
            .key(self.key("taken", state.secret()))
            .arg(millis(self.settings.pending_ttl + AFTERLIFE))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(match status.as_str() {
            "found" => {
                let stored: StoredRecord =
                    serde_json::from_str(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let pending = match stored {
                    StoredRecord::Slotted { slot, pending } => {
                        if let Some(slot) = slot {
                            self.free_slot(&slot, state).await;
                        }
                        pending
                    }
                    StoredRecord::Bare(pending) => pending,
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

    /// Frees a taken flow's slot. The flow is already taken, so a failure here costs
    /// nothing but the slot, which its set forgets after one lifetime: logged, not raised.
    async fn free_slot(&self, slot: &str, state: &OAuthState) {
        let mut connection = self.connection.clone();
        if let Err(error) = connection.zrem::<_, _, ()>(slot, Self::hash(state.secret())).await {
            tracing::warn!(error = %unavailable(error), "could not free a completed verification's slot");
        }
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
