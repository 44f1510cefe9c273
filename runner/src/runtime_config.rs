//! Spin's runtime config file (`--runtime-config-file`, `SPIN_RUNTIME_CONFIG_FILE`): where each
//! key-value store and SQLite database lives. `[key_value_store.LABEL]` tables take
//! `type = "spin"` (SQLite; `path` relative to the config file) or `type = "redis"` (`url`);
//! `[sqlite_database.LABEL]` tables take `type = "spin"` with an optional `path` (relative to
//! the current directory, as in Spin; none: in memory) and `allow_attach_file`.
//! `[[variables_provider]]` entries (Spin's older name `config_provider` too) say where
//! application variables come from (`variable_providers`). Anything else is refused with
//! `file: key: reason`, never ignored.

use crate::config_error::{self, ConfigError};
use crate::variable_providers::{self, Provider};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where one store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A SQLite file (Spin's schema).
    Sqlite { path: PathBuf },
    /// A Redis server, e.g. `redis://127.0.0.1:6379`.
    Redis { url: String },
}

/// Where one SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `None`: in memory.
    pub path: Option<PathBuf>,
    pub allow_attach_file: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub file: Option<PathBuf>,
    pub key_value_stores: BTreeMap<String, StoreConfig>,
    pub sqlite_databases: BTreeMap<String, DatabaseConfig>,
    /// `[[variables_provider]]`, in order.
    pub variables_providers: Vec<Provider>,
    /// `state_dir = "..."` (relative to the config file): the state directory, unless the
    /// command line names one.
    pub state_dir: Option<PathBuf>,
    /// `log_dir = "..."` (relative to the config file): `--log-dir`, unless the command line
    /// names one.
    pub log_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawDatabase>,
    #[serde(default)]
    variables_provider: Vec<toml::Table>,
    #[serde(default)]
    config_provider: Vec<toml::Table>,
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    log_dir: Option<String>,
}

/// `[sqlite_database.LABEL]`: the keys of `type = "spin"`; any other key is refused by name.
#[derive(Deserialize)]
struct RawDatabase {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allow_attach_file: bool,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawStore {
    Spin {
        #[serde(default)]
        path: Option<String>,
    },
    Redis {
        url: String,
    },
}

impl RuntimeConfig {
    pub fn load(file: &Path, state_dir: &Path) -> Result<Self, ConfigError> {
        Self::parse(file, &config_error::read(file)?, state_dir)
    }

    pub fn parse(file: &Path, text: &str, state_dir: &Path) -> Result<Self, ConfigError> {
        let err = |key: String, reason: String| ConfigError::new(file, key, reason);
        let raw: RawConfig = config_error::parse_toml(file, text)?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut key_value_stores = BTreeMap::new();
        for (label, store) in raw.key_value_store {
            let key = format!("key_value_store.{label}");
            let config = match store {
                RawStore::Spin { path: None } => StoreConfig::Sqlite {
                    path: crate::kv::sqlite::default_path(state_dir),
                },
                RawStore::Spin { path: Some(path) } if path.is_empty() => {
                    return Err(err(format!("{key}.path"), "must not be empty".into()));
                }
                RawStore::Spin { path: Some(path) } => StoreConfig::Sqlite {
                    path: dir.join(path),
                },
                RawStore::Redis { url } => {
                    if let Err(e) = redis::Client::open(url.as_str()) {
                        return Err(err(
                            format!("{key}.url"),
                            format!("`{url}` is not a Redis URL: {e}"),
                        ));
                    }
                    StoreConfig::Redis { url }
                }
            };
            key_value_stores.insert(label, config);
        }
        let mut sqlite_databases = BTreeMap::new();
        for (label, database) in raw.sqlite_database {
            let key = format!("sqlite_database.{label}");
            match database.kind.as_str() {
                "spin" => {}
                "libsql" => {
                    return Err(err(
                        format!("{key}.type"),
                        "libsql (remote) databases are not hosted by this runner; use `spin`"
                            .into(),
                    ));
                }
                other => {
                    return Err(err(
                        format!("{key}.type"),
                        format!("unknown database type `{other}`, expected `spin`"),
                    ));
                }
            }
            if let Some(unknown) = database.other.keys().next() {
                return Err(err(
                    format!("{key}.{unknown}"),
                    "unknown key (a `spin` database takes `path` and `allow_attach_file`)".into(),
                ));
            }
            let config = DatabaseConfig {
                // Relative to the current directory, as Spin resolves it.
                path: database.path.filter(|p| !p.is_empty()).map(PathBuf::from),
                allow_attach_file: database.allow_attach_file,
            };
            sqlite_databases.insert(label, config);
        }
        let variables_providers = raw
            .variables_provider
            .iter()
            .chain(&raw.config_provider)
            .enumerate()
            .map(|(index, table)| variable_providers::parse(file, index, table))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            file: Some(file.to_path_buf()),
            key_value_stores,
            sqlite_databases,
            variables_providers,
            state_dir: raw.state_dir.map(|d| dir.join(d)),
            log_dir: raw.log_dir.map(|d| dir.join(d)),
        })
    }
}

