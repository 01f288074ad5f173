//! The outbox in Redis (one Redis or a Redis Cluster), shared by every instance.
//!
//! Keys, under the store's `REDIS_PREFIX` (`nv:` by default):
//! - `{prefix}{events}` — a stream of events ready to send, one field `entry` (the
//!   [`Queued`] record as JSON: body, id, type, failures, first due time). Every instance
//!   reads it through the consumer group [`GROUP`], each as a consumer of its own
//!   (a random name per process), so a new entry goes to exactly one instance. After a 2xx
//!   (or when given up) the entry is XACKed and XDELed. An entry a consumer read and never
//!   acked (it died, or was stopped mid-batch) is reclaimed with XAUTOCLAIM by any
//!   instance once idle for `reclaim_idle`, longer than any attempt may take.
//! - `{prefix}{events}:retry` (sorted set, score = due ms) and `…:retry-entries` (hash)
//!   — failed events waiting for their next attempt, by event id.
//! - `{prefix}{events}:expiry` (sorted set, score = deadline ms) and `…:expiry-entries`
//!   (hash) — `expired` events foreseen, by SHA-256 of the verification id (as the store
//!   names states: what Redis shows completes nothing).
//!
//! Retries live outside the stream, not in a consumer's pending list: a retry may wait
//! hours, and an entry pending that long would look like a dead consumer's and be
//! reclaimed; it would also need its attempt count kept beside it. So a failed entry is
//! acked and deleted, and its record — failures counted in it — goes to the retry set in
//! the same script; when due, a sweep moves it back to the stream (re-XADD). The count
//! and the window survive any restart because they are in the record.
//!
//! `{events}` is a hash tag: every key above is in one cluster slot, so each script below
//! touches a single slot and runs as one atomic step. Every instance sweeps; the script's
//! ZREM removes a due member once, and only the instance whose ZREM removed it XADDs it,
//! in the same step, so an expiry or retry is enqueued exactly once and never lost
//! between the two.
//!
//! Bounded by Redis's own memory (`maxmemory`) and by the retry window: every event ends
//! delivered or dropped within a day of being due.

use std::{sync::Arc, time::Duration};

use redis::Script;

use super::{Claimed, OutboxError, Queued};
use crate::{
    events::delivery::DeliveryStats,
    support::{redis_connection::Connection, sha256_hex},
};

/// The consumer group every instance reads the stream through.
pub const GROUP: &str = "delivery";

/// The stream's key for `prefix`: `{prefix}{events}`.
pub fn stream_key(prefix: &str) -> String {
    format!("{prefix}{{events}}")
}

/// Reclaims idle entries, then reads new ones: a flat list `id, entry, id, entry…`
/// (`entry` empty when the stream entry has no `entry` field). A reclaimed entry whose
/// body was deleted (Redis before 7 lists it) is acked away here.
/// KEYS: stream. ARGV: group, consumer, count, min idle ms.
const TAKE: &str = r#"
local out = {}
local function add(entries)
  for _, e in ipairs(entries) do
    local fields = e[2]
    if type(fields) == 'table' then
      local entry = ''
      for i = 1, #fields, 2 do
        if fields[i] == 'entry' then entry = fields[i + 1] end
      end
      table.insert(out, e[1])
      table.insert(out, entry)
    else
      redis.call('XACK', KEYS[1], ARGV[1], e[1])
    end
  end
end
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], '0-0', 'COUNT', ARGV[3])
add(claimed[2])
local fresh = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if fresh then add(fresh[1][2]) end
return out
"#;

/// Done with an entry. KEYS: stream. ARGV: group, entry id.
const ACK: &str = r#"
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return acked
"#;

/// A failed entry leaves the stream for the retry set, in one step; only if it was still
/// pending (if another instance reclaimed and finished it meanwhile, nothing is added).
/// KEYS: stream, retry set, retry entries. ARGV: group, entry id, event id, due ms, record.
const RETRY: &str = r#"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  return 1
end
return 0
"#;

