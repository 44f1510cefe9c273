//! test1, the sleeper: exactly every second call sleeps, whatever the concurrency, and a sleeping
//! request blocks nobody. The sleeps run on the test's virtual clock, so "blocks nobody" is
//! checked without timing: other requests are answered while the sleepers are still
//! sleeping; one test keeps real time for the seed's own claim, with wide margins.

mod support;

use runner::testing::{TestApp, TestResponse};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{AppAnswer, app_options, start_app};
use tokio::task::JoinHandle;

/// test1's sleep (the manifest's default `sleep_seconds`).
const SLEEP: Duration = Duration::from_secs(20);

/// Resolves once `n` of test1's sleeps wait for the clock (timers due in exactly `SLEEP`;
/// test1's calls to test2 have timeouts of their own, which do not count).
async fn wait_for_sleepers(app: &TestApp, n: usize) {
    while app.clock().timers().iter().filter(|t| **t == SLEEP).count() < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `n` concurrent `GET path`s, each in a task of its own.
fn spawn_gets(
    app: &Arc<TestApp>,
    path: &str,
    n: usize,
) -> Vec<JoinHandle<anyhow::Result<TestResponse>>> {
    (0..n).map(|_| app.spawn_get(path)).collect()
}

#[tokio::test]
async fn sequential_calls_alternate() {
    let app = Arc::new(start_app(&[]).await);
    let mut answers = Vec::new();
    for _ in 0..4 {
        let mut call = spawn_gets(&app, "/test1", 1).remove(0);
        // An awake call answers by itself; a sleeping one once the clock moves 20 s.
        let answer = tokio::select! {
            answer = &mut call => answer.unwrap().unwrap(),
            () = app.clock().wait_for_timer(SLEEP) => {
                app.clock().advance(SLEEP).await;
                call.await.unwrap().unwrap()
            }
        };
        answers.push(answer);
    }
    assert!(answers.iter().all(|a| a.status == 200));
    let slept: Vec<bool> = answers.iter().map(|a| a.slept()).collect();
    assert_eq!(
        slept,
        [false, true, false, true],
        "the seed's order: awake, asleep, ..."
    );
    let values: Vec<i64> = answers.iter().map(|a| a.value()).collect();
    assert_eq!(values, [1, 2, 3, 4], "test1 forwards test2's count");
    assert_eq!(app.clock().elapsed(), Duration::from_secs(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_concurrent_calls_sleep_and_the_others_answer_meanwhile() {
    let app = Arc::new(start_app(&[]).await);
    let calls = spawn_gets(&app, "/test1", 8);
    wait_for_sleepers(&app, 4).await;
    // The awake half is answered while the sleepers still sleep.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = calls.iter().filter(|c| c.is_finished()).count();
    assert_eq!(answered, 4, "4 answered before the clock moved");
    let sleeping = app.clock().timers().iter().filter(|t| **t == SLEEP).count();
    assert_eq!(sleeping, 4, "4 still sleeping");

    app.clock().advance(SLEEP).await;
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!(
        answers.iter().filter(|a| a.slept()).count(),
        4,
        "exactly 4 of 8 sleep"
    );
    let values: HashSet<i64> = answers.iter().map(|a| a.value()).collect();
    assert_eq!(values.len(), 8, "distinct TEST2 values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_requests_block_nobody() {
    let app = Arc::new(start_app(&[]).await);
    let sleepers = spawn_gets(&app, "/test1", 6);
    wait_for_sleepers(&app, 3).await;

    // While three requests sleep, test2 answers...
    for _ in 0..5 {
        assert_eq!(app.get("/test2").await.unwrap().status, 200);
    }
    // ...and of two more test1 calls, the awake one answers too.
    let more = spawn_gets(&app, "/test1", 2);
    wait_for_sleepers(&app, 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(more.iter().filter(|c| c.is_finished()).count(), 1);
    assert_eq!(sleepers.iter().filter(|c| c.is_finished()).count(), 3);

    app.clock().advance(SLEEP).await;
    let mut slept = 0;
    for call in sleepers.into_iter().chain(more) {
        slept += usize::from(call.await.unwrap().unwrap().slept());
    }
    assert_eq!(slept, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_real_time_a_sleeping_request_delays_no_other() {
    let sleep = Duration::from_secs(2);
    let app = Arc::new(
        TestApp::builder(app_options(&[("sleep_seconds", "2")]))
            .real_clock()
            .start()
            .await
            .unwrap(),
    );
    let started = Instant::now();
    let sleepers: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { (app.get("/test1").await.unwrap(), started.elapsed()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(app.get("/test2").await.unwrap().status, 200);
        assert!(
            asked.elapsed() < sleep / 4,
            "test2 waited {:?}",
            asked.elapsed()
        );
    }
    let mut answers = Vec::new();
    for call in sleepers {
        answers.push(call.await.unwrap());
    }
    let slept: Vec<_> = answers.iter().filter(|(a, _)| a.slept()).collect();
    assert_eq!(slept.len(), 2);
    assert!(slept.iter().all(|(_, at)| *at >= sleep));
    assert!(
        answers
            .iter()
            .filter(|(a, _)| !a.slept())
            .all(|(_, at)| *at < sleep),
        "no awake call waits for a sleeper"
    );
}