/// The labels an app's components name (each with the manifest key that names it), every
/// label once, paired with its definition in `defined` (a runtime config table), or, for
/// `default` when that says nothing, `default_config()`. A label defined nowhere is refused
/// with the first key naming it: `no <noun> `LABEL` (only `default` exists unless a runtime
/// config defines `[<section>.LABEL]`)`. Key-value stores and SQLite databases both go this way.
pub fn resolve_labels<'l, C: Clone>(
    manifest_file: &Path,
    named: impl IntoIterator<Item = (String, &'l str)>,
    defined: &BTreeMap<String, C>,
    default_config: impl Fn() -> C,
    (noun, section): (&str, &str),
) -> Result<Vec<(String, &'l str, C)>, ConfigError> {
    let mut resolved: Vec<(String, &str, C)> = Vec::new();
    for (key, label) in named {
        if resolved.iter().any(|(_, seen, _)| *seen == label) {
            continue;
        }
        let config = match defined.get(label) {
            Some(config) => config.clone(),
            None if label == "default" => default_config(),
            None => {
                return Err(ConfigError::new(
                    manifest_file,
                    key,
                    format!(
                        "no {noun} `{label}` (only `default` exists unless a runtime config \
                         defines `[{section}.{label}]`)"
                    ),
                ));
            }
        };
        resolved.push((key, label, config));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig, ConfigError> {
        RuntimeConfig::parse(Path::new("/app/rc.toml"), text, Path::new("/app/.spin"))
    }

    #[test]
    fn reads_spin_and_redis_stores() {
        let config = parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.local]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            config.key_value_stores["local"],
            StoreConfig::Sqlite {
                path: "/app/data/kv.db".into()
            }
        );
    }

    #[test]
    fn reads_sqlite_databases() {
        let config = parse(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/app.db\"\n\
             [sqlite_database.scratch]\ntype = \"spin\"\nallow_attach_file = true\n",
        )
        .unwrap();
        assert_eq!(
            config.sqlite_databases["default"],
            DatabaseConfig {
                path: Some("data/app.db".into()),
                allow_attach_file: false
            }
        );
        assert_eq!(
            config.sqlite_databases["scratch"],
            DatabaseConfig {
                path: None,
                allow_attach_file: true
            }
        );
    }

    #[test]
    fn refuses_unknown_types_keys_and_bad_urls() {
        let e = parse("[key_value_store.default]\ntype = \"azure_cosmos\"\n").unwrap_err();
        assert_eq!(e.key, "key_value_store.default.type");
        assert!(e.reason.contains("azure_cosmos"), "{e}");
        let e =
            parse("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\ncolour = 1\n")
                .unwrap_err();
        assert!(e.key.starts_with("key_value_store.default"), "{e}");
        let e = parse("[sqlite_databases.default]\ntype = \"spin\"\n").unwrap_err();
        assert!(e.reason.contains("sqlite_databases"), "{e}");
        let e = parse("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\n")
            .unwrap_err();
        assert_eq!(e.key, "sqlite_database.default.type");
        let e = parse("[key_value_store.default]\ntype = \"redis\"\nurl = \"http://nope\"\n")
            .unwrap_err();
        assert_eq!(e.key, "key_value_store.default.url");
        assert_eq!(parse("[key_value_store").unwrap_err().key, "(syntax)");
    }
}
