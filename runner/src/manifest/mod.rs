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
    /// `[application] version`, if given.
    pub version: Option<String>,
    pub variables: BTreeMap<String, VariableDecl>,
    pub routes: Vec<HttpRoute>,
    /// Periodic jobs (`[[trigger.cron]]`), in the manifest's order.
    pub jobs: Vec<CronJob>,
    /// Redis channels (`[[trigger.redis]]`), in the manifest's order.
    pub redis_triggers: Vec<RedisTrigger>,
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

/// A `[[trigger.redis]]`: run `component` for each message on `channel` at `address`.
#[derive(Debug, Clone)]
pub struct RedisTrigger {
    /// Where the trigger is declared, e.g. `trigger.redis[0]`.
    pub key: String,
    pub component: String,
    pub channel: Template,
    /// The trigger's own `address`, else `[application.trigger.redis] address`.
    pub address: Template,
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
    pub source: ComponentSource,
    /// `files` entries, in order (mounted read-only at the guest's `/`).
    pub files: Vec<FileMount>,
    /// Globs (relative to the manifest's directory) of files `files` leaves out.
    pub exclude_files: Vec<glob::Pattern>,
    /// Entries as written, templates unresolved (they may use application variables).
    pub allowed_outbound_hosts: Vec<Template>,
    pub key_value_stores: Vec<String>,
    /// SQLite database labels it may open (`sqlite_databases`).
    pub sqlite_databases: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub variables: BTreeMap<String, Template>,
    pub build: Option<BuildDecl>,
}

/// Where a component's wasm comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A local file (absolute path).
    File(PathBuf),
    /// Downloaded from `url` and used only if its SHA-256 is `sha256` (lowercase hex).
    Remote { url: String, sha256: String },
}

/// One entry of a component's `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMount {
    /// A file, a directory or a glob, relative to the manifest's directory; mounted at the
    /// same path under `/`.
    Pattern(String),
    /// A file or directory (relative to the manifest's directory) mounted at `destination`.
    Placement { source: String, destination: String },
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

    /// The app with only the triggers of `components` (`-c`, as `spin up` keeps them); the
    /// whole app when `components` is empty. The other components are left out too.
    pub fn only(mut self, components: &[String]) -> Result<Self, ConfigError> {
        if components.is_empty() {
            return Ok(self);
        }
        if let Some(unknown) = components
            .iter()
            .find(|c| !self.components.contains_key(*c))
        {
            let known: Vec<&str> = self.components.keys().map(String::as_str).collect();
            return Err(self.error(
                format!("component.{unknown}"),
                format!(
                    "`-c {unknown}`: the app has no such component (it has: {})",
                    known.join(", ")
                ),
            ));
        }
        let keep = |id: &str| components.iter().any(|c| c == id);
        self.routes.retain(|route| keep(&route.component));
        self.jobs.retain(|job| keep(&job.component));
        self.redis_triggers
            .retain(|trigger| keep(&trigger.component));
        self.components.retain(|id, _| keep(id));
        Ok(self)
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
    let redis_address = check_application_triggers(raw.application.trigger.as_ref(), file)?;

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
    let triggers = triggers::validate(
        raw.trigger,
        file,
        &components,
        redis_address.as_ref(),
        &declared,
    )?;

    Ok(Manifest {
        path: file.to_path_buf(),
        dir: dir.to_path_buf(),
        name: raw.application.name,
        version: raw.application.version,
        variables: declared,
        routes: triggers.routes,
        jobs: triggers.jobs,
        redis_triggers: triggers.redis,
        components,
    })
}

