//! Records beside the verifications in flight: the OpenID Provider's codes, revocations
//! and one-time values, and records a flow reads once (a credential request). Every key
//! comes from [`RedisStore::key`], so a script's keys share one hash slot on a cluster.

use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::{millis, unavailable, RedisStore};
use crate::verification::store::StoreError;

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

    pub async fn redeem_code(
        &self,
        code: &str,
        issued: &str,
        keep: Duration,
    ) -> Result<crate::verification::store::Redeemed, StoreError> {
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
            "found" => crate::verification::store::Redeemed::Found(value),
            "replayed" => crate::verification::store::Redeemed::Replayed { issued: value },
            _ => crate::verification::store::Redeemed::Missing,
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

/// Records read once: `<kind>:<h of the id>`, SET with a TTL, then GETDEL (one command:
/// single use across instances).
impl RedisStore {
    pub async fn put_once(&self, kind: &str, id: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .pset_ex::<_, _, ()>(self.key(kind, id), value, millis(ttl))
            .await
            .map_err(unavailable)
    }

    pub async fn take_once(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("GETDEL")
            .arg(self.key(kind, id))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}

/// Records read and rewritten: `<kind>:<h of the id>`, SET with a TTL, GET; a claim is
/// SET NX, and whoever wrote it holds it.
impl RedisStore {
    pub async fn put_kept(&self, kind: &str, id: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.put_once(kind, id, value, ttl).await
    }

    pub async fn get_kept(&self, kind: &str, id: &str) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        connection.get(self.key(kind, id)).await.map_err(unavailable)
    }

    pub async fn claim(&self, kind: &str, id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let key = self.key(kind, id);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        if set.is_some() {
            return Ok(true);
        }
        // The value never changes once set: reading it after the refused SET is safe.
        let held: Option<String> = connection.get(&key).await.map_err(unavailable)?;
        Ok(held.as_deref() == Some(holder))
    }
}

/// Writes a guarded record: a hash of the value and its attempts, expiring with it.
const PUT_GUARDED: &str = r#"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// Counts an attempt at a guarded record that exists (HINCRBY alone would create one
/// with no expiry): the value and the attempts so far, or nil.
const ATTEMPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
return {redis.call('HGET', KEYS[1], 'v'), n}
"#;

/// A count for the day, expiring a little after the day ends.
const COUNT_DAILY: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"#;

/// Records guessed at: `<kind>:<h of the id>`, a hash {v, n}; daily counts:
/// `<kind>-daily:<h of subject and day>`.
impl RedisStore {
    pub async fn put_guarded(&self, kind: &str, id: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        static PUT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(PUT_GUARDED));
        let mut connection = self.connection.clone();
        PUT.key(self.key(kind, id))
            .arg(value)
            .arg(millis(ttl))
            .invoke_async::<i64>(&mut connection)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    pub async fn attempt(&self, kind: &str, id: &str) -> Result<Option<(String, u32)>, StoreError> {
        static TRY: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(ATTEMPT));
        let mut connection = self.connection.clone();
        let found: Option<(String, u32)> = TRY
            .key(self.key(kind, id))
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(found)
    }

    pub async fn remove_guarded(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let removed: u32 = connection.del(self.key(kind, id)).await.map_err(unavailable)?;
        Ok(removed == 1)
    }

    pub async fn count_daily(&self, kind: &str, subject: &str, day: u64) -> Result<u64, StoreError> {
        static COUNT: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(COUNT_DAILY));
        let mut connection = self.connection.clone();
        let kind = format!("{kind}-daily");
        // The key outlives its day by an hour, for clocks a little apart.
        let keep = crate::verification::store::DAY_MS + 3_600_000;
        COUNT
            .key(self.key(&kind, &format!("{subject}@{day}")))
            .arg(keep)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}
