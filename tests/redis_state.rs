//! Scale-out: the `default` store in a real Redis through Spin's runtime config;
//! several runners share one exact counter and one sleep toggle; Redis going away fails
//! requests fast and the runner recovers by itself.

mod support;

use runner::testing::TestApp;
use std::collections::HashSet;
use std::time::Duration;
use support::{RedisServer, client, get};

/// The app with its `default` store in `redis`, on real time (two apps, one toggle).
async fn runner_on(redis: &RedisServer, variables: &[(&str, &str)]) -> TestApp {
    let mut options = support::app_options(variables);
    options.runtime_config = Some(redis.runtime_config(redis.dir.path()));
    TestApp::builder(options)
        .real_clock()
        .start()
        .await
        .unwrap()
}

/// `n` concurrent GETs of `path`, alternating between the two runners.
async fn spread(
    client: &reqwest::Client,
    runners: [&str; 2],
    path: &str,
    n: usize,
) -> Vec<support::Answer> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{}{path}", runners[i % 2]));
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_share_one_exact_counter_and_one_toggle() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = runner_on(&redis, &[("sleep_seconds", "1")]).await;
    let b = runner_on(&redis, &[("sleep_seconds", "1")]).await;
    let client = client();

    let mut values = HashSet::new();
    let urls = [a.url(), b.url()];
    let urls = [urls[0].as_str(), urls[1].as_str()];
    for answer in spread(&client, urls, "/test2", 500).await {
        assert_eq!(answer.status, 200, "{}", answer.text());
        values.insert(answer.value());
    }
    assert_eq!(values.len(), 500, "500 distinct values across both runners");
    assert_eq!(
        redis.command(&["GET", "seq"]).unwrap().as_deref(),
        Some("500")
    );

    let mut slept = 0;
    for answer in spread(&client, urls, "/test1", 8).await {
        assert_eq!(answer.status, 200);
        slept += usize::from(answer.slept());
    }
    assert_eq!(slept, 4, "exactly 4 of 8 sleep across two runners");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_fails_requests_fast_and_the_runner_recovers() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let app = runner_on(&redis, &[]).await;
    let client = client();
    assert_eq!(
        get(&client, &format!("{}/test2", app.url())).await.value(),
        1
    );

    let redis = tokio::task::spawn_blocking(move || {
        // Kill it, and while it is down, check requests fail fast from another thread.
        redis.restart_after(Duration::from_secs(6))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let down = get(&client, &format!("{}/test2", app.url())).await;
    assert!(down.status == 500 || down.status == 503, "{down:?}");
    assert!(
        down.elapsed < Duration::from_secs(5),
        "failed slowly: {:?}",
        down.elapsed
    );
    let redis = redis.await.unwrap();

    let mut back = None;
    for _ in 0..50 {
        let answer = get(&client, &format!("{}/test2", app.url())).await;
        if answer.status == 200 {
            back = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let back = back.expect("serving again once Redis is back, without a restart");
    assert_eq!(
        back.value(),
        2,
        "the acknowledged value survived in Redis (appendfsync always)"
    );
    drop(redis);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_flag_seeds_the_default_store() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut options = support::app_options(&[]);
    options.runtime_config = Some(redis.runtime_config(redis.dir.path()));
    options.key_values = vec![("seq".into(), "41".into())];
    let app = TestApp::start(options).await.unwrap();
    assert_eq!(
        get(&client(), &format!("{}/test2", app.url())).await.text(),
        "TEST2 42"
    );
    app.stop().await;
}

/// `runner up` with a runtime config: exit status and stderr.
fn runner_up_with(config: &str) -> (bool, String) {
    support::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rc.toml");
    std::fs::write(&path, config).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(support::manifest_path())
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--runtime-config-file")
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_runtime_configs_stop_the_runner_with_file_and_key() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            "[key_value_store.default]\ntype = \"dynamo\"\n",
            "key_value_store.default.type: ",
        ),
        (
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nx = 1\n",
            "key_value_store.default",
        ),
        ("[key_value_store.default\n", "(syntax): "),
        ("[llm_compute]\ntype = \"spin\"\n", "llm_compute"),
    ];
    for (config, key) in cases {
        let (ok, stderr) = runner_up_with(config);
        assert!(!ok, "{config:?} should be refused");
        assert!(
            stderr.contains("rc.toml: ") && stderr.contains(key),
            "{config:?}: {stderr}"
        );
    }
    let unreachable = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{closed}\"\n"
    );
    let (ok, stderr) = runner_up_with(&unreachable);
    assert!(!ok);
    assert!(
        stderr.contains("key_value_store.default.url: cannot connect"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_value_call_works_on_redis_too() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let manifest = support::repo_root().join("tests/guests/kv-probe/spin.toml");
    support::build_once(&manifest);
    let mut options = runner::AppOptions::new(&manifest);
    options.runtime_config = Some(redis.runtime_config(redis.dir.path()));
    let app = TestApp::start(options).await.unwrap();
    let client = client();
    let call = |path: &str| {
        let (client, url) = (client.clone(), format!("{}{path}", app.url()));
        async move { get(&client, &url).await.text() }
    };
    assert_eq!(call("/get/a").await, "absent");
    assert_eq!(call("/set/a/one").await, "set");
    assert_eq!(call("/set/b/two").await, "set");
    assert_eq!(call("/exists/a").await, "true");
    assert_eq!(call("/get/a").await, "one");
    assert_eq!(call("/keys").await, "a,b");
    assert_eq!(call("/delete/a").await, "deleted");
    assert_eq!(call("/exists/a").await, "false");
    assert_eq!(call("/cas/c/1").await, "swapped from None");
    assert_eq!(call("/cas/c/2").await, "swapped from Some(\"1\")");
    assert_eq!(
        redis.command(&["GET", "b"]).unwrap().as_deref(),
        Some("two")
    );
    assert_eq!(redis.command(&["GET", "c"]).unwrap().as_deref(), Some("2"));
    // The test's view of the store is Redis too.
    let store = app.key_value("default");
    assert_eq!(store.get("b").await.unwrap(), Some(b"two".to_vec()));
    store.set("from-the-test", "x").await.unwrap();
    assert_eq!(
        redis.command(&["GET", "from-the-test"]).unwrap().as_deref(),
        Some("x")
    );
    store.increment("n", 5).await.unwrap();
    assert_eq!(store.counter("n").await.unwrap(), Some(5));
    app.stop().await;
}
