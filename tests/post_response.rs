//! Work after the answer (the seed's `add_callback` and `call_later`): `GET /later?seconds=S`
//! answers `202` at once and its work happens S seconds later, in a task the guest spawned;
//! a graceful shutdown waits for such work; a task that traps after its answer is logged and
//! the app keeps serving.

mod support;

use runner::testing::{LogSource, TestApp, http};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{
    AppAnswer, RunnerProcess, build_once, client, ensure_built, get, manifest_path, repo_root,
    start_app, stored_counter,
};

#[tokio::test]
async fn later_answers_at_once_and_its_work_happens_seconds_after() {
    let app = start_app(&[]).await;
    let store = app.key_value("default");

    let answer = app.get("/later?seconds=1.5").await.unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (202, "LATER 1"));
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(store.counter("later_scheduled").await.unwrap(), Some(1));
    app.clock().wait_for_timers(1).await;
    app.clock().advance(Duration::from_millis(1_499)).await;
    assert_eq!(
        store.counter("later_done").await.unwrap(),
        None,
        "not done before its time"
    );
    app.clock().advance(Duration::from_millis(1)).await;
    app.wait_idle().await;
    assert_eq!(store.counter("later_done").await.unwrap(), Some(1));
    assert!(
        app.logs("later").iter().any(|l| l.contains("job 1 done")),
        "{:?}",
        app.logs("later")
    );

    // Bad delays are refused and schedule nothing; HEAD schedules like GET; POST does not.
    for bad in ["seconds=-1", "seconds=3601", "seconds=soon", "seconds="] {
        let refused = app.get(&format!("/later?{bad}")).await.unwrap();
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text());
    }
    let posted = app
        .request(http::Request::post("/later").body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(posted.status, 405);
    let head = app
        .request(
            http::Request::head("/later?seconds=3600")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((head.status, head.body.len()), (202, 0));
    assert_eq!(store.counter("later_scheduled").await.unwrap(), Some(2));
    // The hour-long wait of the HEAD request passes in no time.
    app.clock().wait_for_timers(1).await;
    app.clock().advance(Duration::from_secs(3600)).await;
    app.wait_idle().await;
    assert_eq!(store.counter("later_done").await.unwrap(), Some(2));
    app.stop().await;
}

#[tokio::test]
async fn without_seconds_the_work_happens_five_seconds_later() {
    let app = start_app(&[]).await;
    let store = app.key_value("default");
    let answer = app.get("/later").await.unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (202, "LATER 1"));
    app.clock().wait_for_timers(1).await;
    app.clock().advance(Duration::from_millis(4_999)).await;
    assert_eq!(
        store.counter("later_done").await.unwrap(),
        None,
        "not before 5 s"
    );
    app.clock().advance(Duration::from_millis(1)).await;
    app.wait_idle().await;
    assert_eq!(store.counter("later_done").await.unwrap(), Some(1));
}

#[tokio::test]
async fn work_with_zero_seconds_is_done_right_after_the_answer() {
    let app = start_app(&[]).await;
    let answer = app.get("/later?seconds=0").await.unwrap();
    assert_eq!(answer.status, 202);
    app.wait_idle().await;
    assert_eq!(
        app.key_value("default")
            .counter("later_done")
            .await
            .unwrap(),
        Some(1),
        "done without the clock moving"
    );
    assert_eq!(app.clock().elapsed(), Duration::ZERO);
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
    let app = Arc::new(
        TestApp::start(runner::AppOptions::new(&manifest))
            .await
            .unwrap(),
    );

    let answer = app.get("/spawn-trap?ms=300").await.unwrap();
    assert_eq!(answer.status, 202, "the answer went out before the trap");
    app.clock().wait_for_timers(1).await;
    // While the task waits, and after it traps, the neighbour keeps counting.
    let mut values = Vec::new();
    for round in 0..10 {
        if round == 5 {
            app.clock().advance(Duration::from_millis(300)).await;
            app.wait_idle().await;
        }
        let counted = app.get("/test2").await.unwrap();
        assert_eq!(counted.status, 200);
        values.push(counted.value());
    }
    assert_eq!(values, (1..=10).collect::<Vec<_>>());
    let lines = app.log_lines("hostile");
    let trapped = lines.iter().position(|l| {
        l.source == LogSource::Stderr
            && l.text
                .contains("traps in work after its answer, on purpose")
    });
    let logged = lines.iter().position(|l| {
        l.source == LogSource::Runner && l.text.contains("instance failed after its answer")
    });
    assert!(
        matches!((trapped, logged), (Some(t), Some(l)) if t < l),
        "the guest's message, then the runner's: {lines:?}"
    );
    for _ in 0..5 {
        assert_eq!(app.get("/ok").await.unwrap().status, 200);
    }
}
