//! Opening an app's stores: every label a component names (and `default` when the app has
//! periodic jobs, whose claims live there), as the runtime config says, or, for `default`
//! when it says nothing, SQLite in the state directory (as `spin up` does).
//! Labels stored in one SQLite file share one connection. A label nobody defines, or a store
//! that cannot be reached, stops the app at start-up with the key that names it.

use super::redis::RedisStore;
use super::sqlite::{self, Database, Durability};
use super::{Store, Stores};
use crate::config_error::ConfigError;
use crate::manifest::Manifest;
use crate::runtime_config::{RuntimeConfig, StoreConfig, resolve_labels};
use anyhow::anyhow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store `spin up` always has, and where periodic jobs' claims live.
pub const DEFAULT: &str = "default";

pub async fn open_stores(
    manifest: &Manifest,
    state_dir: &Path,
    runtime: &RuntimeConfig,
    durability: Durability,
) -> anyhow::Result<Stores> {
    let mut stores = Stores::default();
    let mut databases: HashMap<PathBuf, Database> = HashMap::new();
    let named = manifest.labels_in("key_value_stores", |decl| &decl.key_value_stores);
    let for_jobs = (!manifest.jobs.is_empty()).then(|| ("trigger.cron".to_string(), DEFAULT));
    let resolved = resolve_labels(
        &manifest.path,
        named.chain(for_jobs),
        &runtime.key_value_stores,
        || StoreConfig::Sqlite {
            path: sqlite::default_path(state_dir),
        },
        ("key-value store", "key_value_store"),
    )?;
    for (_, label, config) in resolved {
        let store: Arc<dyn Store> = match config {
            StoreConfig::Sqlite { path } => {
                let database = match databases.get(&path) {
                    Some(database) => database.clone(),
                    None => {
                        let database = Database::open(&path, durability)?;
                        databases.insert(path, database.clone());
                        database
                    }
                };
                Arc::new(database.store(label))
            }
            StoreConfig::Redis { url } => {
                Arc::new(RedisStore::connect(&url).await.map_err(|e| {
                    ConfigError::new(
                        runtime
                            .file
                            .as_deref()
                            .unwrap_or(Path::new("runtime config")),
                        format!("key_value_store.{label}.url"),
                        format!("cannot connect to {url}: {e:#}"),
                    )
                })?)
            }
        };
        stores.insert(label, store);
    }
    Ok(stores)
}

/// `--key-value key=value`: sets entries in the `default` store, as `spin up` does.
pub async fn seed_default_store(
    stores: &Stores,
    entries: &[(String, String)],
) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let store = stores
        .get("default")
        .ok_or_else(|| anyhow!("--key-value: no component uses the `default` key-value store"))?;
    for (key, value) in entries {
        store
            .set(key, value.as_bytes())
            .await
            .map_err(|e| anyhow!("--key-value {key}: {e}"))?;
    }
    Ok(())
}
