//! One `[component.<id>]` table checked into a `ComponentDecl`: its id, its source, its
//! outbound hosts and variables (templates whose references must be declared), its stores,
//! its build; Spin features the runner does not host refused by name.

use super::raw::{RawBuild, RawCommand, RawComponent, RawFileMount};
use super::{BuildDecl, ComponentDecl, ComponentSource, FileMount};
use crate::allowed_hosts::AllowedHost;
use crate::config_error::ConfigError;
use crate::variables::{self, Template, VariableDecl};
use std::collections::BTreeMap;
use std::path::Path;

/// Spin features a component may declare that this runner does not host.
fn unsupported(raw: &RawComponent) -> Option<&'static str> {
    [
        ("ai_models", raw.ai_models.is_some()),
        ("dependencies", raw.dependencies.is_some()),
        (
            "dependencies_inherit_configuration",
            raw.dependencies_inherit_configuration.is_some(),
        ),
    ]
    .into_iter()
    .find_map(|(field, present)| present.then_some(field))
}

pub(super) fn validate(
    raw: RawComponent,
    id: &str,
    file: &Path,
    dir: &Path,
    declared: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentDecl, ConfigError> {
    let err = |field: &str, reason: String| {
        ConfigError::new(file, format!("component.{id}.{field}"), reason)
    };
    check_component_id(id)
        .map_err(|reason| ConfigError::new(file, format!("component.{id}"), reason))?;
    if let Some(field) = unsupported(&raw) {
        return Err(err(field, "not supported by this runner".into()));
    }
    if raw.allowed_http_hosts.is_some() {
        return Err(err(
            "allowed_http_hosts",
            "removed in manifest version 2; use `allowed_outbound_hosts`".into(),
        ));
    }

    let source = match raw.source {
        toml::Value::String(path) if !path.is_empty() => ComponentSource::File(dir.join(path)),
        toml::Value::String(_) => return Err(err("source", "must not be empty".into())),
        toml::Value::Table(table) => remote_source(table).map_err(|r| err("source", r))?,
        other => {
            return Err(err(
                "source",
                format!(
                    "expected a path to a .wasm file, found {}",
                    other.type_str()
                ),
            ));
        }
    };
    let files = raw
        .files
        .into_iter()
        .enumerate()
        .map(|(index, mount)| file_mount(mount).map_err(|r| err(&format!("files[{index}]"), r)))
        .collect::<Result<Vec<_>, _>>()?;
    let exclude_files = raw
        .exclude_files
        .iter()
        .enumerate()
        .map(|(index, pattern)| {
            glob::Pattern::new(pattern).map_err(|e| {
                err(
                    &format!("exclude_files[{index}]"),
                    format!("`{pattern}` is not a glob pattern: {e}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let checked_template = |field: String, text: &str| {
        let template = Template::parse(text).map_err(|reason| err(&field, reason))?;
        template
            .check_references(declared)
            .map_err(|reason| err(&field, reason))?;
        Ok::<_, ConfigError>(template)
    };

    let mut allowed_outbound_hosts = Vec::new();
    for (index, entry) in raw.allowed_outbound_hosts.iter().enumerate() {
        let field = format!("allowed_outbound_hosts[{index}]");
        let template = checked_template(field.clone(), entry)?;
        if template.is_literal() {
            AllowedHost::parse(entry).map_err(|reason| err(&field, reason))?;
        }
        allowed_outbound_hosts.push(template);
    }

    let mut component_variables = BTreeMap::new();
    for (name, value) in raw.variables {
        let field = format!("variables.{name}");
        variables::check_name(&name).map_err(|reason| err(&field, reason))?;
        component_variables.insert(name, checked_template(field, &value)?);
    }

    for (field, labels) in [
        ("key_value_stores", &raw.key_value_stores),
        ("sqlite_databases", &raw.sqlite_databases),
    ] {
        if let Some(index) = labels.iter().position(String::is_empty) {
            return Err(err(
                &format!("{field}[{index}]"),
                "a label must not be empty".into(),
            ));
        }
    }

    let build = raw
        .build
        .map(|build| validate_build(build, dir))
        .transpose()
        .map_err(|(field, reason)| err(field, reason))?;

    Ok(ComponentDecl {
        id: id.to_string(),
        source,
        files,
        exclude_files,
        allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
        sqlite_databases: raw.sqlite_databases,
        environment: raw.environment,
        variables: component_variables,
        build,
    })
}

/// `source = { url = "...", digest = "sha256:<hex>" }`. (Spin's registry form,
/// `{ registry, package, version }`, is refused by name.)
fn remote_source(table: toml::Table) -> Result<ComponentSource, String> {
    if table.contains_key("package") {
        return Err(
            "registry sources (`{ package, version }`) are not supported by this runner; give \
             a local .wasm path or `{ url, digest }`"
                .into(),
        );
    }
    let text = |key: &str| match table.get(key) {
        Some(toml::Value::String(value)) => Ok(value.clone()),
        Some(other) => Err(format!(
            "`{key}` must be a string, found {}",
            other.type_str()
        )),
        None => Err(format!(
            "a remote source needs `{key}` (`{{ url, digest }}`)"
        )),
    };
    if let Some(unknown) = table.keys().find(|k| *k != "url" && *k != "digest") {
        return Err(format!(
            "unknown field `{unknown}` (a remote source has `url` and `digest`)"
        ));
    }
    let url = text("url")?;
    let digest = text("digest")?;
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("invalid `digest` \"{digest}\"; must start with 'sha256:'"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "invalid `digest` \"{digest}\"; expected sha256: and 64 hexadecimal digits"
        ));
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!("`{url}` is not an http:// or https:// URL"));
    }
    Ok(ComponentSource::Remote {
        url,
        sha256: hex.to_ascii_lowercase(),
    })
}

/// One `files` entry, checked as Spin checks it before anything is copied.
fn file_mount(raw: RawFileMount) -> Result<FileMount, String> {
    match raw {
        RawFileMount::Pattern(pattern) => {
            let ends_with = |tail: &str| pattern == tail || pattern.ends_with(&format!("/{tail}"));
            if ends_with("..") {
                return Err(format!(
                    "`{pattern}`: a file pattern can't end in a parent directory path (..)"
                ));
            }
            if ends_with(".") {
                return Err(format!(
                    "`{pattern}`: a file pattern can't end in a current directory path (.)"
                ));
            }
            if pattern.is_empty() || Path::new(&pattern).is_absolute() {
                return Err(format!(
                    "`{pattern}`: give a path relative to the manifest's directory"
                ));
            }
            glob::Pattern::new(&pattern)
                .map_err(|e| format!("`{pattern}` is not a valid glob pattern: {e}"))?;
            Ok(FileMount::Pattern(pattern))
        }
        RawFileMount::Placement(placement) => {
            if placement.source.is_empty() || Path::new(&placement.source).is_absolute() {
                return Err(format!(
                    "source `{}`: give a path relative to the manifest's directory",
                    placement.source
                ));
            }
            Ok(FileMount::Placement {
                source: placement.source,
                destination: placement.destination,
            })
        }
    }
}

/// `[component.x.build]`; a failure names its field under `build.`.
fn validate_build(raw: RawBuild, dir: &Path) -> Result<BuildDecl, (&'static str, String)> {
    let command = match raw.command {
        RawCommand::One(c) => vec![c],
        RawCommand::Many(c) => c,
    };
    if command.iter().all(|c| c.trim().is_empty()) {
        return Err(("build.command", "must not be empty".into()));
    }
    let workdir = match raw.workdir {
        None => dir.to_path_buf(),
        Some(w) if Path::new(&w).is_absolute() => {
            return Err(("build.workdir", "must be a relative path".into()));
        }
        Some(w) => dir.join(w),
    };
    Ok(BuildDecl {
        command,
        workdir,
        watch: raw.watch,
    })
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
