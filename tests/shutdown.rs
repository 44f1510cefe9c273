//! Graceful shutdown of the real `runner up` process: on SIGTERM or SIGINT it stops taking
//! requests (new connections get `503`, health checks included), lets in-flight requests
//! (sleeping ones included) finish, has committed their state, and exits 0; a second signal
//! exits at once.

mod support;

use std::time::{Duration, Instant};
use support::{RunnerProcess, client, ensure_built, get, manifest_path, stored_counter};

fn start(sleep_seconds: &str) -> (RunnerProcess, tempfile::TempDir) {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let variable = format!("sleep_seconds={sleep_seconds}");
    let runner = RunnerProcess::start(
        &manifest_path(),
        state.path(),
        &["--variable", &variable, "--shutdown-grace", "20s"],
    );
    (runner, state)
}

async fn graceful_on(signal: &str) {
    let (mut runner, state) = start("2");
    let client = client();
    // Turn 1 is awake; turn 2 sleeps 2 s.
    let awake = get(&client, &format!("{}/test1", runner.url)).await;
    assert!(!awake.slept());
    let sleeping = {
        let (client, url) = (client.clone(), format!("{}/test1", runner.url));
        tokio::spawn(async move { get(&client, &url).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    runner.signal(signal);
    runner.wait_for_log(&["shutting down"], Duration::from_secs(5));

    // While the sleeper finishes, new connections are answered only to say the app is going
    // away: health included, so a load balancer stops sending; no request reaches a guest.
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = get(&fresh, &format!("{}/.well-known/spin/health", runner.url)).await;
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(health.text().contains("shutting down"), "{}", health.text());
    let refused = get(&fresh, &format!("{}/test2", runner.url)).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.headers["connection"], "close");

    // The sleeping request finishes, complete and correct.
    let answer = sleeping.await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.slept());
    assert_eq!(answer.value(), 2);

    let status = tokio::task::spawn_blocking(move || {
        let status = runner.wait_exit(Duration::from_secs(10));
        (status, runner)
    })
    .await
    .unwrap();
    let (status, runner) = status;
    let status = status.expect("runner exited after its requests finished");
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    // A clean stop: no instance reported as failed (live ones are dropped unfinished).
    let log = runner.log();
    assert!(!log.contains("instance failed"), "{log}");
    // Both turns and both increments are on disk.
    assert_eq!(stored_counter(state.path(), "seq"), Some(2));
    assert_eq!(stored_counter(state.path(), "turn"), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_sleeping_request_finish_then_exits_0() {
    graceful_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_a_sleeping_request_finish_then_exits_0() {
    graceful_on("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let (mut runner, _state) = start("60");
    let client = client();
    let _awake = get(&client, &format!("{}/test1", runner.url)).await;
    let sleeping = {
        let (client, url) = (client.clone(), format!("{}/test1", runner.url));
        tokio::spawn(async move { client.get(url).send().await?.bytes().await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    runner.signal("TERM");
    runner.wait_for_log(&["shutting down"], Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        runner.wait_exit(Duration::ZERO).is_none(),
        "exited before its grace period"
    );
    let second = Instant::now();
    runner.signal("TERM");
    let status = runner
        .wait_exit(Duration::from_secs(3))
        .expect("exits at once on a second signal");
    assert!(second.elapsed() < Duration::from_secs(3));
    assert!(!status.success(), "{status:?}");
    // The dropped request was cut, not answered as if complete.
    assert!(sleeping.await.unwrap().is_err());
}
