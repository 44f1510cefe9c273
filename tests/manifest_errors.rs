//! A bad manifest stops `runner up` before it serves, with `file: key: reason`.

mod support;

use std::process::Command;
use std::time::Duration;
use support::edited_manifest;

/// Runs `runner up` on the edited manifest; returns its exit success and stderr.
fn runner_up(edit: impl Fn(String) -> String) -> (bool, String) {
    let (dir, manifest) = edited_manifest(edit);
    run_up(&manifest, &dir.path().join("state"))
}

/// `runner up -f MANIFEST`, which must exit (it is refused) within a minute.
fn run_up(manifest: &std::path::Path, state: &std::path::Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runner starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("runner up kept running on a bad manifest");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr)
}

fn assert_refused(edit: impl Fn(String) -> String, key: &str) {
    let (ok, stderr) = runner_up(edit);
    assert!(!ok, "runner up should fail");
    assert!(stderr.contains("spin.toml: "), "names the file: {stderr}");
    assert!(
        stderr.contains(&format!("{key}: ")),
        "names `{key}`: {stderr}"
    );
}

#[test]
fn a_route_to_a_missing_component() {
    assert_refused(
        |t| t.replacen(r#"component = "test1""#, r#"component = "test3""#, 1),
        "trigger.http[1].component",
    );
}

#[test]
fn a_malformed_route() {
    assert_refused(
        |t| t.replace(r#"route = "/test2""#, r#"route = "test2""#),
        "trigger.http[2].route",
    );
}

#[test]
fn an_unknown_key_value_store() {
    assert_refused(
        |t| {
            t.replacen(
                r#"key_value_stores = ["default"]"#,
                r#"key_value_stores = ["sessions"]"#,
                1,
            )
        },
        "component.test1.key_value_stores[0]",
    );
}

#[test]
fn a_value_of_the_wrong_type() {
    assert_refused(
        |t| {
            t.lines()
                .map(
                    |line| match line.starts_with("source = ") && line.contains("test1") {
                        true => "source = 7".to_string(),
                        false => line.to_string(),
                    },
                )
                .collect::<Vec<_>>()
                .join("\n")
        },
        "component.test1.source",
    );
}

#[test]
fn a_missing_source_file() {
    assert_refused(
        |t| t.replace("test2.wasm", "nothing-here.wasm"),
        "component.test2.source",
    );
}

#[test]
fn broken_toml() {
    assert_refused(|t| t.replace("[application]", "[application"), "(syntax)");
}

#[test]
fn a_required_variable_without_a_value() {
    assert_refused(
        |t| {
            t.replace(
                r#"sleep_seconds = { default = "20" }"#,
                "sleep_seconds = { required = true }",
            )
        },
        "variables.sleep_seconds",
    );
}

#[test]
fn a_malformed_cron_expression() {
    let (ok, stderr) = runner_up(|t| t.replace("*/2 * * * * *", "*/2 * * * *"));
    assert!(!ok);
    assert!(
        stderr.contains("trigger.cron[0].cron_expression: ") && stderr.contains("six"),
        "names the key and what is wrong: {stderr}"
    );
}

#[test]
fn an_unknown_key_in_a_cron_trigger() {
    assert_refused(
        |t| {
            t.replace(
                "cron_expression = ",
                "timezone = \"UTC\"\ncron_expression = ",
            )
        },
        "trigger.cron[0].timezone",
    );
}

#[test]
fn a_cron_trigger_naming_a_component_that_is_not_a_job() {
    let (ok, stderr) = runner_up(|t| {
        t.replace(
            "component = \"ticker\"\ncron_expression",
            "component = \"test2\"\ncron_expression",
        )
    });
    assert!(!ok);
    assert!(
        stderr.contains("trigger.cron[0].component: ")
            && stderr.contains("does not export `handle-cron-event`"),
        "{stderr}"
    );
}

/// Runs `runner up` on `manifest` (written into `dir`); returns its exit success and stderr.
fn runner_up_on(dir: &std::path::Path, manifest: &str) -> (bool, String) {
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    run_up(&path, &dir.join("state"))
}

fn one_component_app(source: &std::path::Path, extra: &str) -> String {
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"x\"\n\
         [component.x]\nsource = \"{}\"\n{extra}\n",
        source.display()
    )
}

#[test]
fn a_component_importing_a_capability_not_hosted_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("llm.wasm");
    let component = wat::parse_str(
        r#"(component
             (import "fermyon:spin/llm@2.0.0" (instance
               (export "infer" (func (param "prompt" string) (result string))))))"#,
    )
    .unwrap();
    std::fs::write(&source, component).unwrap();
    let (ok, stderr) = runner_up_on(dir.path(), &one_component_app(&source, ""));
    assert!(!ok);
    assert!(
        stderr.contains("component.x: imports fermyon:spin/llm@2.0.0 (Serverless AI), which this runner does not host; use spin up"),
        "{stderr}"
    );
}

#[test]
fn modules_that_are_not_http_components_are_refused_by_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("command.wasm");
    std::fs::write(
        &source,
        wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
    )
    .unwrap();
    let (ok, stderr) = runner_up_on(dir.path(), &one_component_app(&source, ""));
    assert!(!ok);
    assert!(
        stderr.contains("component.x.source: ") && stderr.contains("wagi"),
        "{stderr}"
    );
}

#[test]
fn spin_features_not_hosted_are_refused_by_name_and_hosted_ones_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("x.wasm");
    // An empty component: it gets as far as its exports, after the manifest was accepted.
    std::fs::write(&source, wat::parse_str("(component)").unwrap()).unwrap();
    let app = |extra: &str| runner_up_on(dir.path(), &one_component_app(&source, extra));

    let (_, stderr) = app("files = [\"static/missing.txt\"]");
    assert!(
        stderr.contains(
            "component.x.files[0]: \"static/missing.txt\" does not exist and doesn't appear to \
             be a glob pattern"
        ),
        "{stderr}"
    );
    let (_, stderr) = app("dependencies = { \"a:b/c\" = \"1.0.0\" }");
    assert!(
        stderr.contains("component.x.dependencies: not supported"),
        "{stderr}"
    );
    let (_, stderr) = app("sqlite_databases = [\"reports\"]");
    assert!(
        stderr.contains("component.x.sqlite_databases[0]: no SQLite database `reports`"),
        "{stderr}"
    );
    // Accepted: the default database, files (a glob may match nothing), exclude_files; the
    // empty component is then refused for what it lacks, not for its manifest.
    let (ok, stderr) = app(
        "sqlite_databases = [\"default\"]\nfiles = [\"static/**/*\"]\nexclude_files = [\"**/node_modules\"]",
    );
    assert!(!ok);
    assert!(
        stderr.contains("does not export an HTTP handler"),
        "{stderr}"
    );
    assert!(
        dir.path().join("state/sqlite_db.db").is_file(),
        "Spin's default database file"
    );

    let manifest = one_component_app(&source, "").replace(
        "component = \"x\"\n",
        "component = \"x\"\nexecutor = { type = \"wagi\" }\n",
    );
    let (_, stderr) = runner_up_on(dir.path(), &manifest);
    assert!(
        stderr.contains("trigger.http[0].executor: the `wagi` executor"),
        "{stderr}"
    );
    let manifest = one_component_app(&source, "").replace(
        "component = \"x\"\n",
        "component = \"x\"\nexecutor = { type = \"spin\" }\n",
    );
    let (_, stderr) = runner_up_on(dir.path(), &manifest);
    assert!(
        stderr.contains("does not export an HTTP handler"),
        "{stderr}"
    );
}
