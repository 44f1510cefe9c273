//! `spin.toml` (manifest version 2) read into a typed, validated application description.
//!
//! Parsing is serde + toml; `serde_path_to_error` names the key where a value has the wrong
//! shape. Everything a later stage would trip over (unknown components, bad routes, unknown
//! variables in templates, features this runner does not host) is refused here with
//! `file: key: reason`, so a bad manifest never starts a server.

use crate::routes::RoutePattern;
use crate::variables::Template;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A manifest error: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
    }
}

impl std::error::Error for ManifestError {}

/// A validated application.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file itself.
    pub path: PathBuf,
    /// The directory relative paths in the manifest are resolved against.
    pub dir: PathBuf,
    pub name: String,
    pub variables: BTreeMap<String, VariableDecl>,
    pub routes: Vec<HttpRoute>,
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// Where the route is declared, e.g. `trigger.http[0]`.
    pub key: String,
    pub pattern: RoutePattern,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentDecl {
    pub id: String,
    /// Absolute path of the component's wasm file.
    pub source: PathBuf,
    /// Entries as written, templates unresolved (they may use application variables).
    pub allowed_outbound_hosts: Vec<Template>,
    pub key_value_stores: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, Template>,
    pub build: Option<BuildDecl>,
}

#[derive(Debug, Clone)]
pub struct BuildDecl {
    pub command: Vec<String>,
    /// Absolute working directory of the build commands.
    pub workdir: PathBuf,
    pub watch: Vec<String>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates manifest `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let err = |key: &str, reason: String| ManifestError {
            file: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| err("(syntax)", one_line(&e.to_string())))?;
        let raw: RawManifest = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                "(top level)".into()
            } else {
                key
            };
            err(&key, one_line(&e.inner().to_string()))
        })?;
        // `spin.toml` has the parent "": that is the current directory.
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir = parent
            .canonicalize()
            .unwrap_or_else(|_| parent.to_path_buf());
        raw.validate(path, &dir)
    }
}

/// toml's messages span several lines (with a source excerpt); keep the first line.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid manifest").to_string();
    // toml puts the useful reason on the last line after the excerpt.
    match lines.next_back() {
        Some(last) if !last.starts_with('|') && !last.starts_with('^') => {
            format!("{first} {last}")
        }
        _ => first,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    trigger: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(flatten)]
    other: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    route: RawRoute,
    component: toml::Value,
    #[serde(default)]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    #[serde(default)]
    description: Option<String>,
    source: toml::Value,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<RawBuild>,
    // Spin features this runner does not host: accepted by the parser so that the refusal
    // can name them, rather than calling them unknown.
    #[serde(default)]
    files: Option<toml::Value>,
    #[serde(default)]
    exclude_files: Option<toml::Value>,
    #[serde(default)]
    allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    sqlite_databases: Option<toml::Value>,
    #[serde(default)]
    ai_models: Option<toml::Value>,
    #[serde(default)]
    dependencies: Option<toml::Value>,
    #[serde(default)]
    dependencies_inherit_configuration: Option<toml::Value>,
    #[serde(default)]
    tool: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    command: RawCommand,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCommand {
    One(String),
    Many(Vec<String>),
}

impl RawManifest {
    fn validate(self, file: &Path, dir: &Path) -> Result<Manifest, ManifestError> {
        let err = |key: String, reason: String| ManifestError {
            file: file.to_path_buf(),
            key,
            reason,
        };
        if self.spin_manifest_version.as_integer() != Some(2) {
            return Err(err(
                "spin_manifest_version".into(),
                format!(
                    "must be 2 (found {}); this runner reads Spin manifest version 2",
                    self.spin_manifest_version
                ),
            ));
        }
        let _ = (&self.application.version, &self.application.description);
        let _ = &self.application.authors;
        if self.application.trigger.is_some() {
            return Err(err(
                "application.trigger".into(),
                "application-level trigger settings are not supported by this runner".into(),
            ));
        }
        if let Some(kind) = self.trigger.other.keys().next() {
            return Err(err(
                format!("trigger.{kind}"),
                "only HTTP triggers (`[[trigger.http]]`) are supported by this runner".into(),
            ));
        }

        let mut variables = BTreeMap::new();
        for (name, raw) in self.variables {
            let key = format!("variables.{name}");
            crate::variables::check_name(&name).map_err(|reason| err(key.clone(), reason))?;
            if raw.required && raw.default.is_some() {
                return Err(err(
                    key,
                    "a variable cannot be both `required` and have a `default`".into(),
                ));
            }
            let _ = raw.description;
            variables.insert(
                name,
                VariableDecl {
                    default: raw.default,
                    required: raw.required,
                    secret: raw.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, raw) in self.component {
            let decl = raw.validate(&id, dir, &variables, &err)?;
            components.insert(id, decl);
        }

        let mut routes: Vec<HttpRoute> = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, trigger) in self.trigger.http.into_iter().enumerate() {
            let key = format!("trigger.http[{index}]");
            let _ = trigger.id;
            if trigger.executor.is_some() {
                return Err(err(
                    format!("{key}.executor"),
                    "only the default (Spin) executor is supported".into(),
                ));
            }
            let component = match trigger.component {
                toml::Value::String(id) => id,
                _ => {
                    return Err(err(
                        format!("{key}.component"),
                        "inline components are not supported; name a `[component.<id>]`".into(),
                    ));
                }
            };
            if !components.contains_key(&component) {
                return Err(err(
                    format!("{key}.component"),
                    format!(
                        "no component named `{component}` (no `[component.{component}]` table)"
                    ),
                ));
            }
            match trigger.route {
                RawRoute::Private { private: true } => continue,
                RawRoute::Private { private: false } => {
                    return Err(err(
                        format!("{key}.route"),
                        "`{ private = false }` is not a route; give a path such as \"/hello\""
                            .into(),
                    ));
                }
                RawRoute::Path(route) => {
                    let pattern = RoutePattern::parse(&route)
                        .map_err(|reason| err(format!("{key}.route"), reason))?;
                    if !seen.insert(pattern.canonical()) {
                        return Err(err(
                            format!("{key}.route"),
                            format!("route `{route}` is declared twice"),
                        ));
                    }
                    routes.push(HttpRoute {
                        key,
                        pattern,
                        component,
                    });
                }
            }
        }

        Ok(Manifest {
            path: file.to_path_buf(),
            dir: dir.to_path_buf(),
            name: self.application.name,
            variables,
            routes,
            components,
        })
    }
}

impl RawComponent {
    fn validate(
        self,
        id: &str,
        dir: &Path,
        variables: &BTreeMap<String, VariableDecl>,
        err: &dyn Fn(String, String) -> ManifestError,
    ) -> Result<ComponentDecl, ManifestError> {
        let key = |field: &str| format!("component.{id}.{field}");
        check_component_id(id).map_err(|reason| err(format!("component.{id}"), reason))?;
        let _ = self.description;

        let unsupported = [
            ("files", self.files.is_some()),
            ("exclude_files", self.exclude_files.is_some()),
            ("sqlite_databases", self.sqlite_databases.is_some()),
            ("ai_models", self.ai_models.is_some()),
            ("dependencies", self.dependencies.is_some()),
            (
                "dependencies_inherit_configuration",
                self.dependencies_inherit_configuration.is_some(),
            ),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, present)| *present) {
            return Err(err(key(field), "not supported by this runner".into()));
        }
        if self.allowed_http_hosts.is_some() {
            return Err(err(
                key("allowed_http_hosts"),
                "removed in manifest version 2; use `allowed_outbound_hosts`".into(),
            ));
        }
        let _ = self.tool;

        let source = match self.source {
            toml::Value::String(path) if !path.is_empty() => dir.join(path),
            toml::Value::String(_) => return Err(err(key("source"), "must not be empty".into())),
            toml::Value::Table(_) => {
                return Err(err(
                    key("source"),
                    "remote sources (`{ url, digest }`) are not supported; give a local .wasm path"
                        .into(),
                ));
            }
            other => {
                return Err(err(
                    key("source"),
                    format!(
                        "expected a path to a .wasm file, found {}",
                        other.type_str()
                    ),
                ));
            }
        };

        let mut allowed_outbound_hosts = Vec::new();
        for (index, entry) in self.allowed_outbound_hosts.iter().enumerate() {
            let entry_key = key(&format!("allowed_outbound_hosts[{index}]"));
            let template =
                Template::parse(entry).map_err(|reason| err(entry_key.clone(), reason))?;
            template
                .check_references(variables)
                .map_err(|reason| err(entry_key.clone(), reason))?;
            if template.is_literal() {
                crate::allowed_hosts::AllowedHost::parse(entry)
                    .map_err(|reason| err(entry_key.clone(), reason))?;
            }
            allowed_outbound_hosts.push(template);
        }

        let mut component_variables = BTreeMap::new();
        for (name, value) in self.variables {
            let var_key = key(&format!("variables.{name}"));
            crate::variables::check_name(&name).map_err(|reason| err(var_key.clone(), reason))?;
            let template =
                Template::parse(&value).map_err(|reason| err(var_key.clone(), reason))?;
            template
                .check_references(variables)
                .map_err(|reason| err(var_key.clone(), reason))?;
            component_variables.insert(name, template);
        }

        for (index, label) in self.key_value_stores.iter().enumerate() {
            if label.is_empty() {
                return Err(err(
                    key(&format!("key_value_stores[{index}]")),
                    "store label must not be empty".into(),
                ));
            }
        }

        let build = match self.build {
            None => None,
            Some(raw) => {
                let command = match raw.command {
                    RawCommand::One(c) => vec![c],
                    RawCommand::Many(c) => c,
                };
                if command.iter().all(|c| c.trim().is_empty()) {
                    return Err(err(key("build.command"), "must not be empty".into()));
                }
                let workdir = match raw.workdir {
                    None => dir.to_path_buf(),
                    Some(w) if Path::new(&w).is_absolute() => {
                        return Err(err(key("build.workdir"), "must be a relative path".into()));
                    }
                    Some(w) => dir.join(w),
                };
                Some(BuildDecl {
                    command,
                    workdir,
                    watch: raw.watch,
                })
            }
        };

        Ok(ComponentDecl {
            id: id.to_string(),
            source,
            allowed_outbound_hosts,
            key_value_stores: self.key_value_stores,
            environment: self.environment,
            variables: component_variables,
            build,
        })
    }
}

/// Spin's component ids: lowercase words of letters and digits joined by single `-` or `_`.
fn check_component_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.split(['-', '_']).all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not a valid component id (lowercase letters and digits, words joined by `-`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
host = { default = "test2.spin.internal" }
[[trigger.http]]
route = "/a"
component = "a"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["http://{{ host }}"]
key_value_stores = ["default"]
[component.a.variables]
host = "{{ host }}"
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("spin.toml"), text)
    }

    #[test]
    fn reads_a_good_manifest() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.routes.len(), 1);
        assert_eq!(m.components["a"].key_value_stores, vec!["default"]);
    }

    #[test]
    fn names_the_key_of_a_wrongly_typed_value() {
        let e = parse(&GOOD.replace(r#"source = "a.wasm""#, "source = 3")).unwrap_err();
        assert_eq!(e.key, "component.a.source");
        let e = parse(&GOOD.replace(r#"key_value_stores = ["default"]"#, "key_value_stores = 1"))
            .unwrap_err();
        assert_eq!(e.key, "component.a.key_value_stores");
    }

    #[test]
    fn refuses_unknown_keys_and_components() {
        let e = parse(&GOOD.replace(
            "[component.a.variables]",
            "colour = 1\n[component.a.variables]",
        ))
        .unwrap_err();
        assert_eq!(e.key, "component.a.colour");
        assert!(e.reason.contains("unknown field"), "{e}");
        let e = parse(&GOOD.replace(r#"component = "a""#, r#"component = "b""#)).unwrap_err();
        assert_eq!(e.key, "trigger.http[0].component");
    }

    #[test]
    fn refuses_bad_routes_and_templates() {
        let e = parse(&GOOD.replace(r#"route = "/a""#, r#"route = "a/...""#)).unwrap_err();
        assert_eq!(e.key, "trigger.http[0].route");
        let e =
            parse(&GOOD.replace(r#"host = "{{ host }}""#, r#"host = "{{ nope }}""#)).unwrap_err();
        assert_eq!(e.key, "component.a.variables.host");
        let e = parse(&GOOD.replace("http://{{ host }}", "{{ nope }}")).unwrap_err();
        assert_eq!(e.key, "component.a.allowed_outbound_hosts[0]");
    }

    #[test]
    fn a_bare_file_name_resolves_against_the_current_directory() {
        let m = parse(GOOD).unwrap();
        assert!(m.dir.is_absolute(), "{:?}", m.dir);
        assert_eq!(
            m.components["a"].source,
            std::env::current_dir().unwrap().join("a.wasm")
        );
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let e = parse("spin_manifest_version = ").unwrap_err();
        assert_eq!(e.key, "(syntax)");
        assert!(!e.to_string().contains('\n'));
    }
}
