//! Testing an app that is not this repository's, as its own developer would: the Rust
//! spin-sdk 5 app under `tests/apps/rust-sdk5` (a WASI 0.2 guest, built for wasm32-wasip1 and
//! made a component on load), with its upstream answered by a mock, its store and database
//! seeded by the test, and its sleep ended by the test's clock. The README's "Testing your
//! own Spin app" shows the first test.

mod support;

use runner::AppOptions;
use runner::testing::{SqlValue, TestApp};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use support::sdk_apps::{self, SdkApp};

/// The app's manifest, built if needed; `None` where its toolchain is missing (outside CI).
async fn sdk5_app() -> Option<AppOptions> {
    let manifest = tokio::task::spawn_blocking(|| sdk_apps::manifest(SdkApp::RustSdk5))
        .await
        .unwrap()?;
    Some(
        AppOptions::new(manifest)
            .variable("upstream_host", "https://api.example.com")
            .variable("upstream_url", "https://api.example.com/users/1"),
    )
}

#[tokio::test]
async fn the_app_answers_from_a_mocked_upstream_and_a_seeded_store() -> anyhow::Result<()> {
    let Some(options) = sdk5_app().await else {
        return Ok(());
    };
    let app = TestApp::start(options).await?;
    app.outbound()
        .on("GET", "https://api.example.com/users/1")
        .respond(200, r#"{"id":1}"#);
    app.key_value("default").set("hits", "41").await?;

    assert_eq!(
        app.get("/outbound").await?.text(),
        r#"upstream 200 {"id":1}"#
    );
    assert_eq!(app.get("/kv").await?.text(), "hits=42");
    assert_eq!(
        app.key_value("default").get("hits").await?,
        Some(b"42".to_vec())
    );
    let sent = app.outbound().requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].url.as_str()),
        ("GET", "https://api.example.com/users/1")
    );
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn its_database_is_seeded_and_read_by_the_test() -> anyhow::Result<()> {
    let Some(options) = sdk5_app().await else {
        return Ok(());
    };
    let app = TestApp::start(options).await?;
    let db = app.sqlite("default");
    db.execute(
        "CREATE TABLE visits (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT);
         INSERT INTO visits (note) VALUES ('seeded'), ('seeded');",
    )
    .await?;
    assert_eq!(app.get("/sqlite").await?.text(), "rows=3 last=visit");
    let rows = db
        .query_with(
            "SELECT note, COUNT(*) FROM visits GROUP BY note ORDER BY note",
            &[],
        )
        .await?;
    assert_eq!(
        rows.rows,
        vec![
            vec![SqlValue::Text("seeded".into()), SqlValue::Integer(2)],
            vec![SqlValue::Text("visit".into()), SqlValue::Integer(1)],
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_wasi_02_guest_sleeps_and_reads_time_on_the_tests_clock() -> anyhow::Result<()> {
    let Some(options) = sdk5_app().await else {
        return Ok(());
    };
    let app = Arc::new(TestApp::start(options).await?);
    let started = Instant::now();
    let sleeping = app.spawn_get("/sleep?ms=20000");
    app.clock().wait_for_timers(1).await;
    app.clock().advance(Duration::from_secs(20)).await;
    let answer = sleeping.await??;
    let wall = app.clock().now().duration_since(UNIX_EPOCH)?.as_secs();
    assert_eq!(answer.text(), format!("slept=20000 wall={wall}"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_host_the_manifest_does_not_allow_never_reaches_a_mock() -> anyhow::Result<()> {
    let Some(options) = sdk5_app().await else {
        return Ok(());
    };
    let app = TestApp::start(options).await?;
    let mock = app
        .outbound()
        .on("*", "http://denied.example.invalid/*")
        .respond(200, "must not be seen");
    let answer = app.get("/denied-host").await?;
    assert!(answer.text().starts_with("denied:"), "{}", answer.text());
    assert_eq!(mock.calls(), 0);
    assert!(app.outbound().requests().is_empty());
    Ok(())
}
