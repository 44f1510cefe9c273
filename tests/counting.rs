//! test2, the counter: it counts, exactly, under concurrency, and survives a restart.

mod support;

use std::collections::HashSet;
use support::{client, get, get_concurrently, start, start_with, stored_counter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_calls_give_consecutive_values() {
    let app = start(&[]).await;
    let client = client();
    let first = get(&client, &format!("{}/test2", app.url)).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.headers.get("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(first.text(), "TEST2 1");
    for expected in 2..=5 {
        assert_eq!(
            get(&client, &format!("{}/test2", app.url)).await.value(),
            expected
        );
    }
    assert_eq!(stored_counter(app.state.path(), "seq"), Some(5));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_get_distinct_values_and_none_is_lost() {
    let app = start(&[]).await;
    let client = client();
    let before = get(&client, &format!("{}/test2", app.url)).await.value();
    let answers = get_concurrently(&client, &format!("{}/test2", app.url), 200).await;
    assert!(answers.iter().all(|a| a.status == 200), "all 200 answered");
    let values: HashSet<i64> = answers.iter().map(|a| a.value()).collect();
    assert_eq!(values.len(), 200, "200 distinct values");
    assert_eq!(values.iter().min(), Some(&(before + 1)));
    assert_eq!(values.iter().max(), Some(&(before + 200)));
    assert_eq!(stored_counter(app.state.path(), "seq"), Some(before + 200));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_continues_after_a_restart() {
    let (options, state) = support::options(&[]);
    let app = start_with(options.clone(), state).await;
    let client = client();
    for _ in 0..3 {
        get(&client, &format!("{}/test2", app.url)).await;
    }
    let state = app.stop().await;
    assert_eq!(stored_counter(state.path(), "seq"), Some(3));

    let app = start_with(options, state).await;
    assert_eq!(
        get(&client, &format!("{}/test2", app.url)).await.text(),
        "TEST2 4"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_dir_is_in_spins_own_schema() {
    let app = start(&[("sleep_seconds", "0")]).await;
    let client = client();
    get(&client, &format!("{}/test2", app.url)).await;
    get(&client, &format!("{}/test1", app.url)).await;
    let state = app.stop().await;

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
