//! Where application variables get their values besides `--variable`, as Spin looks them up:
//! the runtime config's `[[variables_provider]]` entries, in order (`type = "env"`, with a
//! `prefix`, default `SPIN_VARIABLE`, and a `dotenv_path`; `type = "static"`, with `values`),
//! then the built-in environment provider (`SPIN_VARIABLE_<NAME>` in the process environment,
//! then in the `.env` file beside the manifest). The first one that has a value wins; the
//! manifest's `default` comes last. Vault and Azure Key Vault providers are refused by name.

use crate::config_error::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// The prefix Spin's environment providers use unless told otherwise.
pub const DEFAULT_PREFIX: &str = "SPIN_VARIABLE";

/// One source of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// `{PREFIX}_{NAME}` (the name uppercased) from the process environment (when read at
    /// all), then from a dotenv file's entries.
    Env {
        prefix: String,
        read_process_env: bool,
        dotenv: BTreeMap<String, String>,
    },
    /// Fixed values, by variable name.
    Static(BTreeMap<String, String>),
}

impl Provider {
    /// The built-in provider: `SPIN_VARIABLE_*` from the environment (if `read_process_env`)
    /// and the `.env` file in `dir` (if any).
    pub fn built_in(dir: &Path, read_process_env: bool) -> Result<Self, ConfigError> {
        Ok(Self::Env {
            prefix: DEFAULT_PREFIX.into(),
            read_process_env,
            dotenv: read_dotenv(&dir.join(".env"), "(.env)")?,
        })
    }

    /// The value this provider has for variable `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Env {
                prefix,
                read_process_env,
                dotenv,
            } => {
                let key = format!("{prefix}_{}", name.to_ascii_uppercase());
                read_process_env
                    .then(|| std::env::var(&key).ok())
                    .flatten()
                    .or_else(|| dotenv.get(&key).cloned())
            }
            Self::Static(values) => values.get(name).cloned(),
        }
    }
}

/// The entries of the dotenv file at `path` (none if it does not exist); a malformed file is
/// refused, naming `key` and the line.
pub fn read_dotenv(path: &Path, key: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let entries = match dotenvy::from_path_iter(path) {
        Ok(entries) => entries,
        Err(e) if e.not_found() => return Ok(BTreeMap::new()),
        Err(e) => return Err(ConfigError::new(path, key, e.to_string())),
    };
    entries
        .map(|entry| entry.map_err(|e| ConfigError::new(path, key, e.to_string())))
        .collect()
}

/// One `[[variables_provider]]` table of the runtime config `file`, at `index`.
pub fn parse(file: &Path, index: usize, table: &toml::Table) -> Result<Provider, ConfigError> {
    let key = format!("variables_provider[{index}]");
    let err =
        |field: &str, reason: String| ConfigError::new(file, format!("{key}.{field}"), reason);
    let text = |field: &str| match table.get(field) {
        None => Ok(None),
        Some(toml::Value::String(value)) => Ok(Some(value.clone())),
        Some(other) => Err(err(
            field,
            format!("must be a string, found {}", other.type_str()),
        )),
    };
    let allow_only = |allowed: &[&str]| match table.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        Some(unknown) => Err(err(unknown, "unknown field".into())),
        None => Ok(()),
    };
    match text("type")?.as_deref() {
        Some("env") => {
            allow_only(&["type", "prefix", "dotenv_path"])?;
            let dotenv = match text("dotenv_path")? {
                // Relative to the current directory, as in Spin.
                Some(path) => read_dotenv(Path::new(&path), &format!("{key}.dotenv_path"))?,
                None => BTreeMap::new(),
            };
            Ok(Provider::Env {
                prefix: text("prefix")?.unwrap_or_else(|| DEFAULT_PREFIX.into()),
                read_process_env: true,
                dotenv,
            })
        }
        Some("static") => {
            allow_only(&["type", "values"])?;
            let values = match table.get("values") {
                None => BTreeMap::new(),
                Some(toml::Value::Table(values)) => values
                    .iter()
                    .map(|(name, value)| match value {
                        toml::Value::String(value) => Ok((name.clone(), value.clone())),
                        other => Err(err(
                            &format!("values.{name}"),
                            format!("must be a string, found {}", other.type_str()),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(err(
                        "values",
                        format!("must be a table, found {}", other.type_str()),
                    ));
                }
            };
            Ok(Provider::Static(values))
        }
        Some(kind @ ("vault" | "azure_key_vault")) => Err(err(
            "type",
            format!("`{kind}` variable providers are not supported by this runner; use spin up"),
        )),
        Some(other) => Err(err(
            "type",
            format!(
                "unknown variables provider type `{other}` (this runner has `env` and `static`)"
            ),
        )),
        None => Err(err("type", "a variables provider needs a `type`".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn env_providers_read_their_prefix_then_their_dotenv_file() {
        let dir = tempfile::tempdir().unwrap();
        let dotenv = dir.path().join("vars.env");
        std::fs::write(
            &dotenv,
            "MYAPP_COLOUR=blue\n# a comment\nMYAPP_SIZE=\"large\"\n",
        )
        .unwrap();
        let provider = parse(
            Path::new("rc.toml"),
            0,
            &table(&format!(
                "type = \"env\"\nprefix = \"MYAPP\"\ndotenv_path = \"{}\"",
                dotenv.display()
            )),
        )
        .unwrap();
        assert_eq!(provider.get("colour").as_deref(), Some("blue"));
        assert_eq!(provider.get("size").as_deref(), Some("large"));
        assert_eq!(provider.get("missing"), None);
    }

    #[test]
    fn the_built_in_provider_reads_dot_env_beside_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "SPIN_VARIABLE_GREETING=bonjour\n").unwrap();
        let provider = Provider::built_in(dir.path(), false).unwrap();
        assert_eq!(provider.get("greeting").as_deref(), Some("bonjour"));
        let none = Provider::built_in(&dir.path().join("elsewhere"), false).unwrap();
        assert_eq!(none.get("greeting"), None);
    }

    #[test]
    fn static_values_and_refusals_by_name() {
        let provider = parse(
            Path::new("rc.toml"),
            0,
            &table("type = \"static\"\nvalues = { greeting = \"hi\" }"),
        )
        .unwrap();
        assert_eq!(provider.get("greeting").as_deref(), Some("hi"));
        let e = parse(
            Path::new("rc.toml"),
            2,
            &table("type = \"vault\"\nurl = \"x\""),
        )
        .unwrap_err();
        assert_eq!(e.key, "variables_provider[2].type");
        assert!(e.reason.contains("vault"), "{e}");
        let e = parse(
            Path::new("rc.toml"),
            0,
            &table("type = \"env\"\ncolour = 1"),
        )
        .unwrap_err();
        assert_eq!(e.key, "variables_provider[0].colour");
    }
}
