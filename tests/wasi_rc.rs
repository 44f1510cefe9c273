//! Components built for WASI 0.3's release candidate (`0.3.0-rc-2026-03-15`), as Spin 4's own
//! `http-rust` template builds them with spin-sdk 6, run beside 0.3.0 ones: the template's
//! hello world as generated, and a spin-sdk 6 probe that chains to this repository's 0.3.0
//! test2 (and is chained to by test1), is held to the allow-list, uses the store, sleeps on
//! the test's clock, keeps its instance across requests and is held to the request deadline.

mod support;

use runner::AppOptions;
use runner::testing::TestApp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::sdk_apps::{self, SdkApp};
use support::{build_once, repo_root};

/// The rc probe beside test1 and test2, with `variables`.
fn probe(variables: &[(&str, &str)]) -> AppOptions {
    let manifest = repo_root().join("tests/guests/rc-probe/spin.toml");
    build_once(&manifest);
    let mut options = AppOptions::new(manifest);
    for (name, value) in variables {
        options = options.variable(name, *value);
    }
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_4s_own_template_serves_as_generated() -> anyhow::Result<()> {
    let Some(manifest) =
        tokio::task::spawn_blocking(|| sdk_apps::manifest(SdkApp::RustSdk6)).await?
    else {
        return Ok(());
    };
    let app = Arc::new(TestApp::start(AppOptions::new(manifest)).await?);
    let hello = app.get("/some/where?x=1").await?;
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("content-type"), Some("text/plain"));
    assert_eq!(hello.text(), "Hello World!");
    let url = format!("{}/some/where?x=1", app.url());
    assert_eq!(
        app.logs("hello"),
        [format!("Handling request to Some({url:?})")],
        "the guest sees spin-full-url"
    );
    let calls: Vec<_> = (0..20).map(|_| app.spawn_get("/")).collect();
    for call in calls {
        assert_eq!(call.await??.text(), "Hello World!");
    }
    Ok(())
}

#[tokio::test]
async fn an_rc_component_chains_to_a_0_3_0_one_and_back() -> anyhow::Result<()> {
    let app = TestApp::start(probe(&[])).await?;
    let chained = app
        .get("/rc/fetch?url=http%3A%2F%2Ftest2.spin.internal%2Ftest2")
        .await?;
    assert_eq!((chained.status, chained.text().as_str()), (200, "TEST2 1"));

    // test1 (0.3.0) calls the rc probe as its "test2": the probe answers with its path and
    // the headers a chained request gets, and test1 forwards them.
    let app = TestApp::start(probe(&[("test2_host", "rc-probe.spin.internal")])).await?;
    let back = app.get("/test1").await?;
    assert_eq!(back.status, 200, "{}", back.text());
    let text = back.text();
    assert!(text.starts_with("rc-probe: /test2\n"), "{text}");
    for header in [
        "spin-full-url: http://rc-probe.spin.internal/test2",
        "spin-matched-route: /...",
        "spin-path-info: /test2",
        "spin-client-addr: 0.0.0.0:0",
    ] {
        assert!(text.lines().any(|l| l == header), "{header} in {text}");
    }
    Ok(())
}

#[tokio::test]
async fn an_rc_component_is_held_to_its_allow_list() -> anyhow::Result<()> {
    let app = TestApp::start(probe(&[("allowed_upstream", "http://api.example.test")])).await?;
    app.outbound()
        .on("GET", "http://api.example.test/greeting")
        .respond(201, "hi from upstream");
    let allowed = app
        .get("/rc/fetch?url=http%3A%2F%2Fapi.example.test%2Fgreeting")
        .await?;
    assert_eq!(
        (allowed.status, allowed.text().as_str()),
        (201, "hi from upstream")
    );
    let denied = app
        .get("/rc/fetch?url=http%3A%2F%2Fother.example.test%2F")
        .await?;
    assert_eq!(denied.status, 502);
    assert!(
        denied.text().contains("HttpRequestDenied"),
        "{}",
        denied.text()
    );
    assert_eq!(app.outbound().requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_rc_component_uses_the_store_sleeps_on_the_clock_and_keeps_its_instance()
-> anyhow::Result<()> {
    let app = Arc::new(TestApp::start(probe(&[])).await?);
    assert_eq!(app.get("/rc/kv").await?.text(), "rc-hits=1");
    assert_eq!(app.get("/rc/kv").await?.text(), "rc-hits=2");
    assert_eq!(
        app.key_value("default").get("rc-hits").await?,
        Some(b"2".to_vec())
    );

    let started = Instant::now();
    let sleeping = app.spawn_get("/rc/sleep?ms=20000");
    app.clock().wait_for_timers(1).await;
    app.clock().advance(Duration::from_secs(20)).await;
    assert_eq!(sleeping.await??.text(), "slept 20000 ms");
    assert!(started.elapsed() < Duration::from_secs(10));

    // One instance serves one request after another (WASI 0.3 reuse).
    let counts: Vec<String> = [
        app.get("/rc/count").await?.text(),
        app.get("/rc/count").await?.text(),
    ]
    .into();
    let served: Vec<u64> = counts
        .iter()
        .map(|c| c.trim_start_matches("served=").parse().unwrap())
        .collect();
    assert_eq!(served[1], served[0] + 1, "{counts:?}");
    Ok(())
}

#[tokio::test]
async fn an_rc_component_is_held_to_the_request_deadline() -> anyhow::Result<()> {
    let mut options = probe(&[]);
    options.limits.max_request_duration = Duration::from_secs(1);
    let app = TestApp::builder(options).real_clock().start().await?;
    let started = Instant::now();
    let cut = app.get("/rc/sleep?ms=20000").await?;
    assert_eq!(cut.status, 500);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        app.runner_logs()
            .iter()
            .any(|l| l.contains("rc-probe") && l.contains("--max-request-duration")),
        "{:?}",
        app.runner_logs()
    );
    assert_eq!(app.get("/rc/count").await?.status, 200);
    Ok(())
}
