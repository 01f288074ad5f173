//! The shared backend: Redis, through a connection manager that reconnects by itself.
//!
//! Keys (under `REDIS_PREFIX`, default `nv:`) name states and result ids only by their
//! SHA-256, so what Redis shows an operator cannot complete anyone's verification:
//! - `pending:<h>` — a started verification (JSON), until its callback, TTL = lifetime + afterlife;
//! - `taken:<h>` — a state already completed, to answer "replayed";
//! - `result:<h>` — a finished result for the page (JSON), TTL = result lifetime;
//! - `starts:<ip>:<minute>` — a client's starts in this minute, TTL one minute.

use std::{net::IpAddr, time::Duration};

use redis::{aio::ConnectionManager, AsyncCommands, Script};
use sha2::{Digest, Sha256};

use super::{now_ms, Settings, StoreError, StoredResult, Taken, AFTERLIFE};
use crate::{
    operators::State,
    verification::{ids::ResultId, Pending},
};

/// A command that takes longer than this counts as Redis being unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// GETDEL the pending record and mark its state taken, in one step: two instances
/// redeeming one state concurrently get it exactly once. Returns the record, or
/// "replayed" / "missing".
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
    take: Script,
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
        let store = Self {
            settings,
            connection,
            prefix: prefix.to_owned(),
            take: Script::new(TAKE),
            count_start: Script::new(COUNT_START),
        };
        store.ping().await?;
        Ok(store)
    }

    fn key(&self, kind: &str, secret: &str) -> String {
        format!(
            "{}{kind}:{}",
            self.prefix,
            hex::encode(Sha256::digest(secret.as_bytes()))
        )
    }

    pub async fn put_pending(&self, state: &State, pending: &Pending) -> Result<(), StoreError> {
        let value = serde_json::to_string(pending).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keep = millis(self.settings.pending_ttl + AFTERLIFE);
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key("pending", state.secret()), value, keep)
            .await
            .map_err(unavailable)
    }

    pub async fn take_pending(&self, state: &State) -> Result<Taken, StoreError> {
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
                let pending: Pending = serde_json::from_str(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
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

    pub async fn allow_start(&self, client: IpAddr) -> Result<bool, StoreError> {
        let minute = now_ms() / 60_000;
        let key = format!("{}starts:{client}:{minute}", self.prefix);
        let mut connection = self.connection.clone();
        let count: u64 = self
            .count_start
            .key(key)
            .arg(60_000u64)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(count <= u64::from(self.settings.starts_per_minute))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().max(1) as u64
}

/// Redis errors carry no keys or values in their text; keep it short anyway.
fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string().chars().take(160).collect())
}
