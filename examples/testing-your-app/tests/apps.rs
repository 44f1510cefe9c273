//! Two apps under `runner::testing`, from a crate that depends on the runner by path: a Rust
//! spin-sdk 5 app (a WASI 0.2 guest) with a mocked upstream and a seeded store, and the
//! repository's own spin-sdk 7 app (WASI 0.3) with a 20-second sleep ended by the test's
//! clock. Each app is built first with its manifest's build command, as `spin build` would.

use runner::AppOptions;
use runner::testing::TestApp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The app at `manifest`, built with its own build commands.
fn built(manifest: PathBuf) -> AppOptions {
    let loaded = runner::Manifest::load(&manifest).expect("the manifest loads");
    runner::build(&loaded, &[]).expect("the app builds");
    AppOptions::new(manifest)
}

#[tokio::test]
async fn a_spin_sdk_5_app_with_a_mocked_upstream_and_a_seeded_store() -> anyhow::Result<()> {
    let options = built(repository().join("tests/apps/rust-sdk5/spin.toml"))
        .variable("upstream_host", "https://api.example.com")
        .variable("upstream_url", "https://api.example.com/users/1");
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
    assert_eq!(app.outbound().requests().len(), 1);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_spin_sdk_7_app_sleeps_on_the_tests_clock() -> anyhow::Result<()> {
    let app = Arc::new(TestApp::start(built(repository().join("spin.toml"))).await?);
    assert_eq!(app.get("/test1").await?.text(), "TEST2 1");
    let started = Instant::now();
    let sleeping = app.spawn_get("/test1");
    app.clock().wait_for_timer(Duration::from_secs(20)).await;
    app.clock().advance(Duration::from_secs(20)).await;
    let answer = sleeping.await??;
    assert_eq!(answer.text(), "TEST2 2");
    assert!(
        answer
            .header("server-timing")
            .unwrap_or_default()
            .contains("slept")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(app.key_value("default").counter("seq").await?, Some(2));
    assert_eq!(app.logs("test2"), ["1", "2"]);
    Ok(())
}
