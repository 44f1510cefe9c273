//! test2, the counter: it counts, exactly, under concurrency, and survives a restart.

mod support;

use runner::testing::TestApp;
use std::collections::HashSet;
use std::sync::Arc;
use support::{AppAnswer, app_options, start_app};

#[tokio::test]
async fn consecutive_calls_give_consecutive_values() {
    let app = start_app(&[]).await;
    let first = app.get("/test2").await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(first.text(), "TEST2 1");
    for expected in 2..=5 {
        assert_eq!(app.get("/test2").await.unwrap().value(), expected);
    }
    assert_eq!(
        app.key_value("default").counter("seq").await.unwrap(),
        Some(5)
    );
    assert_eq!(
        app.logs("test2"),
        ["1", "2", "3", "4", "5"],
        "each n logged"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_get_distinct_values_and_none_is_lost() {
    let app = Arc::new(start_app(&[]).await);
    let before = app.get("/test2").await.unwrap().value();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.get("/test2").await.unwrap() })
        })
        .collect();
    let mut values = HashSet::new();
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.status, 200);
        values.insert(answer.value());
    }
    assert_eq!(values.len(), 200, "200 distinct values");
    assert_eq!(values.iter().min(), Some(&(before + 1)));
    assert_eq!(values.iter().max(), Some(&(before + 200)));
    assert_eq!(
        app.key_value("default").counter("seq").await.unwrap(),
        Some(before + 200)
    );
}

#[tokio::test]
async fn the_counter_continues_after_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let options = app_options(&[]).state_dir(state.path());
    let app = TestApp::start(options.clone()).await.unwrap();
    for _ in 0..3 {
        app.get("/test2").await.unwrap();
    }
    app.stop().await;

    let app = TestApp::start(options).await.unwrap();
    assert_eq!(
        app.key_value("default").counter("seq").await.unwrap(),
        Some(3)
    );
    assert_eq!(app.get("/test2").await.unwrap().text(), "TEST2 4");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_dir_is_in_spins_own_schema() {
    let state = tempfile::tempdir().unwrap();
    let app = TestApp::start(app_options(&[]).state_dir(state.path()))
        .await
        .unwrap();
    app.get("/test2").await.unwrap();
    app.get("/test1").await.unwrap();
    app.stop().await;

    let db = rusqlite::Connection::open(state.path().join("sqlite_key_value.db")).unwrap();
    let columns: Vec<(String, String, bool, i64)> = db
        .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('spin_key_value') ORDER BY cid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        columns,
        [
            ("store".to_string(), "TEXT".to_string(), true, 1),
            ("key".to_string(), "TEXT".to_string(), true, 2),
            ("value".to_string(), "BLOB".to_string(), true, 0),
        ],
        "spin_key_value(store, key, value), primary key (store, key)"
    );
    let rows: Vec<(String, String, Vec<u8>)> = db
        .prepare("SELECT store, key, value FROM spin_key_value ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("default".into(), "seq".into(), 2i64.to_le_bytes().to_vec()),
            ("default".into(), "turn".into(), 1i64.to_le_bytes().to_vec()),
        ],
        "counters `seq` and `turn` in store `default`, 8-byte little-endian"
    );
}
