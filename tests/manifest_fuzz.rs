//! Robustness of the manifest loader: property tests over generated manifests (structured,
//! with hostile values in every field) and over mangled copies of the real spin.toml, and
//! over route strings. The loader never panics, and every refusal names the file and a key
//! (or, for broken TOML, says it is a syntax error and where).

mod support;

use proptest::prelude::*;
use runner::Manifest;
use runner::{RoutePattern, best_match};
use std::path::Path;

/// Checks one loader outcome: no panic, and a refusal that names where it is.
fn check(text: &str) {
    let path = Path::new("/nonexistent-dir/spin.toml");
    let outcome = std::panic::catch_unwind(|| Manifest::parse(path, text));
    let result = outcome.unwrap_or_else(|_| panic!("the loader panicked on:\n{text}"));
    if let Err(error) = result {
        assert_eq!(error.file, path);
        assert!(!error.reason.trim().is_empty(), "no reason for {error:?}");
        if error.key == "(syntax)" {
            assert!(
                error.reason.contains("line"),
                "syntax error without a line: {error}"
            );
        } else if error.key != "(top level)" {
            // The key is a path into this manifest: its first segment is written in it.
            let first = error.key.split(['.', '[']).next().unwrap_or_default();
            assert!(
                !first.is_empty() && text.contains(first),
                "refusal does not name a key of the manifest: {error}\n{text}"
            );
        }
        let shown = error.to_string();
        assert!(shown.starts_with("/nonexistent-dir/spin.toml: "), "{shown}");
    }
}

/// Strings a hostile or careless author might write in any field.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("/".to_string()),
        Just("/...".to_string()),
        Just("/a/:b/...".to_string()),
        Just("{{ missing }}".to_string()),
        Just("{{".to_string()),
        Just("http://*:*".to_string()),
        Just("*://*:*".to_string()),
        Just("http://x:1-".to_string()),
        Just("redis://".to_string()),
        Just("../../../etc/passwd".to_string()),
        "[a-z:/.*{}_ -]{0,24}",
        any::<String>(),
    ]
}

/// A TOML value of a random type, so fields get wrong types as well as odd strings.
fn nasty_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        4 => nasty_string().prop_map(toml::Value::String),
        1 => any::<i64>().prop_map(toml::Value::Integer),
        1 => any::<bool>().prop_map(toml::Value::Boolean),
        1 => prop::collection::vec(nasty_string().prop_map(toml::Value::String), 0..3)
            .prop_map(toml::Value::Array),
    ]
}

fn table(entries: Vec<(String, toml::Value)>) -> toml::Value {
    toml::Value::Table(entries.into_iter().collect())
}

/// A manifest in Spin's shape whose every field may be hostile.
fn structured_manifest() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(toml::Value::Integer(2)), nasty_value()],
        nasty_value(),
        prop::collection::vec((nasty_string(), nasty_value()), 0..3),
        prop::collection::vec((nasty_value(), nasty_value()), 0..4),
        prop::collection::vec(
            (
                "[a-z][a-z0-9-]{0,8}",
                nasty_value(),
                nasty_value(),
                nasty_value(),
                nasty_value(),
            ),
            0..3,
        ),
    )
        .prop_map(|(version, name, variables, routes, components)| {
            let mut manifest = vec![
                ("spin_manifest_version".to_string(), version),
                (
                    "application".to_string(),
                    table(vec![("name".into(), name)]),
                ),
            ];
            manifest.push((
                "variables".into(),
                table(
                    variables
                        .into_iter()
                        .map(|(name, default)| (name, table(vec![("default".into(), default)])))
                        .collect(),
                ),
            ));
            let triggers = routes
                .into_iter()
                .map(|(route, component)| {
                    table(vec![
                        ("route".into(), route),
                        ("component".into(), component),
                    ])
                })
                .collect();
            manifest.push((
                "trigger".into(),
                table(vec![("http".into(), toml::Value::Array(triggers))]),
            ));
            manifest.push((
                "component".into(),
                table(
                    components
                        .into_iter()
                        .map(|(id, source, hosts, stores, variables)| {
                            (
                                id,
                                table(vec![
                                    ("source".into(), source),
                                    ("allowed_outbound_hosts".into(), hosts),
                                    ("key_value_stores".into(), stores),
                                    ("variables".into(), table(vec![("v".into(), variables)])),
                                ]),
                            )
                        })
                        .collect(),
                ),
            ));
            toml::to_string(&table(manifest)).expect("a TOML table serializes")
        })
}

/// The real spin.toml with some lines dropped, some cut short and some replaced.
fn mangled_real_manifest() -> impl Strategy<Value = String> {
    let real = std::fs::read_to_string(support::manifest_path()).expect("spin.toml");
    let lines: Vec<String> = real.lines().map(str::to_string).collect();
    let count = lines.len();
    prop::collection::vec((0..count, 0u8..4, nasty_string()), 1..6).prop_map(move |edits| {
        let mut lines = lines.clone();
        for (index, kind, junk) in edits {
            let line = &mut lines[index];
            match kind {
                0 => line.clear(),
                1 => {
                    let cut = line.len() / 2;
                    let cut = (0..=cut)
                        .rev()
                        .find(|&i| line.is_char_boundary(i))
                        .unwrap_or(0);
                    line.truncate(cut);
                }
                2 => {
                    if let Some((key, _)) = line.split_once('=') {
                        *line = format!("{key}= {}", toml::Value::String(junk));
                    }
                }
                _ => *line = junk,
            }
        }
        lines.join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn structured_manifests_never_panic_and_refusals_name_a_key(text in structured_manifest()) {
        check(&text);
    }

    #[test]
    fn mangled_real_manifests_never_panic_and_refusals_name_a_key(text in mangled_real_manifest()) {
        check(&text);
    }

    #[test]
    fn route_strings_never_panic(route in nasty_string(), path in nasty_string()) {
        if let Ok(pattern) = RoutePattern::parse(&route) {
            let _ = pattern.matches(&path);
            let _ = best_match([&pattern], &path);
            prop_assert!(pattern.as_str().starts_with('/'));
        }
    }
}