/// `[application.trigger.http]` may only carry Spin's deprecated `base = "/"` (which changes
/// nothing), and `[application.trigger.redis]` only `address` (the Redis triggers' default
/// server, which it returns); other application-level trigger settings are refused by name.
fn check_application_triggers(
    triggers: Option<&toml::Table>,
    file: &Path,
) -> Result<Option<(String, String)>, ConfigError> {
    let err = |key: String, reason: String| ConfigError::new(file, key, reason);
    let mut redis_address = None;
    for (kind, settings) in triggers.into_iter().flatten() {
        let key = format!("application.trigger.{kind}");
        let Some(settings) = settings
            .as_table()
            .filter(|_| kind == "http" || kind == "redis")
        else {
            return Err(err(
                key,
                "application-level trigger settings are not supported by this runner".into(),
            ));
        };
        for (name, value) in settings {
            match (kind.as_str(), name.as_str(), value.as_str()) {
                ("http", "base", Some("/")) => tracing::warn!(
                    "{}: {key}.base is deprecated (and `/` changes nothing)",
                    file.display()
                ),
                ("http", "base", _) => {
                    return Err(err(
                        format!("{key}.base"),
                        "only `/` is allowed (Spin deprecated other bases)".into(),
                    ));
                }
                ("redis", "address", Some(address)) => {
                    redis_address = Some((format!("{key}.address"), address.to_string()));
                }
                ("redis", "address", None) => {
                    return Err(err(
                        format!("{key}.address"),
                        "must be a string such as \"redis://127.0.0.1:6379\"".into(),
                    ));
                }
                _ => return Err(err(format!("{key}.{name}"), "unknown field".into())),
            }
        }
    }
    Ok(redis_address)
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
    fn keeps_only_the_named_components_and_names_the_ones_it_has() {
        let m = parse(GOOD).unwrap().only(&["a".to_string()]).unwrap();
        assert_eq!(m.routes.len(), 1);
        let e = parse(GOOD).unwrap().only(&["b".to_string()]).unwrap_err();
        assert_eq!(e.key, "component.b");
        assert!(e.reason.contains("(it has: a)"), "{}", e.reason);
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
            ComponentSource::File(std::env::current_dir().unwrap().join("a.wasm"))
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
        let e = parse(&format!("{GOOD}[[trigger.mqtt]]\ncomponent = \"a\"\n")).unwrap_err();
        assert_eq!(e.key, "trigger.mqtt");
    }

    #[test]
    fn reads_redis_triggers_with_the_application_address_and_templates() {
        let trigger = "[[trigger.redis]]\ncomponent = \"a\"\nchannel = \"{{ host }}-events\"\n";
        let app_address = "[application.trigger.redis]\naddress = \"redis://127.0.0.1:1\"\n";
        let with_app_address = GOOD.replace("[variables]", &format!("{app_address}[variables]"));
        let m = parse(&format!("{with_app_address}{trigger}")).unwrap();
        let values = BTreeMap::from([("host".to_string(), "h".to_string())]);
        assert_eq!(m.redis_triggers[0].component, "a");
        assert_eq!(
            m.redis_triggers[0].channel.render(&values).unwrap(),
            "h-events"
        );
        assert_eq!(
            m.redis_triggers[0].address.render(&values).unwrap(),
            "redis://127.0.0.1:1"
        );
        let own = format!("{trigger}address = \"redis://{{{{ host }}}}:2\"\n");
        let m = parse(&format!("{with_app_address}{own}")).unwrap();
        assert_eq!(
            m.redis_triggers[0].address.render(&values).unwrap(),
            "redis://h:2"
        );
        let e = parse(&format!("{GOOD}{trigger}")).unwrap_err();
        assert_eq!(e.key, "trigger.redis[0].address");
        let e = parse(&format!(
            "{with_app_address}{}",
            trigger.replace("host", "nope")
        ))
        .unwrap_err();
        assert_eq!(e.key, "trigger.redis[0].channel");
        let e = parse(&format!("{with_app_address}{trigger}queue = 1\n")).unwrap_err();
        assert_eq!(e.key, "trigger.redis[0].queue");
        let e = parse(&GOOD.replace(
            "[variables]",
            "[application.trigger.redis]\nport = 1\n[variables]",
        ))
        .unwrap_err();
        assert_eq!(e.key, "application.trigger.redis.port");
    }

    #[test]
    fn remote_sources_need_a_url_and_a_sha256_digest() {
        let remote = |source: &str| parse(&GOOD.replace(r#"source = "a.wasm""#, source));
        let digest = "a".repeat(64);
        let m = remote(&format!(
            r#"source = {{ url = "https://example.com/a.wasm", digest = "sha256:{digest}" }}"#
        ))
        .unwrap();
        assert_eq!(
            m.components["a"].source,
            ComponentSource::Remote {
                url: "https://example.com/a.wasm".into(),
                sha256: digest.clone()
            }
        );
        for (source, reason) in [
            (r#"{ url = "https://e.com/a.wasm" }"#, "needs `digest`"),
            (
                r#"{ url = "https://e.com/a.wasm", digest = "md5:00" }"#,
                "must start with 'sha256:'",
            ),
            (
                r#"{ url = "https://e.com/a.wasm", digest = "sha256:12" }"#,
                "64 hexadecimal",
            ),
            (
                r#"{ package = "a:b", version = "1.0.0" }"#,
                "registry sources",
            ),
            (r#"{ url = "ftp://e.com/a.wasm", digest = "sha256:X" }"#, ""),
        ] {
            let e = remote(&format!("source = {source}")).unwrap_err();
            assert_eq!(e.key, "component.a.source", "{source}");
            assert!(e.reason.contains(reason), "{source}: {e}");
        }
    }

    #[test]
    fn files_entries_are_checked_by_index() {
        let files = |entries: &str| {
            parse(&GOOD.replace(
                "key_value_stores",
                &format!("files = {entries}\nkey_value_stores"),
            ))
        };
        let m = files(r#"["static", { source = "a", destination = "/b" }]"#).unwrap();
        assert_eq!(
            m.components["a"].files,
            [
                FileMount::Pattern("static".into()),
                FileMount::Placement {
                    source: "a".into(),
                    destination: "/b".into()
                }
            ]
        );
        for (entries, index) in [
            (r#"["ok", "static/.."]"#, 1),
            (r#"["."]"#, 0),
            (r#"["/etc"]"#, 0),
        ] {
            let e = files(entries).unwrap_err();
            assert_eq!(e.key, format!("component.a.files[{index}]"), "{entries}");
        }
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let e = parse("spin_manifest_version = ").unwrap_err();
        assert_eq!(e.key, "(syntax)");
        assert!(!e.to_string().contains('\n'));
    }
}
