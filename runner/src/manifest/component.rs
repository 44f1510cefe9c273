//! One `[component.<id>]` table checked into a `ComponentDecl`: its id, its source, its
//! outbound hosts and variables (templates whose references must be declared), its stores,
//! its build; Spin features the runner does not host refused by name.

use super::raw::{RawBuild, RawCommand, RawComponent};
use super::{BuildDecl, ComponentDecl};
use crate::allowed_hosts::AllowedHost;
use crate::config_error::ConfigError;
use crate::variables::{self, Template, VariableDecl};
use std::collections::BTreeMap;
use std::path::Path;

/// Spin features a component may declare that this runner does not host.
fn unsupported(raw: &RawComponent) -> Option<&'static str> {
    [
        ("files", raw.files.is_some()),
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
        toml::Value::String(path) if !path.is_empty() => dir.join(path),
        toml::Value::String(_) => return Err(err("source", "must not be empty".into())),
        toml::Value::Table(_) => {
            return Err(err(
                "source",
                "remote sources (`{ url, digest }`) are not supported; give a local .wasm path"
                    .into(),
            ));
        }
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
        allowed_outbound_hosts,
        key_value_stores: raw.key_value_stores,
        sqlite_databases: raw.sqlite_databases,
        environment: raw.environment,
        variables: component_variables,
        build,
    })
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
