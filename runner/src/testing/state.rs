//! What a `TestApp` stored, seen and changed from the test: its key-value stores and SQLite
//! databases, through the same backends its guests use (in memory and private to the app by
//! default; the files or Redis the options name otherwise), so a seeded value is what a guest
//! reads and a guest's write is what the test reads.

use crate::kv;
use crate::sql;
use std::sync::Arc;

/// A value in a SQLite row, typed by SQLite's storage class.
pub use crate::sql::Value as SqlValue;

/// A statement's result: the column names and the rows.
pub use crate::sql::QueryResult as Rows;

/// One of the app's key-value stores (`TestApp::key_value`).
pub struct KeyValue {
    label: String,
    store: Option<Arc<dyn kv::Store>>,
}

impl KeyValue {
    pub(crate) fn new(label: &str, store: Option<Arc<dyn kv::Store>>) -> Self {
        Self {
            label: label.to_string(),
            store,
        }
    }

    fn store(&self) -> anyhow::Result<&Arc<dyn kv::Store>> {
        self.store.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "the app has no key-value store `{}`: no component names it in key_value_stores",
                self.label
            )
        })
    }

    fn failed(&self, action: &str, key: &str, e: kv::KvError) -> anyhow::Error {
        anyhow::anyhow!("key-value store `{}`: {action} `{key}`: {e}", self.label)
    }

    /// The value at `key`, if any.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.store()?
            .get(key)
            .await
            .map_err(|e| self.failed("get", key, e))
    }

    /// Sets `key` to `value`.
    pub async fn set(&self, key: &str, value: impl AsRef<[u8]>) -> anyhow::Result<()> {
        self.store()?
            .set(key, value.as_ref())
            .await
            .map_err(|e| self.failed("set", key, e))
    }

    /// Removes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.store()?
            .delete(key)
            .await
            .map_err(|e| self.failed("delete", key, e))
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        self.store()?
            .exists(key)
            .await
            .map_err(|e| self.failed("check", key, e))
    }

    /// Every key, sorted.
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        let mut keys = self
            .store()?
            .get_keys()
            .await
            .map_err(|e| self.failed("list", "*", e))?;
        keys.sort();
        Ok(keys)
    }

    /// The counter at `key` as guests' atomic increments keep it (`wasi:keyvalue/atomics`),
    /// without changing it; `None` when absent.
    pub async fn counter(&self, key: &str) -> anyhow::Result<Option<i64>> {
        self.store()?
            .read_counter(key)
            .await
            .map_err(|e| self.failed("read the counter", key, e))
    }

    /// Adds `delta` to the counter at `key` atomically, as a guest would; the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> anyhow::Result<i64> {
        self.store()?
            .increment(key, delta)
            .await
            .map_err(|e| self.failed("increment", key, e))
    }
}

/// One of the app's SQLite databases (`TestApp::sqlite`).
pub struct Sqlite {
    label: String,
    database: Option<Arc<sql::Database>>,
}

impl Sqlite {
    pub(crate) fn new(label: &str, database: Option<Arc<sql::Database>>) -> Self {
        Self {
            label: label.to_string(),
            database,
        }
    }

    fn connect(&self) -> anyhow::Result<sql::Connection> {
        let database = self.database.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "the app has no SQLite database `{}`: no component names it in sqlite_databases",
                self.label
            )
        })?;
        database
            .connect()
            .map_err(|e| anyhow::anyhow!("SQLite database `{}`: {e}", self.label))
    }

    /// Runs `statements` (one or several, separated by `;`, without parameters).
    pub async fn execute(&self, statements: &str) -> anyhow::Result<()> {
        self.connect()?
            .execute_batch(statements.to_string())
            .await
            .map_err(|e| anyhow::anyhow!("SQLite database `{}`: {e}", self.label))
    }

    /// Runs one statement and returns its rows.
    pub async fn query(&self, statement: &str) -> anyhow::Result<Rows> {
        self.query_with(statement, &[]).await
    }

    /// Runs one statement with positional parameters (`?`, `?1`, ...) and returns its rows.
    pub async fn query_with(
        &self,
        statement: &str,
        parameters: &[SqlValue],
    ) -> anyhow::Result<Rows> {
        self.connect()?
            .execute(statement.to_string(), parameters.to_vec())
            .await
            .map_err(|e| anyhow::anyhow!("SQLite database `{}`: {e}", self.label))
    }
}
