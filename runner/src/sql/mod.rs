//! SQLite databases guests query (`sqlite_databases` in the manifest), as Spin runs them: the
//! `default` database is `<state-dir>/sqlite_db.db` (in memory without a state directory),
//! other labels come from the runtime config's `[sqlite_database.LABEL]` tables.
//!
//! A guest's `open` gets a connection of its own (taken from a small pool of idle ones, as a
//! new connection per `open`, which is what Spin does, would cost a file open each time); an
//! in-memory database is fresh at every `open`, as in Spin. An app under test keeps its
//! databases in memory instead, one per label shared by every `open` (SQLite's `memdb`
//! VFS, named uniquely per database), so the test and the guests see the same tables. Statements run with positional
//! parameters off the async workers (a long query blocks no one), and their results come back
//! typed by SQLite's storage classes. Every SQLite error is reported as its message.

use rusqlite::types::{Value as SqlValue, ValueRef};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How long a statement waits for another connection's write to finish before it fails with
/// "database is locked". Writers queue for one lock, each commit an fsync: twenty concurrent
/// inserts on a disk busy with other writes (a build beside the server) took over 5 s.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where Spin (and so this runner) keeps the default database.
pub fn default_path(state_dir: &Path) -> Option<PathBuf> {
    (!state_dir.as_os_str().is_empty()).then(|| state_dir.join("sqlite_db.db"))
}

/// A connection to the SQLite file at `path` (`None`: a database in memory), set up as every
/// SQLite connection of the runner is, guests' databases and key-value stores alike: up to
/// `LOCK_WAIT` for a lock held elsewhere, and a file in WAL mode.
pub fn open_connection(path: Option<&Path>) -> rusqlite::Result<rusqlite::Connection> {
    let connection = match path {
        Some(path) => rusqlite::Connection::open(path)?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    connection.busy_timeout(LOCK_WAIT)?;
    if path.is_some() {
        connection.pragma_update(None, "journal_mode", "WAL")?;
    }
    Ok(connection)
}

/// A connection to the in-memory database `name` that every connection naming it shares.
fn open_shared_memory(name: &str) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let connection = rusqlite::Connection::open_with_flags(
        format!("file:{name}?vfs=memdb"),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(LOCK_WAIT)?;
    Ok(connection)
}

/// A value as guests see it, by SQLite's storage class.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `INTEGER`
    Integer(i64),
    /// `REAL`
    Real(f64),
    /// `TEXT`
    Text(String),
    /// `BLOB`
    Blob(Vec<u8>),
    /// `NULL`
    Null,
}

/// A statement's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows, each a value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Results larger than this are refused (guests would need that memory twice).
const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;
/// Idle connections kept per database.
const POOL_SIZE: usize = 8;

/// Where a database lives.
enum Location {
    File(PathBuf),
    /// In memory, fresh at every connection.
    Memory,
    /// In memory, shared by every connection of this process that names it (`memdb`).
    SharedMemory(String),
}

/// One database: a file (or memory) and the connections to it.
pub struct Database {
    location: Location,
    allow_attach_file: bool,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Keeps a shared in-memory database alive while no guest has it open.
    _anchor: Option<Mutex<rusqlite::Connection>>,
}

impl Database {
    /// Opens (creating it if needed) the database at `path`, or one in memory.
    pub fn open(path: Option<PathBuf>, allow_attach_file: bool) -> anyhow::Result<Arc<Self>> {
        let location = match path {
            Some(path) => Location::File(path),
            None => Location::Memory,
        };
        Self::open_at(location, allow_attach_file)
    }

    /// A new database in memory that every connection shares, private to its caller.
    pub fn open_private_memory(allow_attach_file: bool) -> anyhow::Result<Arc<Self>> {
        let name = format!("/runner-{}", uuid::Uuid::new_v4().simple());
        Self::open_at(Location::SharedMemory(name), allow_attach_file)
    }

