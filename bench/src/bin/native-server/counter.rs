//! The counters in SQLite, in Spin's schema (`spin_key_value(store, key, value)`, store
//! `default`, values 8-byte little-endian i64), owned by one dedicated thread so tokio's
//! workers never wait on the disk. Each increment is answered only after its transaction
//! commits; with group commit, increments queued during a commit share the next one.

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use tokio::sync::{mpsc, oneshot};

const STORE: &str = "default";
/// The most increments one group commit carries.
const MAX_GROUP: usize = 512;

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
    ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";

/// A handle on the database thread.
#[derive(Clone)]
pub struct Counter {
    jobs: mpsc::UnboundedSender<Job>,
}

struct Job {
    key: &'static str,
    reply: oneshot::Sender<Result<i64, String>>,
}

impl Counter {
    pub fn open(path: &Path, fsync: bool, group_commit: bool) -> anyhow::Result<Self> {
        let connection =
            open_connection(path, fsync).with_context(|| format!("opening {}", path.display()))?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let group = if group_commit { MAX_GROUP } else { 1 };
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || run(connection, queue, group))?;
        Ok(Self { jobs })
    }

    /// Adds one to `key` and returns the new value, once committed.
    pub async fn increment(&self, key: &'static str) -> Result<i64, String> {
        let (reply, answer) = oneshot::channel();
        let stopped = || "the database thread stopped".to_string();
        self.jobs.send(Job { key, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn open_connection(path: &Path, fsync: bool) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        );",
    )?;
    Ok(connection)
}

/// The database thread: takes what is queued (up to `group`), commits it, answers.
fn run(mut connection: Connection, mut queue: mpsc::UnboundedReceiver<Job>, group: usize) {
    let mut batch = Vec::with_capacity(group);
    while let Some(job) = queue.blocking_recv() {
        batch.push(job);
        while batch.len() < group {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match commit(&mut connection, batch.iter().map(|job| job.key)) {
            Ok(values) => {
                for (job, value) in batch.drain(..).zip(values) {
                    let _ = job.reply.send(Ok(value));
                }
            }
            Err(e) => {
                let reason = format!("{e:#}");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(reason.clone()));
                }
            }
        }
    }
}

/// Increments each key in one write transaction; returns the new values in order.
fn commit<'k>(
    connection: &mut Connection,
    keys: impl Iterator<Item = &'k str>,
) -> anyhow::Result<Vec<i64>> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut values = Vec::new();
    {
        let mut select = tx.prepare_cached(SELECT)?;
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for key in keys {
            let current: Option<Vec<u8>> = select
                .query_row(params![STORE, key], |row| row.get(0))
                .optional()?;
            let current = match current {
                None => 0,
                Some(bytes) => i64::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!("`{key}` holds {} bytes, not an 8-byte counter", bytes.len())
                })?),
            };
            let next = current
                .checked_add(1)
                .ok_or_else(|| anyhow::anyhow!("`{key}` would overflow"))?;
            upsert.execute(params![STORE, key, next.to_le_bytes()])?;
            values.push(next);
        }
    }
    tx.commit()?;
    Ok(values)
}
