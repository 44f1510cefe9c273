//! The one shape of a configuration error: `file: key: reason`, for the manifest, the
//! runtime config and everything checked against them while an app loads. Loaders read and
//! parse TOML through `read` and `parse_toml` here, so a syntax error, a value of the wrong
//! type and an unknown key are reported the same way whatever the file.

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// A refused configuration: which file, which key in it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// A dotted path into the file (`component.test1.source`, `trigger.http[0].route`), or
    /// `(file)` (cannot be read), `(syntax)` (not TOML) or `(top level)`.
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Reads a configuration file's text.
pub fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(file, "(file)", format!("cannot read: {e}")))
}

/// Parses `text` (read from `file`) into `T`, naming the key of a value that does not fit.
pub fn parse_toml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| ConfigError::new(file, "(syntax)", one_line(&e.to_string())))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = match e.path().to_string() {
            path if path == "." => "(top level)".to_string(),
            path => path,
        };
        ConfigError::new(file, key, one_line(&e.inner().to_string()))
    })
}

/// toml's messages span several lines around a source excerpt: keep the first line and, when
/// it is not part of the excerpt, the last one (where toml puts the useful reason).
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid TOML").to_string();
    match lines.next_back() {
        Some(last) if !last.starts_with('|') && !last.starts_with('^') => {
            format!("{first} {last}")
        }
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn parse(text: &str) -> Result<Sample, ConfigError> {
        parse_toml(Path::new("x.toml"), text)
    }

    #[test]
    fn every_failure_names_the_file_and_a_key() {
        let e = parse("name = ").unwrap_err();
        assert_eq!(e.key, "(syntax)");
        assert!(e.reason.contains("line"), "{e}");
        assert!(!e.to_string().contains('\n'));
        assert_eq!(parse("name = 1").unwrap_err().key, "name");
        assert_eq!(
            parse("name = \"a\"\n[inner]\ncount = \"x\"")
                .unwrap_err()
                .key,
            "inner.count"
        );
        let e = parse("name = \"a\"\ncolour = 1").unwrap_err();
        assert!(e.reason.contains("unknown field"), "{e}");
        assert!(e.to_string().starts_with("x.toml: "));
        assert_eq!(
            read(Path::new("/nonexistent/x.toml")).unwrap_err().key,
            "(file)"
        );
    }
}
