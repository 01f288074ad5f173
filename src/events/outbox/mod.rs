//! The outbox: events waiting for delivery, retries waiting for their time, and expiries
//! foreseen — one interface over two backends.
//!
//! - [`memory`]: this process only. A restart loses whatever is queued; bounded.
//! - [`redis`]: a Redis stream read by a consumer group, shared by every instance; a
//!   restart or a dead instance loses nothing.
//!
//! Delivery is at least once: a receiver dedupes by the event's `id`.

pub mod memory;
pub mod redis;

use serde::{Deserialize, Serialize};

pub use self::redis::{stream_key, RedisConnection, GROUP};
use memory::MemoryOutbox;
use redis::RedisOutbox;

/// Where the outbox lives.
pub enum Backend {
    /// This process's memory: a restart loses what is queued (fine for one instance in
    /// development; a deployment that must not lose events uses Redis).
    Memory,
    /// One Redis or a Redis Cluster, shared by every instance.
    Redis(RedisConnection),
}

/// One event as the outbox keeps it: the exact body to send, what logs may name, and its
/// retry bookkeeping, stored with it so a restart carries it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Queued {
    /// The event's `id`.
    pub id: String,
    /// The event's `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The serialised event: every attempt sends these bytes.
    pub body: String,
    /// Failed attempts so far.
    pub failures: u32,
    /// When it was first due (ms since the epoch): the retry window counts from here.
    pub first_ms: u64,
}

/// An entry taken for delivery: this worker sends it, then acks it or schedules a retry.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub entry: Queued,
    /// The stream entry's id (Redis); none in memory.
    pub(crate) handle: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("Redis: {0}")]
    Redis(String),
    #[error("an outbox entry is unreadable: {0}")]
    Corrupt(String),
}

pub(crate) enum Outbox {
    Memory(MemoryOutbox),
    /// Boxed: its scripts make it several times the memory variant's size.
    Redis(Box<RedisOutbox>),
}

impl Outbox {
    /// Queues `entry` for delivery now.
    pub async fn enqueue(&self, entry: Queued) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(m) => {
                m.enqueue(entry);
                Ok(())
            }
            Outbox::Redis(r) => r.enqueue(&entry).await,
        }
    }

    /// `entry` (an `expired` event) is due at `deadline_ms` unless `settle(key)` comes
    /// first. Again for the same key: replaces it.
    pub async fn expect(&self, key: &str, deadline_ms: u64, entry: Queued) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(m) => {
                m.expect(key, deadline_ms, entry);
                Ok(())
            }
            Outbox::Redis(r) => r.expect(key, deadline_ms, &entry).await,
        }
    }

    /// Forgets the expiry foreseen for `key`, if it has not fired yet.
    pub async fn settle(&self, key: &str) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(m) => {
                m.settle(key);
                Ok(())
            }
            Outbox::Redis(r) => r.settle(key).await,
        }
    }

    /// Moves retries and expiries due by `now_ms` to the queue, each exactly once across
    /// instances. Returns how many expiries fired (new events; a retry is not).
    pub async fn promote_due(&self, now_ms: u64) -> Result<usize, OutboxError> {
        match self {
            Outbox::Memory(m) => Ok(m.promote_due(now_ms)),
            Outbox::Redis(r) => r.promote_due(now_ms).await,
        }
    }

    /// Up to `max` entries to send: first any another consumer took and left idle for
    /// `reclaim_idle` (it died; Redis), then new ones.
    pub async fn take(&self, max: usize, reclaim_idle: std::time::Duration) -> Result<Vec<Claimed>, OutboxError> {
        match self {
            Outbox::Memory(m) => Ok(m.take(max)),
            Outbox::Redis(r) => r.take(max, reclaim_idle).await,
        }
    }

    /// Done with it: delivered, or given up.
    pub async fn ack(&self, claimed: &Claimed) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(m) => {
                m.ack();
                Ok(())
            }
            Outbox::Redis(r) => r.ack(claimed).await,
        }
    }

    /// Try `next` (the entry with its failure counted) again at `due_ms`.
    pub async fn retry_later(&self, claimed: &Claimed, next: Queued, due_ms: u64) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(m) => {
                m.retry_later(next, due_ms);
                Ok(())
            }
            Outbox::Redis(r) => r.retry_later(claimed, &next, due_ms).await,
        }
    }

    /// Taken but not sent (the worker is stopping): back to the queue in memory; in Redis
    /// it stays pending and is reclaimed by whichever instance looks after `reclaim_idle`.
    pub fn release(&self, claimed: Claimed) {
        if let Outbox::Memory(m) = self {
            m.release(claimed.entry);
        }
    }

    /// When the next retry or expiry is due, where this process knows it (memory); Redis
    /// is polled, since other instances add to it.
    pub fn next_due(&self) -> Option<u64> {
        match self {
            Outbox::Memory(m) => m.next_due(),
            Outbox::Redis(_) => None,
        }
    }

    /// Events waiting: queued, being sent, or waiting for a retry (not expiries foreseen).
    pub async fn depth(&self) -> Result<u64, OutboxError> {
        match self {
            Outbox::Memory(m) => Ok(m.depth()),
            Outbox::Redis(r) => r.depth().await,
        }
    }

    /// The worker has stopped: tidy up what only it used.
    pub async fn retire(&self) -> Result<(), OutboxError> {
        match self {
            Outbox::Memory(_) => Ok(()),
            Outbox::Redis(r) => r.retire().await,
        }
    }
}
