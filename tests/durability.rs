//! Durability: nothing acknowledged is lost after `kill -9`. Under load, the real `runner`
//! process is killed with SIGKILL; after a restart on the same state, the counter is at least
//! the highest value any client was given (so no acknowledged increment was lost), on SQLite
//! and on Redis (appendfsync always), three times each.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{RedisServer, RunnerProcess, client, ensure_built, manifest_path};

/// Starts `runner up` on an ephemeral port, on `state` (and the runtime config, if any).
fn spawn_runner(state: &Path, runtime_config: Option<&Path>) -> RunnerProcess {
    let config = runtime_config.map(|c| c.to_str().expect("UTF-8 path").to_string());
    let args: Vec<&str> = match &config {
        Some(config) => vec!["--runtime-config-file", config],
        None => vec![],
    };
    RunnerProcess::start(&manifest_path(), state, &args)
}

/// `kill -9`, and waits for the process to be gone.
fn kill_9(runner: &mut RunnerProcess) {
    runner.signal("KILL");
    runner
        .wait_exit(Duration::from_secs(10))
        .expect("the runner exits on SIGKILL");
}

/// Loads `/test2` from 16 clients until stopped; returns every value acknowledged with 200.
async fn load(url: String, stop: Arc<AtomicBool>) -> Vec<i64> {
    let client = client();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged: Vec<i64> = Vec::new();
                for _ in 0..100_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match client
                        .get(format!("{url}/test2"))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == 200 => {
                            if let Ok(text) = response.text().await
                                && let Some(n) =
                                    text.strip_prefix("TEST2 ").and_then(|n| n.parse().ok())
                            {
                                acknowledged.push(n);
                            }
                        }
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all
}

async fn crash_rounds(backend: &str, runtime_config: Option<&Path>) {
    ensure_built();
    let state = tempfile::tempdir().unwrap();
    let client = client();
    let mut total_acknowledged = 0;
    for round in 1..=3 {
        let mut runner = spawn_runner(state.path(), runtime_config);
        let stop = Arc::new(AtomicBool::new(false));
        let loader = tokio::spawn(load(runner.url.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(700)).await;
        kill_9(&mut runner);
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::Relaxed);
        let acknowledged = loader.await.unwrap();
        let highest = *acknowledged
            .iter()
            .max()
            .expect("some requests were answered before the kill");

        let mut runner = spawn_runner(state.path(), runtime_config);
        let after: i64 = support::get(&client, &format!("{}/test2", runner.url))
            .await
            .value()
            - 1;
        kill_9(&mut runner);
        let lost = acknowledged.iter().filter(|v| **v > after).count();
        total_acknowledged += acknowledged.len();
        eprintln!(
            "{backend} round {round}: {} acknowledged (highest {highest}), counter after restart {after}, lost {lost}",
            acknowledged.len()
        );
        assert_eq!(lost, 0, "acknowledged values above the recovered counter");
        assert!(after >= highest);
    }
    eprintln!("{backend}: 3 kill -9 rounds, {total_acknowledged} values acknowledged, 0 lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged_on_sqlite() {
    crash_rounds("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged_on_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = redis.runtime_config(dir.path());
    crash_rounds("redis", Some(&config)).await;
}

/// `--durability fsync`: every increment is on disk before its answer, and concurrent ones
/// are grouped into shared commits without losing or repeating a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_durability_counts_exactly_under_concurrency() {
    let state = tempfile::tempdir().unwrap();
    let mut options = support::app_options(&[]).state_dir(state.path());
    options.durability = runner::Durability::Fsync;
    let app = runner::testing::TestApp::start(options).await.unwrap();
    let answers = support::get_concurrently(&client(), &format!("{}/test2", app.url()), 200).await;
    let mut values: Vec<i64> = answers.iter().map(|a| a.value()).collect();
    values.sort_unstable();
    assert_eq!(values, (1..=200).collect::<Vec<_>>());
    app.stop().await;
    assert_eq!(support::stored_counter(state.path(), "seq"), Some(200));
    let db = rusqlite::Connection::open(state.path().join("sqlite_key_value.db")).unwrap();
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}