/// Moves due retries and expiries to the stream: the ZREM that removes a member is the
/// one step that XADDs it. Returns how many expiries fired. KEYS: stream, retry set,
/// retry entries, expiry set, expiry entries. ARGV: now ms, at most this many of each.
const PROMOTE: &str = r#"
local fired = 0
for pair = 0, 1 do
  local set, entries = KEYS[2 + 2 * pair], KEYS[3 + 2 * pair]
  local due = redis.call('ZRANGEBYSCORE', set, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  for _, member in ipairs(due) do
    if redis.call('ZREM', set, member) == 1 then
      local entry = redis.call('HGET', entries, member)
      redis.call('HDEL', entries, member)
      if entry then
        redis.call('XADD', KEYS[1], '*', 'entry', entry)
        fired = fired + pair -- pair 1 is the expiries
      end
    end
  end
end
return fired
"#;

/// KEYS: expiry set, expiry entries. ARGV: member, deadline ms, record.
const EXPECT: &str = r#"
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"#;

/// KEYS: expiry set, expiry entries. ARGV: member.
const SETTLE: &str = r#"
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"#;

/// KEYS: stream, retry set.
const DEPTH: &str = r#"
return redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
"#;

/// How many due retries and expiries one sweep moves (the next sweep takes the rest).
const PROMOTE_BATCH: usize = 500;

/// One Redis or a Redis Cluster, connected as the verification store connects, and the
/// prefix of every key. Cheap to clone.
#[derive(Clone)]
pub struct RedisConnection {
    connection: Connection,
    prefix: String,
}

impl RedisConnection {
    /// One Redis at `url` (`redis://` or `rediss://`), through a connection manager that
    /// reconnects by itself. Errors never repeat the URL (it may hold a password).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, OutboxError> {
        Ok(Self {
            connection: Connection::connect(url).await.map_err(OutboxError::Redis)?,
            prefix: prefix.to_owned(),
        })
    }

    /// A Redis Cluster, found from any of its `seeds` (`redis://host:port` each).
    pub async fn connect_cluster(seeds: &[&str], prefix: &str) -> Result<Self, OutboxError> {
        Ok(Self {
            connection: Connection::connect_cluster(seeds).await.map_err(OutboxError::Redis)?,
            prefix: prefix.to_owned(),
        })
    }
}

struct Keys {
    stream: String,
    retry: String,
    retry_entries: String,
    expiry: String,
    expiry_entries: String,
}

pub struct RedisOutbox {
    connection: Connection,
    keys: Keys,
    /// This process's consumer name in the group.
    consumer: String,
    stats: Arc<DeliveryStats>,
    take: Script,
    ack: Script,
    retry: Script,
    promote: Script,
    expect: Script,
    settle: Script,
    depth: Script,
}

impl RedisOutbox {
    /// The outbox on `connection`, its consumer group created if it is not there yet.
    pub(crate) async fn open(connection: RedisConnection, stats: Arc<DeliveryStats>) -> Result<Self, OutboxError> {
        let stream = stream_key(&connection.prefix);
        let outbox = RedisOutbox {
            keys: Keys {
                retry: format!("{stream}:retry"),
                retry_entries: format!("{stream}:retry-entries"),
                expiry: format!("{stream}:expiry"),
                expiry_entries: format!("{stream}:expiry-entries"),
                stream,
            },
            connection: connection.connection,
            consumer: format!("nv-{}", crate::support::random_token()),
            stats,
            take: Script::new(TAKE),
            ack: Script::new(ACK),
            retry: Script::new(RETRY),
            promote: Script::new(PROMOTE),
            expect: Script::new(EXPECT),
            settle: Script::new(SETTLE),
            depth: Script::new(DEPTH),
        };
        outbox.ensure_group().await?;
        Ok(outbox)
    }

