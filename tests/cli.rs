//! The `runner` binary as a user runs it: `runner up` prints where it serves and its routes,
//! reads `SPIN_VARIABLE_*`, and serves the app; without room for the instance pool it
//! allocates on demand.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::{client, ensure_built, get, repo_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_up_serves_the_app_and_reads_spin_variables_from_the_environment() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    // As a user runs it: from the app's directory, spin.toml found by its default name.
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_runner"))
            .current_dir(repo_root())
            .args(["up", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state.path())
            .env("SPIN_VARIABLE_SLEEP_SECONDS", "0.3")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("runner starts"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let url = serving_url(&mut lines);
    assert_eq!(lines.next().unwrap().unwrap(), "Available Routes:");
    let routes: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    for expected in [
        format!("  demo: {url}/"),
        format!("  test1: {url}/test1"),
        format!("  test2: {url}/test2"),
    ] {
        assert!(routes.contains(&expected), "{expected:?} not in {routes:?}");
    }

    let client = client();
    let first = get(&client, &format!("{url}/test1")).await;
    let second = get(&client, &format!("{url}/test1")).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert!(!first.slept() && second.slept());
    assert!(
        second.elapsed.as_secs_f64() >= 0.3 && second.elapsed.as_secs_f64() < 15.0,
        "{second:?}"
    );
}

/// The URL of `Serving URL`, the first line `runner up` prints.
fn serving_url(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> String {
    let serving = lines.next().expect("a first line").unwrap();
    serving
        .strip_prefix("Serving ")
        .unwrap_or_else(|| panic!("unexpected first line {serving:?}"))
        .to_string()
}

/// The child runner, killed however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn runner_build_runs_the_build_commands_from_the_app_directory() {
    let output = Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(repo_root())
        .arg("build")
        .output()
        .expect("runner build runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Building component test1 with `cargo build"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Building component test2 with `cargo build"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Finished building all Spin components"),
        "{stdout}"
    );
    assert!(
        repo_root()
            .join("target/wasm32-wasip2/release/test1.wasm")
            .is_file()
    );
}

/// Where the instance pool's address space cannot be reserved (here a `ulimit -v` of 64 GiB,
/// far below the pool's), `runner up` says so, allocates instances on demand and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_room_for_the_instance_pool_the_runner_allocates_on_demand_and_says_so() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        Command::new("sh")
            .current_dir(repo_root())
            .arg("-c")
            .arg("ulimit -v 67108864 && exec \"$0\" up --listen 127.0.0.1:0 --state-dir \"$1\"")
            .arg(env!("CARGO_BIN_EXE_runner"))
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let url = serving_url(&mut lines);
    let answer = get(&client(), &format!("{url}/test2")).await;
    assert_eq!((answer.status, answer.text()), (200, "TEST2 1".to_string()));
    let _ = child.0.kill();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("cannot be reserved") && stderr.contains("allocating instances on demand"),
        "{stderr}"
    );
}
