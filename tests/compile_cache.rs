//! Start-up: compiled components are cached on disk (`--cache-dir`), keyed by the
//! wasm's hash and the engine's settings. A second start loads them instead of compiling;
//! a damaged cache file is compiled afresh and replaced; `--no-cache` writes nothing, even with
//! a `--cache-dir` given as well.

mod support;

use std::path::Path;
use std::time::Duration;
use support::{RunnerProcess, client, ensure_built, get, manifest_path};

fn cache_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "cwasm"));
    files.sort();
    files
}

fn start(state: &Path, args: &[&str], home: &Path) -> RunnerProcess {
    let home = home.to_str().unwrap();
    RunnerProcess::start_with_env(
        &manifest_path(),
        state,
        args,
        &[("RUST_LOG", "runner=debug,info"), ("XDG_CACHE_HOME", home)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_loads_compiled_components_and_a_damaged_file_is_replaced() {
    ensure_built();
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let client = client();

    let first = start(state.path(), &["--cache-dir", cache_arg], cache.path());
    assert_eq!(
        get(&client, &format!("{}/test2", first.url)).await.value(),
        1
    );
    drop(first);
    let files = cache_files(cache.path());
    let components = runner::Manifest::load(&manifest_path())
        .unwrap()
        .components
        .len();
    assert_eq!(files.len(), components, "one file per component: {files:?}");
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        // <sha-256 of the wasm, 64 hex>-<engine hash, 16 hex>.cwasm
        assert_eq!(name.len(), 64 + 1 + 16 + 6, "{name}");
    }

    let second = start(state.path(), &["--cache-dir", cache_arg], cache.path());
    second.wait_for_log(&["compiled component loaded from"], Duration::from_secs(5));
    assert!(
        !second.log().contains("compiling again"),
        "{}",
        second.log()
    );
    assert_eq!(
        get(&client, &format!("{}/test2", second.url)).await.value(),
        2
    );
    drop(second);

    let damaged = &files[0];
    std::fs::write(damaged, b"not a compiled component").unwrap();
    let third = start(state.path(), &["--cache-dir", cache_arg], cache.path());
    third.wait_for_log(
        &["cannot be used", "compiling again"],
        Duration::from_secs(5),
    );
    assert_eq!(
        get(&client, &format!("{}/test2", third.url)).await.value(),
        3
    );
    drop(third);
    assert!(
        std::fs::metadata(damaged).unwrap().len() > 1000,
        "damaged file not replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cache_writes_nothing() {
    ensure_built();
    let home = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let named = home.path().join("named");
    // Neither the default cache ($XDG_CACHE_HOME/runner) nor a --cache-dir given as well.
    let runner = start(
        state.path(),
        &["--no-cache", "--cache-dir", named.to_str().unwrap()],
        home.path(),
    );
    assert_eq!(
        get(&client(), &format!("{}/test2", runner.url))
            .await
            .value(),
        1
    );
    drop(runner);
    assert!(cache_files(&home.path().join("runner")).is_empty());
    assert!(cache_files(&named).is_empty());
}
