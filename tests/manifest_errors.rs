//! A bad manifest stops `runner up` before it serves, with `file: key: reason`.

mod support;

use std::process::Command;
use std::time::Duration;
use support::edited_manifest;

/// Runs `runner up` on the edited manifest; returns its exit success and stderr.
fn runner_up(edit: impl Fn(String) -> String) -> (bool, String) {
    let (dir, manifest) = edited_manifest(edit);
    let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(&manifest)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
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
