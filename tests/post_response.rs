//! Work after the answer (the seed's `add_callback` and `call_later`): `GET /later?seconds=S`
//! answers `202` at once and its work happens S seconds later, in a task the guest spawned;
//! a graceful shutdown waits for such work; a task that traps after its answer is logged and
//! the app keeps serving.

mod support;

use std::time::{Duration, Instant};
use support::{
    RunnerProcess, build_once, client, ensure_built, get, manifest_path, repo_root, start,
    stored_counter,
};

/// Polls the stored counter `key` until it reaches `value`, for at most `within`.
async fn counter_reaches(state: &std::path::Path, key: &str, value: i64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if stored_counter(state, key) == Some(value) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_answers_at_once_and_its_work_happens_seconds_after() {
    let app = start(&[]).await;
    let client = client();
    let state = app.state.path().to_path_buf();

    // A first request makes the component's instance; the one timed below reuses it.
    let first = get(&client, &format!("{}/later?seconds=0", app.url)).await;
    assert_eq!((first.status, first.text().as_str()), (202, "LATER 1"));
    assert!(counter_reaches(&state, "later_done", 1, Duration::from_secs(5)).await);

    let answer = get(&client, &format!("{}/later?seconds=1.5", app.url)).await;
    let answered = Instant::now();
    assert_eq!((answer.status, answer.text().as_str()), (202, "LATER 2"));
    assert!(
        answer.elapsed < Duration::from_millis(100),
        "the answer does not wait for the work: {:?}",
        answer.elapsed
    );
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(stored_counter(&state, "later_scheduled"), Some(2));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        stored_counter(&state, "later_done"),
        Some(1),
        "not done before its time"
    );
    assert!(counter_reaches(&state, "later_done", 2, Duration::from_secs(5)).await);
    let late = answered.elapsed();
    assert!(
        late >= Duration::from_millis(1_400) && late < Duration::from_secs(5),
        "done about 1.5 s after the answer: {late:?}"
    );

    // Bad delays are refused and schedule nothing; HEAD schedules like GET; POST does not.
    for bad in ["seconds=-1", "seconds=3601", "seconds=soon", "seconds="] {
        let refused = get(&client, &format!("{}/later?{bad}", app.url)).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text());
    }
    let posted = client
        .post(format!("{}/later", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);
    let head = client
        .head(format!("{}/later?seconds=3600", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 202);
    assert_eq!(stored_counter(&state, "later_scheduled"), Some(3));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_seconds_the_work_happens_five_seconds_later() {
    let app = start(&[]).await;
    let state = app.state.path().to_path_buf();
    let answer = get(&client(), &format!("{}/later", app.url)).await;
    assert_eq!((answer.status, answer.text().as_str()), (202, "LATER 1"));
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    assert_eq!(stored_counter(&state, "later_done"), None, "not before 5 s");
    assert!(counter_reaches(&state, "later_done", 1, Duration::from_secs(5)).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_work_pending_after_an_answer() {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let mut runner = RunnerProcess::start(&manifest_path(), state.path(), &[]);
    let answer = get(&client(), &format!("{}/later?seconds=2", runner.url)).await;
    assert_eq!(answer.status, 202);
    let signalled = Instant::now();
    runner.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = runner.wait_exit(Duration::from_secs(20));
        (status, runner)
    })
    .await
    .unwrap();
    let (status, runner) = status;
    let took = signalled.elapsed();
    assert!(
        status.expect("the runner exits").success(),
        "{}",
        runner.log()
    );
    assert!(
        took >= Duration::from_millis(1_500),
        "the runner waited for the pending work: {took:?}\n{}",
        runner.log()
    );
    assert_eq!(
        stored_counter(state.path(), "later_done"),
        Some(1),
        "{}",
        runner.log()
    );
    assert!(
        runner.log().contains("[later] job 1 done"),
        "{}",
        runner.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_traps_after_its_answer_is_logged_and_the_app_keeps_serving() {
    let manifest = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&manifest);
    let state = tempfile::tempdir().unwrap();
    let runner = RunnerProcess::start(&manifest, state.path(), &[]);
    let client = client();

    let answer = get(&client, &format!("{}/spawn-trap?ms=300", runner.url)).await;
    assert_eq!(answer.status, 202, "the answer went out before the trap");
    // While the task waits, and after it traps, the neighbour keeps counting.
    let mut values = Vec::new();
    let until = Instant::now() + Duration::from_millis(1_000);
    while Instant::now() < until {
        let counted = get(&client, &format!("{}/test2", runner.url)).await;
        assert_eq!(counted.status, 200);
        values.push(counted.value());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(values.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
    runner.wait_for_log(
        &["traps in work after its answer, on purpose"],
        Duration::from_secs(5),
    );
    let logged = runner.wait_for_log(
        &["instance failed after its answer", "hostile"],
        Duration::from_secs(5),
    );
    assert!(logged.contains("component=\"hostile\""), "{logged}");
    for _ in 0..5 {
        assert_eq!(
            get(&client, &format!("{}/ok", runner.url)).await.status,
            200
        );
    }
}
