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

mod memory;
mod redis;
pub mod ttl;

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};

use super::{ids::ResultId, ids::SessionId, Pending};
use crate::{operators::State, outcome::Outcome};

/// Lifetimes and bounds, the same for both backends.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a started verification may take.
    pub pending_ttl: Duration,
    /// How long a finished result stays readable for the page.
    pub result_ttl: Duration,
    /// Starts per client per minute.
    pub starts_per_minute: u32,
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
    #[error("the store is full")]
    Full,
    /// A value that does not decode (another version wrote it, or it was tampered with).
    #[error("a stored value does not decode: {0}")]
    Corrupt(String),
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
    Redis(redis::RedisStore),
}

impl Store {
    pub fn memory(settings: Settings) -> Self {
        Store::Memory(memory::MemoryStore::new(settings))
    }

    /// Connects to Redis (`redis://` or `rediss://`); fails if it does not answer now.
    pub async fn redis(url: &str, prefix: &str, settings: Settings) -> Result<Self, StoreError> {
        Ok(Store::Redis(redis::RedisStore::connect(url, prefix, settings).await?))
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

    /// Records a started verification under its state.
    pub async fn put_pending(&self, state: &State, pending: &Pending) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.put_pending(state, pending),
            Store::Redis(s) => s.put_pending(state, pending).await,
        }
    }

    /// Takes the verification under `state`, at most once across every instance.
    pub async fn take_pending(&self, state: &State) -> Result<Taken, StoreError> {
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

    /// Counts a start by `client`; `false` once it is past its starts per minute.
    pub async fn allow_start(&self, client: IpAddr) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => Ok(s.allow_start(client)),
            Store::Redis(s) => s.allow_start(client).await,
        }
    }

    /// Whether the store answers now (for `/healthz`).
    pub async fn health(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(s) => s.ping().await,
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
