//! test1, the sleeper: exactly every second call sleeps, whatever the concurrency, and a sleeping
//! request blocks nobody.

mod support;

use std::collections::HashSet;
use std::time::Duration;
use support::{client, get, get_concurrently, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_calls_alternate() {
    let app = start(&[("sleep_seconds", "0.3")]).await;
    let client = client();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(get(&client, &format!("{}/test1", app.url)).await);
    }
    assert!(answers.iter().all(|a| a.status == 200));
    let slept: Vec<bool> = answers.iter().map(|a| a.slept()).collect();
    assert_eq!(
        slept,
        [false, true, false, true],
        "the seed's order: awake, asleep, ..."
    );
    for answer in &answers {
        if answer.slept() {
            assert!(answer.elapsed >= Duration::from_millis(300), "{answer:?}");
        } else {
            assert!(answer.elapsed < Duration::from_millis(300), "{answer:?}");
        }
    }
    let values: Vec<i64> = answers.iter().map(|a| a.value()).collect();
    assert_eq!(values, [1, 2, 3, 4], "test1 forwards test2's count");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_of_concurrent_calls_sleep() {
    let app = start(&[("sleep_seconds", "1")]).await;
    let client = client();
    let answers = get_concurrently(&client, &format!("{}/test1", app.url), 8).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let sleepers: Vec<_> = answers.iter().filter(|a| a.slept()).collect();
    assert_eq!(sleepers.len(), 4, "exactly 4 of 8 sleep");
    assert!(sleepers.iter().all(|a| a.elapsed >= Duration::from_secs(1)));
    assert!(
        answers
            .iter()
            .filter(|a| !a.slept())
            .all(|a| a.elapsed < Duration::from_secs(1)),
        "no awake call waits for a sleeper: {answers:?}"
    );
    let values: HashSet<i64> = answers.iter().map(|a| a.value()).collect();
    assert_eq!(values.len(), 8, "distinct TEST2 values");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeping_requests_block_nobody() {
    let sleep = Duration::from_secs(2);
    let app = start(&[("sleep_seconds", "2")]).await;
    let client = client();
    let url1 = format!("{}/test1", app.url);
    let sleepers = {
        let (client, url1) = (client.clone(), url1.clone());
        tokio::spawn(async move { get_concurrently(&client, &url1, 6).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // While three requests sleep, test2 answers at once...
    for _ in 0..5 {
        let answer = get(&client, &format!("{}/test2", app.url)).await;
        assert_eq!(answer.status, 200);
        assert!(answer.elapsed < sleep / 4, "test2 waited: {answer:?}");
    }
    // ...and of two more test1 calls, the awake one answers at once too.
    let more = get_concurrently(&client, &url1, 2).await;
    let awake: Vec<_> = more.iter().filter(|a| !a.slept()).collect();
    assert_eq!(awake.len(), 1, "{more:?}");
    assert!(awake[0].elapsed < sleep / 4, "awake test1 waited: {more:?}");

    let first = sleepers.await.unwrap();
    assert_eq!(first.iter().filter(|a| a.slept()).count(), 3);
    app.stop().await;
}
