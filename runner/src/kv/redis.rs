//! A key-value store in Redis, shared by every runner (and Spin) pointed at the same server:
//! the scale-out path. Keys are stored as given; `increment` is `INCRBY` (a decimal string),
//! as in Spin's Redis store.
//!
//! Unlike Spin's, an increment here is exactly-once. Each one carries an operation id, and a
//! Lua script applies the `INCRBY` and records the id with the result atomically. If the
//! connection breaks after the script was sent, the runner cannot know whether it ran, so it
//! sends the same script with the same id again: a script that already ran returns the
//! recorded result instead of incrementing twice. Operation records expire after an hour and
//! are hidden from key listings.
//!
//! Periodic jobs' claims live under `__runner_cron:` keys (the last tick taken, and a lease
//! that expires on its own, so a runner killed mid-run holds the job no longer than the
//! lease), also hidden from key listings. Every key under `__runner_` is the runner's own.

use super::{KvError, KvResult, Store, TickClaim};
use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::time::Instant;

/// Prefix of every key the runner keeps for itself; never shown to guests.
const RUNNER_PREFIX: &str = "__runner_";
/// Prefix of the operation records.
const OP_PREFIX: &str = "__runner_op:";
/// Prefix of periodic jobs' claims.
const CRON_PREFIX: &str = "__runner_cron:";
/// How long an operation record is kept (long enough for any retry).
const OP_TTL_SECONDS: u64 = 3600;
/// How long a broken increment is retried before its outcome is reported as unknown.
const RECONCILE_WINDOW: Duration = Duration::from_secs(3);

const INCREMENT: &str = r#"
local done = redis.call('GET', KEYS[2])
if done then return tonumber(done) end
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], value, 'EX', ARGV[2])
return value
"#;

const COMPARE_AND_SWAP: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

/// KEYS: last tick taken, lease. ARGV: tick, owner, lease in ms.
/// Returns 1 (claimed), 0 (tick already taken), -1 (a run is in flight).
const CLAIM_TICK: &str = r#"
local last = tonumber(redis.call('GET', KEYS[1]) or '-9223372036854775808')
if last >= tonumber(ARGV[1]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"#;

/// KEYS: lease. ARGV: owner. Deletes the lease only if `owner` still holds it.
const RELEASE_TICK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"#;

pub struct RedisStore {
    url: String,
    connection: ConnectionManager,
    increment: redis::Script,
    compare_and_swap: redis::Script,
    claim_tick: redis::Script,
    release_tick: redis::Script,
}

impl RedisStore {
    /// Connects (failing fast if the server cannot be reached now).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {url} within 5 s"))??;
        Ok(Self {
            url: url.to_string(),
            connection,
            increment: redis::Script::new(INCREMENT),
            compare_and_swap: redis::Script::new(COMPARE_AND_SWAP),
            claim_tick: redis::Script::new(CLAIM_TICK),
            release_tick: redis::Script::new(RELEASE_TICK),
        })
    }

    fn error(&self, e: redis::RedisError) -> KvError {
        tracing::warn!("key-value store at {}: {e}", self.url);
        KvError::Other(format!("redis: {e}"))
    }
}

/// Whether the command may have reached the server before the error (so its outcome is unknown).
fn outcome_unknown(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.connection
            .clone()
            .get(key)
            .await
            .map_err(|e| self.error(e))
    }

    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.connection
            .clone()
            .set(key, value)
            .await
            .map_err(|e| self.error(e))
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        self.connection
            .clone()
            .del(key)
            .await
            .map_err(|e| self.error(e))
    }

    async fn exists(&self, key: &str) -> KvResult<bool> {
        self.connection
            .clone()
            .exists(key)
            .await
            .map_err(|e| self.error(e))
    }

    async fn get_keys(&self) -> KvResult<Vec<String>> {
        let mut connection = self.connection.clone();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.error(e))?;
            keys.extend(batch.into_iter().filter(|k| !k.starts_with(RUNNER_PREFIX)));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// `INCRBY` keeps a decimal string.
    async fn read_counter(&self, key: &str) -> KvResult<Option<i64>> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| KvError::Other(format!("value of `{key}` is not a counter")))
    }

    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let op = format!("{OP_PREFIX}{}", uuid::Uuid::new_v4());
        let deadline = Instant::now() + RECONCILE_WINDOW;
        let mut attempt = 0u32;
        loop {
            let result: redis::RedisResult<i64> = self
                .increment
                .key(key)
                .key(&op)
                .arg(delta)
                .arg(OP_TTL_SECONDS)
                .invoke_async(&mut self.connection.clone())
                .await;
            match result {
                Ok(value) => {
                    if attempt > 0 {
                        tracing::info!(
                            "increment of `{key}` reconciled after {attempt} broken attempt(s)"
                        );
                    }
                    return Ok(value);
                }
                Err(e) if outcome_unknown(&e) && Instant::now() < deadline => {
                    attempt += 1;
                    tracing::warn!(
                        "increment of `{key}` on {}: {e}; retrying with the same operation id",
                        self.url
                    );
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10))))
                        .await;
                }
                Err(e) if outcome_unknown(&e) => {
                    tracing::error!(
                        "increment of `{key}` on {}: outcome unknown after {RECONCILE_WINDOW:?} ({e}); operation {op}",
                        self.url
                    );
                    return Err(KvError::Other(format!(
                        "redis unavailable; increment outcome unknown: {e}"
                    )));
                }
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let swapped: i64 = self
            .compare_and_swap
            .key(key)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(new)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.error(e))?;
        Ok(swapped == 1)
    }

    async fn claim_tick(
        &self,
        job: &str,
        tick: i64,
        owner: &str,
        lease: Duration,
    ) -> KvResult<TickClaim> {
        let claimed: i64 = self
            .claim_tick
            .key(format!("{CRON_PREFIX}{job}:tick"))
            .key(format!("{CRON_PREFIX}{job}:lease"))
            .arg(tick)
            .arg(owner)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.error(e))?;
        Ok(match claimed {
            1 => TickClaim::Claimed,
            0 => TickClaim::AlreadyTaken,
            _ => TickClaim::RunInFlight,
        })
    }

    async fn release_tick(&self, job: &str, owner: &str) -> KvResult<()> {
        let _: i64 = self
            .release_tick
            .key(format!("{CRON_PREFIX}{job}:lease"))
            .arg(owner)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }
}
