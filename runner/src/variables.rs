//! Application variables and the `{{ name }}` templates that use them.
//!
//! Values come, highest priority first, from `--variable name=value`, from the providers
//! (`variable_providers`: the runtime config's, then `SPIN_VARIABLE_NAME` in the environment
//! and in `.env`, as in Spin), then from the manifest's `default`. They are resolved once at
//! start-up: a required variable without a value stops the runner there, not at the first
//! request.

use crate::config_error::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;

/// An application variable as the manifest declares it (`[variables]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// Spin's variable names: lowercase ASCII letters, digits and `_`, starting with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid variable name (lowercase letters, digits and single `_`, starting with a letter)"
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

/// A string that may contain `{{ variable }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("`{text}`: `{{{{` without a closing `}}}}`"))?;
            let name = after[..end].trim();
            check_name(name).map_err(|reason| format!("`{text}`: {reason}"))?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("`{text}`: `}}}}` without an opening `{{{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Every referenced variable must be declared in the manifest's `[variables]`.
    pub fn check_references(
        &self,
        declared: &BTreeMap<String, VariableDecl>,
    ) -> Result<(), String> {
        for part in &self.parts {
            if let Part::Variable(name) = part
                && !declared.contains_key(name)
            {
                return Err(format!(
                    "refers to `{{{{ {name} }}}}`, which is not declared in [variables]"
                ));
            }
        }
        Ok(())
    }

    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.push_str(l),
                Part::Variable(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| format!("variable `{name}` has no value"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// The environment variable Spin reads for application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Resolves every variable the manifest at `file` declares to its value; `provided` gives a
/// variable's value from the providers, by its name.
pub fn resolve(
    file: &Path,
    declared: &BTreeMap<String, VariableDecl>,
    overrides: &BTreeMap<String, String>,
    provided: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    if let Some(unknown) = overrides.keys().find(|k| !declared.contains_key(*k)) {
        return Err(ConfigError::new(
            file,
            format!("variables.{unknown}"),
            format!("`--variable {unknown}=...` sets a variable that [variables] does not declare"),
        ));
    }
    let mut values = BTreeMap::new();
    for (name, decl) in declared {
        let value = overrides
            .get(name)
            .cloned()
            .or_else(|| provided(name))
            .or_else(|| decl.default.clone())
            .ok_or_else(|| {
                ConfigError::new(
                    file,
                    format!("variables.{name}"),
                    format!(
                        "required variable has no value (set it with --variable {name}=VALUE or {})",
                        env_name(name)
                    ),
                )
            })?;
        values.insert(name.clone(), value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required: default.is_none(),
            secret: false,
        }
    }

    #[test]
    fn templates_render_and_refuse_bad_syntax() {
        let t = Template::parse("http://{{ host }}:{{port}}").unwrap();
        let values = BTreeMap::from([("host".into(), "a".into()), ("port".into(), "1".into())]);
        assert_eq!(t.render(&values).unwrap(), "http://a:1");
        assert!(Template::parse("{{ host").is_err());
        assert!(Template::parse("{{ Host }}").is_err());
        assert!(Template::parse("x }}").is_err());
    }

    #[test]
    fn overrides_beat_env_beat_defaults() {
        let declared = BTreeMap::from([
            ("a".to_string(), decl(Some("d"))),
            ("b".to_string(), decl(Some("d"))),
        ]);
        let overrides = BTreeMap::from([("a".to_string(), "cli".to_string())]);
        let values = resolve(Path::new("spin.toml"), &declared, &overrides, |k| {
            (k == "a" || k == "b").then(|| "env".into())
        })
        .unwrap();
        assert_eq!(values["a"], "cli");
        assert_eq!(values["b"], "env");
    }

    #[test]
    fn missing_required_and_unknown_overrides_are_errors() {
        let declared = BTreeMap::from([("a".to_string(), decl(None))]);
        let e = resolve(Path::new("spin.toml"), &declared, &BTreeMap::new(), |_| {
            None
        })
        .unwrap_err();
        assert_eq!(e.key, "variables.a");
        assert!(e.reason.contains("SPIN_VARIABLE_A"), "{e}");
        let overrides = BTreeMap::from([("zz".to_string(), "1".to_string())]);
        assert!(
            resolve(Path::new("spin.toml"), &declared, &overrides, |_| None)
                .unwrap_err()
                .to_string()
                .contains("zz")
        );
    }
}
