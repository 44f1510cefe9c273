//! The manifest's TOML shape, as serde reads it: Spin's keys, nothing else (unknown keys are
//! refused by name). Spin features the runner does not host are accepted here so that the
//! validation can refuse them *by name* instead of calling them unknown.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    pub spin_manifest_version: toml::Value,
    pub application: RawApplication,
    #[serde(default)]
    pub variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    pub trigger: RawTriggers,
    #[serde(default)]
    pub component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: Option<toml::Table>,
    // Accepted and not acted on, as by `spin up`: deployment targets, tools' settings.
    #[serde(default)]
    #[allow(dead_code)]
    pub targets: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub tool: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct RawTriggers {
    #[serde(default)]
    pub http: Vec<RawHttpTrigger>,
    #[serde(default)]
    pub cron: Vec<RawCronTrigger>,
    #[serde(default)]
    pub redis: Vec<RawRedisTrigger>,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

/// `[[trigger.cron]]`: exactly the keys of Spin's cron trigger plugin (and Spin's `id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCronTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    pub component: toml::Value,
    pub cron_expression: String,
}

/// `[[trigger.redis]]`: Spin's keys (templates allowed in `channel` and `address`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedisTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    pub component: toml::Value,
    pub channel: String,
    /// The server, when not `[application.trigger.redis] address`.
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    pub id: Option<String>,
    pub route: RawRoute,
    pub component: toml::Value,
    #[serde(default)]
    pub executor: Option<RawExecutor>,
}

/// `executor = { type = "spin" | "http" | "wagi", ... }`.
#[derive(Deserialize)]
pub(super) struct RawExecutor {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    #[allow(dead_code)]
    pub options: toml::Table,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponent {
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub source: toml::Value,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<RawBuild>,
    #[serde(default)]
    pub files: Vec<RawFileMount>,
    /// Narrows `files`; without `files` it changes nothing (Spin's JS template has it).
    #[serde(default)]
    pub exclude_files: Vec<String>,
    // Accepted and not acted on, as by `spin up`: tools' settings (spin-test's and others'),
    // deployment targets, build profiles (`spin up` builds and runs the default profile).
    #[serde(default)]
    #[allow(dead_code)]
    pub tool: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub targets: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    pub profile: Option<toml::Value>,
    // Spin features this runner does not host: read so that they can be refused by name.
    #[serde(default)]
    pub allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    pub ai_models: Option<toml::Value>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<toml::Value>,
}

/// One entry of `files`: a path or glob, or a `{ source, destination }` mapping.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawFileMount {
    Pattern(String),
    Placement(RawPlacement),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlacement {
    pub source: String,
    pub destination: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuild {
    pub command: RawCommand,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawCommand {
    One(String),
    Many(Vec<String>),
}