    fn open_at(location: Location, allow_attach_file: bool) -> anyhow::Result<Arc<Self>> {
        let anchor = match &location {
            Location::SharedMemory(name) => {
                Some(Mutex::new(open_shared_memory(name).map_err(|e| {
                    anyhow::anyhow!("opening a database in memory: {e}")
                })?))
            }
            _ => None,
        };
        let database = Arc::new(Self {
            location,
            allow_attach_file,
            idle: Mutex::new(Vec::new()),
            _anchor: anchor,
        });
        if let Location::File(path) = &database.location
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        }
        // Fail at start-up, not at the first query, if the file cannot be opened.
        let first = database.new_connection()?;
        database.release(first);
        Ok(database)
    }

    fn new_connection(&self) -> anyhow::Result<rusqlite::Connection> {
        let connection = match &self.location {
            Location::File(path) => open_connection(Some(path)),
            Location::Memory => open_connection(None),
            Location::SharedMemory(name) => open_shared_memory(name),
        }
        .map_err(|e| anyhow::anyhow!("opening database {}: {e}", self.name()))?;
        if !self.allow_attach_file {
            // As in Spin: a guest may not reach other files through ATTACH.
            connection.authorizer(Some(
                |context: rusqlite::hooks::AuthContext<'_>| match context.action {
                    rusqlite::hooks::AuthAction::Attach { filename }
                        if !filename.is_empty() && filename != ":memory:" =>
                    {
                        rusqlite::hooks::Authorization::Deny
                    }
                    _ => rusqlite::hooks::Authorization::Allow,
                },
            ));
        }
        Ok(connection)
    }

    fn name(&self) -> String {
        match &self.location {
            Location::File(path) => path.display().to_string(),
            Location::Memory | Location::SharedMemory(_) => ":memory:".into(),
        }
    }

    /// Whether connections can be kept for reuse (a fresh in-memory database cannot).
    fn pooled(&self) -> bool {
        !matches!(self.location, Location::Memory)
    }

    /// Runs `statements` on a connection of its own, on the calling thread (at start-up).
    pub fn execute_batch_now(self: &Arc<Self>, statements: &str) -> Result<(), String> {
        let connection = self.new_connection().map_err(|e| format!("{e:#}"))?;
        connection
            .execute_batch(statements)
            .map_err(|e| e.to_string())?;
        self.release(connection);
        Ok(())
    }

    /// A connection for one guest `open`.
    pub fn connect(self: &Arc<Self>) -> Result<Connection, String> {
        let idle = match self.pooled() {
            true => self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop(),
            false => None,
        };
        let connection = match idle {
            Some(connection) => connection,
            None => self.new_connection().map_err(|e| format!("{e:#}"))?,
        };
        Ok(Connection {
            database: self.clone(),
            inner: Arc::new(Mutex::new(Some(connection))),
            trace: None,
        })
    }

    fn release(&self, connection: rusqlite::Connection) {
        if !self.pooled() || !connection.is_autocommit() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_SIZE {
            idle.push(connection);
        }
    }
}

/// A guest's connection; it goes back to the pool when dropped.
pub struct Connection {
    database: Arc<Database>,
    inner: Arc<Mutex<Option<rusqlite::Connection>>>,
    /// With telemetry on: each statement is a span of this request.
    trace: Option<crate::request_trace::RequestTrace>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let taken = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(connection) = taken {
            self.database.release(connection);
        }
    }
}

impl Connection {
    /// Makes each statement a span of `trace`'s request.
    pub fn trace_as(&mut self, trace: crate::request_trace::RequestTrace) {
        self.trace = Some(trace);
    }

    /// Runs one statement with positional `parameters`, off the async workers.
    pub async fn execute(
        &self,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, String> {
        use tracing::Instrument;
        let span = match &self.trace {
            Some(trace) => {
                crate::telemetry::record_store_call("sqlite");
                trace.child("sqlite.execute")
            }
            None => tracing::Span::none(),
        };
        self.with(move |c| execute(c, &statement, parameters))
            .instrument(span)
            .await
    }

    /// Runs `statements` (any number, separated by `;`, without parameters), off the async
    /// workers.
    pub async fn execute_batch(&self, statements: String) -> Result<(), String> {
        self.with(move |c| c.execute_batch(&statements).map_err(|e| e.to_string()))
            .await
    }

    /// The rowid of this connection's most recent successful INSERT (0 if none).
    pub async fn last_insert_rowid(&self) -> Result<i64, String> {
        self.with(|c| Ok(c.last_insert_rowid())).await
    }

    /// Rows changed by this connection's most recent INSERT, UPDATE or DELETE.
    pub async fn changes(&self) -> Result<u64, String> {
        self.with(|c| Ok(c.changes())).await
    }

    async fn with<T: Send + 'static>(
        &self,
        job: impl FnOnce(&rusqlite::Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            let connection = guard.as_ref().ok_or("the connection is closed")?;
            job(connection)
        })
        .await
        .map_err(|e| format!("the query did not finish: {e}"))?
    }
}

fn execute(
    connection: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, String> {
    let mut prepared = connection
        .prepare_cached(statement)
        .map_err(|e| e.to_string())?;
    let columns: Vec<String> = prepared
        .column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let parameters: Vec<SqlValue> = parameters.into_iter().map(SqlValue::from).collect();
    let mut rows = prepared
        .query(rusqlite::params_from_iter(parameters))
        .map_err(|e| e.to_string())?;
    let mut result = QueryResult {
        columns,
        rows: Vec::new(),
    };
    let mut size = 0usize;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let mut values = Vec::with_capacity(result.columns.len());
        for index in 0..result.columns.len() {
            let value = Value::from(row.get_ref(index).map_err(|e| e.to_string())?);
            size += match &value {
                Value::Text(t) => t.len(),
                Value::Blob(b) => b.len(),
                _ => 8,
            };
            values.push(value);
        }
        if size > MAX_RESULT_BYTES {
            return Err(format!(
                "the query's result is over {MAX_RESULT_BYTES} bytes"
            ));
        }
        result.rows.push(values);
    }
    Ok(result)
}

