//! `spin.toml` (manifest version 2) read into a typed, validated application description.
//!
//! Parsing is serde + toml (`raw`); every value of the wrong shape is refused naming its key.
//! Everything a later stage would trip over (unknown components, bad routes, unknown
//! variables in templates, features this runner does not host) is refused here too
//! (`component`, `triggers`), so a bad manifest never starts a server. Every refusal is a
//! `ConfigError`: `file: key: reason`.

mod component;
mod raw;
mod triggers;

use crate::config_error::{self, ConfigError};
use crate::cron::Schedule;
use crate::routes::RoutePattern;
use crate::variables::{self, Template, VariableDecl};
use raw::RawManifest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Periodic jobs (`[[trigger.cron]]`), in the manifest's order.
    pub jobs: Vec<CronJob>,
    pub components: BTreeMap<String, ComponentDecl>,
}

/// A `[[trigger.cron]]`: run `component` on `schedule`.
#[derive(Debug, Clone)]
pub struct CronJob {
    /// Where the job is declared, e.g. `trigger.cron[0]`.
    pub key: String,
    pub component: String,
    pub schedule: Schedule,
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
    /// SQLite database labels it may open (`sqlite_databases`).
    pub sqlite_databases: Vec<String>,
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
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(path, &config_error::read(path)?)
    }

    /// Validates manifest `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawManifest = config_error::parse_toml(path, text)?;
        // `spin.toml` has the parent "": that is the current directory.
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir = parent
            .canonicalize()
            .unwrap_or_else(|_| parent.to_path_buf());
        validate(raw, path, &dir)
    }

    /// Every label the components list in a field such as `key_value_stores` (`list` picks
    /// it from a component), with the key that names it: `component.ID.FIELD[i]`.
    pub fn labels_in<'m>(
        &'m self,
        field: &'static str,
        list: fn(&ComponentDecl) -> &[String],
    ) -> impl Iterator<Item = (String, &'m str)> + 'm {
        self.components.values().flat_map(move |decl| {
            list(decl).iter().enumerate().map(move |(index, label)| {
                (
                    format!("component.{}.{field}[{index}]", decl.id),
                    label.as_str(),
                )
            })
        })
    }

    /// A key of this manifest refused for `reason`.
    pub fn error(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.path, key, reason)
    }
}

fn validate(raw: RawManifest, file: &Path, dir: &Path) -> Result<Manifest, ConfigError> {
    let err = |key: &str, reason: String| ConfigError::new(file, key, reason);
    if raw.spin_manifest_version.as_integer() != Some(2) {
        return Err(err(
            "spin_manifest_version",
            format!(
                "must be 2 (found {}); this runner reads Spin manifest version 2",
                raw.spin_manifest_version
            ),
        ));
    }
    if raw.application.trigger.is_some() {
        return Err(err(
            "application.trigger",
            "application-level trigger settings are not supported by this runner".into(),
        ));
    }

    let mut declared = BTreeMap::new();
    for (name, variable) in raw.variables {
        let key = format!("variables.{name}");
        variables::check_name(&name).map_err(|reason| err(&key, reason))?;
        if variable.required && variable.default.is_some() {
            return Err(err(
                &key,
                "a variable cannot be both `required` and have a `default`".into(),
            ));
        }
        declared.insert(
            name,
            VariableDecl {
                default: variable.default,
                required: variable.required,
                secret: variable.secret,
            },
        );
    }

    let mut components = BTreeMap::new();
    for (id, component) in raw.component {
        let decl = component::validate(component, &id, file, dir, &declared)?;
        components.insert(id, decl);
    }
    let triggers = triggers::validate(raw.trigger, file, &components)?;

    Ok(Manifest {
        path: file.to_path_buf(),
        dir: dir.to_path_buf(),
        name: raw.application.name,
        variables: declared,
        routes: triggers.routes,
        jobs: triggers.jobs,
        components,
    })
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

    fn parse(text: &str) -> Result<Manifest, ConfigError> {
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
    fn reads_cron_triggers_and_refuses_bad_ones_by_key() {
        let job = "[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"*/2 * * * * *\"\n";
        let m = parse(&format!("{GOOD}{job}")).unwrap();
        assert_eq!(m.jobs.len(), 1);
        assert_eq!(m.jobs[0].component, "a");
        assert_eq!(m.jobs[0].schedule.expression(), "*/2 * * * * *");
        let e = parse(&format!("{GOOD}{}", job.replace("*/2 * * * * *", "* * *"))).unwrap_err();
        assert_eq!(e.key, "trigger.cron[0].cron_expression");
        let e = parse(&format!("{GOOD}{}", job.replace("\"a\"", "\"b\""))).unwrap_err();
        assert_eq!(e.key, "trigger.cron[0].component");
        let e = parse(&format!("{GOOD}{job}every = 2\n")).unwrap_err();
        assert_eq!(e.key, "trigger.cron[0].every");
        let e = parse(&format!("{GOOD}[[trigger.redis]]\ncomponent = \"a\"\n")).unwrap_err();
        assert_eq!(e.key, "trigger.redis");
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let e = parse("spin_manifest_version = ").unwrap_err();
        assert_eq!(e.key, "(syntax)");
        assert!(!e.to_string().contains('\n'));
    }
}
