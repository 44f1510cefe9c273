//! The default key-value backend: a SQLite file in Spin's own schema, so the runner and
//! `spin up` can share a state directory.
//!
//! Table `spin_key_value(store, key, value)`, one row per key, counters as 8-byte
//! little-endian i64. The file is in WAL mode; every write commits before it returns (a
//! commit reaches the OS, so it survives `kill -9` of the runner; `synchronous=NORMAL`).
//! One connection serves all labels of a file; calls run on tokio's blocking pool so the
//! async workers never wait on disk.

use super::{KvError, KvResult, Store, decode_counter};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Where Spin (and so this runner) keeps the default store: `<state-dir>/sqlite_key_value.db`.
pub fn default_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("sqlite_key_value.db")
}

/// An open database file, shared by the labels stored in it.
#[derive(Clone)]
pub struct Database {
    connection: Arc<Mutex<Connection>>,
}

impl Database {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating state directory {}: {e}", dir.display()))?;
        }
        let connection = Connection::open(path)
            .map_err(|e| anyhow::anyhow!("opening key-value database {}: {e}", path.display()))?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            );",
        )?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The store named `label` inside this file.
    pub fn store(&self, label: &str) -> SqliteStore {
        SqliteStore {
            database: self.clone(),
            label: label.to_string(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> rusqlite::Result<KvResult<T>> + Send + 'static,
    ) -> KvResult<T> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .map_err(|_| KvError::Other("key-value database lock poisoned".into()))?;
            job(&mut connection).map_err(|e| KvError::Other(format!("sqlite: {e}")))?
        })
        .await
        .map_err(|e| KvError::Other(format!("key-value task failed: {e}")))?
    }
}

pub struct SqliteStore {
    database: Database,
    label: String,
}

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";

/// The value at `key`, read inside a write transaction (so nobody changes it before commit).
fn read_locked<'c>(
    c: &'c mut Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<(rusqlite::Transaction<'c>, Option<Vec<u8>>)> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = tx
        .prepare_cached(SELECT)?
        .query_row(params![label, key], |row| row.get(0))
        .optional()?;
    Ok((tx, current))
}
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
    ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let (label, key) = (self.label.clone(), key.to_string());
        self.database
            .run(move |c| {
                Ok(Ok(c
                    .prepare_cached(SELECT)?
                    .query_row(params![label, key], |row| row.get(0))
                    .optional()?))
            })
            .await
    }

    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        let (label, key, value) = (self.label.clone(), key.to_string(), value.to_vec());
        self.database
            .run(move |c| {
                c.prepare_cached(UPSERT)?
                    .execute(params![label, key, value])?;
                Ok(Ok(()))
            })
            .await
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        let (label, key) = (self.label.clone(), key.to_string());
        self.database
            .run(move |c| {
                c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .execute(params![label, key])?;
                Ok(Ok(()))
            })
            .await
    }

    async fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.get(key).await?.is_some())
    }

    async fn get_keys(&self) -> KvResult<Vec<String>> {
        let label = self.label.clone();
        self.database
            .run(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key",
                )?;
                let keys = statement
                    .query_map(params![label], |row| row.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(Ok(keys))
            })
            .await
    }

    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let (label, key) = (self.label.clone(), key.to_string());
        self.database
            .run(move |c| {
                let (tx, current) = read_locked(c, &label, &key)?;
                let current = match current
                    .map(|bytes| decode_counter(&key, &bytes))
                    .transpose()
                {
                    Ok(value) => value.unwrap_or(0),
                    Err(e) => return Ok(Err(e)),
                };
                let Some(next) = current.checked_add(delta) else {
                    return Ok(Err(KvError::Other(format!(
                        "counter `{key}` would overflow"
                    ))));
                };
                tx.prepare_cached(UPSERT)?.execute(params![
                    label,
                    key,
                    next.to_le_bytes().to_vec()
                ])?;
                tx.commit()?;
                Ok(Ok(next))
            })
            .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let (label, key) = (self.label.clone(), key.to_string());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.database
            .run(move |c| {
                let (tx, current) = read_locked(c, &label, &key)?;
                if current != expected {
                    return Ok(Ok(false));
                }
                tx.prepare_cached(UPSERT)?
                    .execute(params![label, key, new])?;
                tx.commit()?;
                Ok(Ok(true))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_use_spins_encoding_and_survive_reopening() {
        let dir = tempdir();
        let path = default_path(&dir);
        {
            let store = Database::open(&path).unwrap().store("default");
            assert_eq!(store.increment("seq", 1).await.unwrap(), 1);
            assert_eq!(store.increment("seq", 41).await.unwrap(), 42);
            assert_eq!(
                store.get("seq").await.unwrap().unwrap(),
                42i64.to_le_bytes()
            );
            store.set("text", b"hi").await.unwrap();
            assert!(store.increment("text", 1).await.is_err());
        }
        let store = Database::open(&path).unwrap().store("default");
        assert_eq!(store.increment("seq", 1).await.unwrap(), 43);
        assert_eq!(store.get_keys().await.unwrap(), vec!["seq", "text"]);
        assert!(
            Database::open(&path)
                .unwrap()
                .store("other")
                .get("seq")
                .await
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "runner-kv-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