impl From<Value> for SqlValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Integer(i) => SqlValue::Integer(i),
            Value::Real(r) => SqlValue::Real(r),
            Value::Text(t) => SqlValue::Text(t),
            Value::Blob(b) => SqlValue::Blob(b),
            Value::Null => SqlValue::Null,
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            ValueRef::Null => Value::Null,
        }
    }
}

/// The databases of one app, by label.
#[derive(Clone, Default)]
pub struct Databases(HashMap<String, Arc<Database>>);

impl Databases {
    pub fn insert(&mut self, label: impl Into<String>, database: Arc<Database>) {
        self.0.insert(label.into(), database);
    }

    pub fn get(&self, label: &str) -> Option<&Arc<Database>> {
        self.0.get(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_database() -> (tempfile::TempDir, Arc<Database>) {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(default_path(dir.path()), false).unwrap();
        (dir, database)
    }

    #[tokio::test]
    async fn statements_take_positional_parameters_and_return_typed_rows() {
        let (_dir, database) = file_database();
        let c = database.connect().unwrap();
        c.execute(
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)".into(),
            vec![],
        )
        .await
        .unwrap();
        let row = vec![
            Value::Integer(7),
            Value::Real(1.5),
            Value::Text("hé".into()),
            Value::Blob(vec![0, 1]),
            Value::Null,
        ];
        c.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)".into(), row.clone())
            .await
            .unwrap();
        assert_eq!(c.changes().await.unwrap(), 1);
        assert_eq!(c.last_insert_rowid().await.unwrap(), 1);
        let result = c.execute("SELECT * FROM t".into(), vec![]).await.unwrap();
        assert_eq!(result.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(result.rows, vec![row]);
        // Another connection sees the committed row.
        let other = database.connect().unwrap();
        let count = other
            .execute("SELECT COUNT(*) AS n FROM t".into(), vec![])
            .await
            .unwrap();
        assert_eq!(count.rows, vec![vec![Value::Integer(1)]]);
    }

    #[tokio::test]
    async fn errors_say_what_sqlite_said_and_attach_of_files_is_refused() {
        let (dir, database) = file_database();
        let c = database.connect().unwrap();
        let e = c
            .execute("SELECT * FROM nowhere".into(), vec![])
            .await
            .unwrap_err();
        assert!(e.contains("no such table"), "{e}");
        let e = c
            .execute("SELECT 1; SELECT 2".into(), vec![])
            .await
            .unwrap_err();
        assert!(e.to_lowercase().contains("multiple statements"), "{e}");
        let other = dir.path().join("other.db");
        let e = c
            .execute(
                format!("ATTACH DATABASE '{}' AS o", other.display()),
                vec![],
            )
            .await
            .unwrap_err();
        assert!(e.contains("not authorized"), "{e}");
        assert!(!other.exists());
    }

    #[tokio::test]
    async fn a_private_in_memory_database_is_shared_by_its_connections_only() {
        let database = Database::open_private_memory(false).unwrap();
        let first = database.connect().unwrap();
        first
            .execute("CREATE TABLE t (x)".into(), vec![])
            .await
            .unwrap();
        first
            .execute("INSERT INTO t VALUES (7)".into(), vec![])
            .await
            .unwrap();
        drop(first);
        let second = database.connect().unwrap();
        let third = database.connect().unwrap();
        let rows = third
            .execute("SELECT x FROM t".into(), vec![])
            .await
            .unwrap();
        assert_eq!(rows.rows, vec![vec![Value::Integer(7)]]);
        drop((second, third));
        let other = Database::open_private_memory(false).unwrap();
        let e = other
            .connect()
            .unwrap()
            .execute("SELECT x FROM t".into(), vec![])
            .await
            .unwrap_err();
        assert!(e.contains("no such table"), "{e}");
    }

    #[tokio::test]
    async fn an_in_memory_database_is_fresh_at_every_open() {
        let database = Database::open(None, false).unwrap();
        let c = database.connect().unwrap();
        c.execute("CREATE TABLE t (x)".into(), vec![])
            .await
            .unwrap();
        let fresh = database.connect().unwrap();
        assert!(
            fresh
                .execute("SELECT * FROM t".into(), vec![])
                .await
                .is_err()
        );
    }
}
