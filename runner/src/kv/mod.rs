//! Key-value backends behind one small async trait, and the set of stores an app may open.
//!
//! Each store label (`default`, or any label the runtime config defines) maps to one backend.
//! The guest-facing interfaces (`spin:key-value`, `wasi:keyvalue`) live in `host::key_value`
//! and only ever talk to this trait.

pub mod open;
pub mod redis;
pub mod sqlite;
pub mod traced;

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    Other(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchStore => f.write_str("no such store"),
            Self::AccessDenied => f.write_str("access denied"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

pub type KvResult<T> = Result<T, KvError>;

/// What `Store::claim_tick` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickClaim {
    /// The tick is this runner's to run; the claim holds until released or its lease ends.
    Claimed,
    /// Another runner already took this tick (or a later one).
    AlreadyTaken,
    /// A run of the job is still in flight (here or on another runner).
    RunInFlight,
}

/// One store (one label). Every write is durable before it returns.
#[async_trait]
pub trait Store: Send + Sync {
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    async fn delete(&self, key: &str) -> KvResult<()>;
    async fn exists(&self, key: &str) -> KvResult<bool>;
    async fn get_keys(&self) -> KvResult<Vec<String>>;
    /// Adds `delta` to the counter at `key` (absent = 0), stored as an 8-byte little-endian
    /// i64, and returns the new value; atomic with respect to every other writer.
    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64>;
    /// The counter at `key` (absent = `None`), read as this backend's `increment` stores it,
    /// without changing it.
    async fn read_counter(&self, key: &str) -> KvResult<Option<i64>> {
        self.get(key)
            .await?
            .map(|bytes| decode_counter(key, &bytes))
            .transpose()
    }
    /// Sets `key` to `new` only if its value is still `expected` (`None` = absent).
    /// Returns whether the swap happened.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool>;

    /// For periodic jobs shared by several runners: atomically takes tick `tick` (seconds
    /// since the epoch) of job `job` for `owner`, unless a run of the job is in flight (its
    /// claim is held and its lease has not ended) or the tick, or a later one, was taken
    /// already. Claims live beside the app's data, invisible to its key listings.
    async fn claim_tick(
        &self,
        job: &str,
        tick: i64,
        owner: &str,
        lease: std::time::Duration,
    ) -> KvResult<TickClaim>;

    /// Ends `owner`'s claim on job `job` (its run finished); a claim taken over since is kept.
    async fn release_tick(&self, job: &str, owner: &str) -> KvResult<()>;
}

/// Decodes a counter value written by `increment` (Spin's encoding).
pub fn decode_counter(key: &str, bytes: &[u8]) -> KvResult<i64> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| {
        KvError::Other(format!(
            "value of `{key}` is {} bytes, not an 8-byte counter",
            bytes.len()
        ))
    })?;
    Ok(i64::from_le_bytes(bytes))
}

/// The stores of one application, by label.
#[derive(Clone, Default)]
pub struct Stores(HashMap<String, Arc<dyn Store>>);

impl Stores {
    pub fn insert(&mut self, label: impl Into<String>, store: Arc<dyn Store>) {
        self.0.insert(label.into(), store);
    }

    pub fn get(&self, label: &str) -> Option<Arc<dyn Store>> {
        self.0.get(label).cloned()
    }
}
