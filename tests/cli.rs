//! The `runner` binary as a user runs it: `runner up` prints where it serves and its routes,
//! reads `SPIN_VARIABLE_*`, and serves the app.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::{client, ensure_built, get, manifest_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_up_serves_the_app_and_reads_spin_variables_from_the_environment() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(manifest_path())
        .arg("--state-dir")
        .arg(state.path())
        .env("SPIN_VARIABLE_SLEEP_SECONDS", "0.3")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("runner starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let serving = lines.next().expect("a first line").unwrap();
    let url = serving
        .strip_prefix("Serving ")
        .unwrap_or_else(|| panic!("unexpected first line {serving:?}"))
        .to_string();
    let rest: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(rest[0], "Available Routes:");
    assert!(
        rest[1].contains("test1") && rest[1].contains(&format!("{url}/test1")),
        "{rest:?}"
    );
    assert!(
        rest[2].contains("test2") && rest[2].contains(&format!("{url}/test2")),
        "{rest:?}"
    );

    let client = client();
    let first = get(&client, &format!("{url}/test1")).await;
    let second = get(&client, &format!("{url}/test1")).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert!(!first.slept() && second.slept());
    assert!(
        second.elapsed.as_secs_f64() >= 0.3 && second.elapsed.as_secs_f64() < 15.0,
        "{second:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