    /// XGROUP CREATE … MKSTREAM from the stream's start (entries added before any
    /// group existed are delivered too); BUSYGROUP means another instance made it.
    async fn ensure_group(&self) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut connection)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(redis_error),
        }
    }

    pub(crate) async fn enqueue(&self, entry: &Queued) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        redis::cmd("XADD")
            .arg(&self.keys.stream)
            .arg("*")
            .arg("entry")
            .arg(record(entry)?)
            .query_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn expect(&self, key: &str, deadline_ms: u64, entry: &Queued) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        self.expect
            .key(&self.keys.expiry)
            .key(&self.keys.expiry_entries)
            .arg(sha256_hex(key))
            .arg(deadline_ms)
            .arg(record(entry)?)
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn settle(&self, key: &str) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        self.settle
            .key(&self.keys.expiry)
            .key(&self.keys.expiry_entries)
            .arg(sha256_hex(key))
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn promote_due(&self, now_ms: u64) -> Result<usize, OutboxError> {
        let mut connection = self.connection.clone();
        self.promote
            .key(&self.keys.stream)
            .key(&self.keys.retry)
            .key(&self.keys.retry_entries)
            .key(&self.keys.expiry)
            .key(&self.keys.expiry_entries)
            .arg(now_ms)
            .arg(PROMOTE_BATCH)
            .invoke_async::<usize>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn take(&self, max: usize, reclaim_idle: Duration) -> Result<Vec<Claimed>, OutboxError> {
        let mut connection = self.connection.clone();
        let taken = self
            .take
            .key(&self.keys.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(max.max(1))
            .arg(reclaim_idle.as_millis() as u64)
            .invoke_async::<Vec<String>>(&mut connection)
            .await;
        let flat = match taken {
            Ok(flat) => flat,
            // The stream (and with it the group) is gone: a Redis that restarted empty, or
            // a key deleted by hand. Make the group again; the next round reads.
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(redis_error(e)),
        };
        let mut claimed = Vec::with_capacity(flat.len() / 2);
        for pair in flat.as_chunks::<2>().0 {
            let handle = pair[0].clone();
            match serde_json::from_str::<Queued>(&pair[1]) {
                Ok(entry) => claimed.push(Claimed {
                    entry,
                    handle: Some(handle),
                }),
                Err(_) => {
                    // Not ours to send (written by hand, or by a version that no longer
                    // reads alike): out of the way, named by its stream id only.
                    self.stats.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(stream_entry = %handle, "unreadable outbox entry dropped");
                    self.ack_handle(&handle).await?;
                }
            }
        }
        Ok(claimed)
    }

    pub(crate) async fn ack(&self, claimed: &Claimed) -> Result<(), OutboxError> {
        match &claimed.handle {
            Some(handle) => self.ack_handle(handle).await,
            None => Err(OutboxError::Corrupt("a Redis entry without its stream id".into())),
        }
    }

    async fn ack_handle(&self, handle: &str) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        self.ack
            .key(&self.keys.stream)
            .arg(GROUP)
            .arg(handle)
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn retry_later(&self, claimed: &Claimed, next: &Queued, due_ms: u64) -> Result<(), OutboxError> {
        let Some(handle) = &claimed.handle else {
            return Err(OutboxError::Corrupt("a Redis entry without its stream id".into()));
        };
        let mut connection = self.connection.clone();
        self.retry
            .key(&self.keys.stream)
            .key(&self.keys.retry)
            .key(&self.keys.retry_entries)
            .arg(GROUP)
            .arg(handle)
            .arg(&next.id)
            .arg(due_ms)
            .arg(record(next)?)
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(redis_error)
    }

    pub(crate) async fn depth(&self) -> Result<u64, OutboxError> {
        let mut connection = self.connection.clone();
        self.depth
            .key(&self.keys.stream)
            .key(&self.keys.retry)
            .invoke_async::<u64>(&mut connection)
            .await
            .map_err(redis_error)
    }

    /// A consumer with nothing pending leaves the group when its worker stops, so
    /// restarts do not pile up names. One with entries pending stays: another instance
    /// reclaims them, and the name is what they are pending under. (A process that dies
    /// leaves its name behind; it costs a few bytes.)
    pub(crate) async fn retire(&self) -> Result<(), OutboxError> {
        let mut connection = self.connection.clone();
        let pending: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(1)
            .arg(&self.consumer)
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        if pending.is_empty() {
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.keys.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .query_async::<()>(&mut connection)
                .await
                .map_err(redis_error)?;
        }
        Ok(())
    }
}

fn record(entry: &Queued) -> Result<String, OutboxError> {
    serde_json::to_string(entry).map_err(|e| OutboxError::Corrupt(e.to_string()))
}

fn redis_error(error: redis::RedisError) -> OutboxError {
    OutboxError::Redis(error.to_string().chars().take(160).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_one_hash_tag() {
        let stream = stream_key("nv:");
        assert_eq!(stream, "nv:{events}");
        for key in [format!("{stream}:retry"), format!("{stream}:expiry-entries")] {
            let tag_start = key.find('{').unwrap() + 1;
            let tag_end = key.find('}').unwrap();
            assert_eq!(&key[tag_start..tag_end], "events", "{key}");
        }
    }
}
