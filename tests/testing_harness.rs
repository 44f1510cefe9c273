//! `runner::testing::TestApp`, the harness for testing any Spin app from `cargo test`, on
//! this repository's app and its hostile test guest: outbound calls answered by mocks after
//! the manifest's allow-list (and refused before them when the manifest forbids them), mock
//! failures as the network errors guests know, a guest's 20-second sleep ended by moving a
//! virtual clock, stores and databases in memory seeded and read by the test, periodic jobs
//! run on demand, waiting for work done after an answer, captured logs, isolation between
//! apps, and the real backends when the options name a state directory.

mod support;

use runner::AppOptions;
use runner::testing::{Failure, LogSource, MockResponse, TestApp};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{build_once, ensure_built, manifest_path, repo_root};

/// The repository's app, with `variables` set.
fn app_options(variables: &[(&str, &str)]) -> AppOptions {
    ensure_built();
    let mut options = AppOptions::new(manifest_path());
    for (name, value) in variables {
        options = options.variable(name, *value);
    }
    options
}

/// The hostile test guest (its `/fetch`, `/sleep`, `/panic`), allowed to reach `allowed`.
fn hostile_options(allowed: &str) -> AppOptions {
    let manifest = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&manifest);
    AppOptions::new(manifest).variable("allowed_upstream", allowed)
}

/// test1 pointed at `host` instead of the in-process test2.
async fn test1_calling(host: &str, variables: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("test2_host", host)];
    all.extend_from_slice(variables);
    TestApp::start(app_options(&all)).await.expect("app starts")
}

#[tokio::test]
async fn a_twenty_second_sleep_ends_when_the_clock_is_advanced_not_before() {
    let app = Arc::new(TestApp::start(app_options(&[])).await.unwrap());
    let awake = app.get("/test1").await.unwrap();
    assert_eq!((awake.status, awake.text().as_str()), (200, "TEST2 1"));

    let started = Instant::now();
    let sleeper = app.spawn_get("/test1");
    // test1's 20-second sleep (not the timeout on its call to test2, which comes first).
    app.clock().wait_for_timer(Duration::from_secs(20)).await;
    app.clock().advance(Duration::from_secs(19)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !sleeper.is_finished(),
        "answered after 19 of 20 virtual seconds"
    );
    // Others are served while it sleeps.
    assert_eq!(app.get("/test2").await.unwrap().text(), "TEST2 3");

    app.clock().advance(Duration::from_secs(1)).await;
    let slept = sleeper.await.unwrap().unwrap();
    assert_eq!((slept.status, slept.text().as_str()), (200, "TEST2 2"));
    let timing = slept.header("server-timing").unwrap();
    assert!(timing.contains("sleep;dur=20000"), "{timing}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a 20 s sleep took {:?} of real time",
        started.elapsed()
    );
    assert_eq!(app.clock().elapsed(), Duration::from_secs(20));
}

#[tokio::test]
async fn mocks_answer_outbound_calls_and_record_them() {
    let app = test1_calling("api.example.test", &[("sleep_seconds", "0")]).await;
    let body: &[u8] = b"teapot \x00\x9f\xff bytes";
    let mock = app
        .outbound()
        .on("GET", "http://api.example.test/test2")
        .respond_with(
            MockResponse::new(418)
                .header("x-upstream", "tea")
                .header("set-cookie", "a=1")
                .header("set-cookie", "b=2")
                .header("content-type", "application/octet-stream")
                .body(body),
        );
    let answer = app.get("/test1").await.unwrap();
    assert_eq!(answer.status, 418);
    assert_eq!(answer.body, body, "forwarded byte for byte");
    assert_eq!(answer.header("x-upstream"), Some("tea"));
    let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);

    assert_eq!(mock.calls(), 1);
    let sent = app.outbound().requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].component, "test1");
    assert_eq!(sent[0].method, "GET");
    assert_eq!(sent[0].url, "http://api.example.test/test2");
    assert!(sent[0].body.is_empty());
    assert!(app.outbound().unmatched().is_empty());
    app.outbound().verify();
    app.stop().await;
}

#[tokio::test]
async fn a_call_no_mock_answers_fails_as_a_refused_connection_and_is_listed() {
    let app = test1_calling("api.example.test", &[]).await;
    app.outbound()
        .on("GET", "http://api.example.test/other")
        .respond(200, "not this one");
    let answer = app.get("/test1").await.unwrap();
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(
        answer.text().contains("ConnectionRefused"),
        "{}",
        answer.text()
    );
    let unmatched = app.outbound().unmatched();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].url, "http://api.example.test/test2");
    let runner_lines = app.runner_logs();
    assert!(
        runner_lines
            .iter()
            .any(|l| l.starts_with("[test1]") && l.contains("matched no mock")),
        "{runner_lines:?}"
    );
    let outbound = std::panic::AssertUnwindSafe(app.outbound());
    let verified = std::panic::catch_unwind(move || outbound.verify());
    assert!(verified.is_err(), "verify() reports the unanswered call");
}

#[tokio::test]
async fn a_call_the_manifest_forbids_is_refused_before_any_mock() {
    let app = TestApp::start(hostile_options("http://allowed.example.test"))
        .await
        .unwrap();
    let forbidden = app
        .outbound()
        .on("*", "http://forbidden.example.test*")
        .respond(200, "must not be seen");
    let answer = app
        .get("/fetch?url=http://forbidden.example.test/x")
        .await
        .unwrap();
    assert_eq!(answer.status, 502);
    assert!(
        answer.text().contains("HttpRequestDenied"),
        "{}",
        answer.text()
    );
    assert_eq!(forbidden.calls(), 0);
    assert!(app.outbound().requests().is_empty());

    // A redirect from an allowed host to a forbidden one: the second call is refused too.
    app.outbound()
        .on("GET", "http://allowed.example.test/start")
        .respond_with(
            MockResponse::new(302).header("location", "http://forbidden.example.test/next"),
        );
    let answer = app
        .get("/fetch?url=http://allowed.example.test/start")
        .await
        .unwrap();
    assert!(
        answer.text().contains("HttpRequestDenied"),
        "{}",
        answer.text()
    );
    assert_eq!(forbidden.calls(), 0);
    assert_eq!(app.outbound().requests().len(), 1);
    let denied: Vec<_> = app
        .log_lines("hostile")
        .into_iter()
        .filter(|l| l.source == LogSource::Runner && l.text.contains("denied"))
        .collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
}

#[tokio::test]
async fn mock_failures_reach_the_guest_as_network_errors() {
    let app = TestApp::start(hostile_options("http://up.example.test"))
        .await
        .unwrap();
    let outbound = app.outbound();
    outbound
        .on("GET", "http://up.example.test/refused")
        .fail(Failure::ConnectionRefused);
    outbound
        .on("GET", "http://up.example.test/timeout")
        .fail(Failure::Timeout);
    outbound
        .on("GET", "http://up.example.test/reset")
        .respond_with(
            MockResponse::new(200)
                .body("half an ans")
                .reset_after_headers(),
        );
    for (path, code) in [
        ("refused", "ConnectionRefused"),
        ("timeout", "ConnectionTimeout"),
        ("reset", "ConnectionTerminated"),
    ] {
        let answer = app
            .get(&format!("/fetch?url=http://up.example.test/{path}"))
            .await
            .unwrap();
        assert_eq!(answer.status, 502, "{path}: {}", answer.text());
        assert!(answer.text().contains(code), "{path}: {}", answer.text());
    }
    assert!(outbound.unmatched().is_empty());
}

#[tokio::test]
async fn a_mock_delayed_past_the_guests_timeout_is_a_504_at_virtual_time() {
    let app =
        Arc::new(test1_calling("slow.example.test", &[("upstream_timeout_seconds", "120")]).await);
    app.outbound()
        .on("GET", "http://slow.example.test/test2")
        .delay(Duration::from_secs(300))
        .respond(200, "TEST2 1");
    let started = Instant::now();
    let request = app.spawn_get("/test1");
    // test1's own timeout and the mock's delay.
    app.clock().wait_for_timers(2).await;
    app.clock().advance(Duration::from_secs(119)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!request.is_finished());
    app.clock().advance(Duration::from_secs(1)).await;
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert!(answer.text().contains("upstream_timeout_seconds"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_mock_limited_to_one_use_lets_the_next_one_answer() {
    let app = test1_calling("api.example.test", &[("sleep_seconds", "0")]).await;
    let first = app
        .outbound()
        .on("GET", "http://api.example.test/test2")
        .times(1)
        .respond(200, "TEST2 100");
    let after = app
        .outbound()
        .on("GET", "http://api.example.test/*")
        .expect(2)
        .respond(200, "TEST2 200");
    let bodies: Vec<String> = [
        app.get("/test1").await.unwrap().text(),
        app.get("/test1").await.unwrap().text(),
        app.get("/test1").await.unwrap().text(),
    ]
    .into();
    assert_eq!(bodies, ["TEST2 100", "TEST2 200", "TEST2 200"]);
    assert_eq!((first.calls(), after.calls()), (1, 2));
    app.outbound().verify();
}

#[tokio::test]
async fn the_test_seeds_the_store_the_guest_counts_in_and_reads_back_what_it_wrote() {
    let app = TestApp::start(app_options(&[])).await.unwrap();
    let store = app.key_value("default");
    assert_eq!(store.increment("seq", 41).await.unwrap(), 41);
    assert_eq!(app.get("/test2").await.unwrap().text(), "TEST2 42");
    assert_eq!(store.counter("seq").await.unwrap(), Some(42));
    store.set("note", "from the test").await.unwrap();
    assert_eq!(
        store.keys().await.unwrap(),
        ["note".to_string(), "seq".to_string()]
    );
    store.delete("note").await.unwrap();
    assert_eq!(store.get("note").await.unwrap(), None);
    assert!(
        app.key_value("elsewhere").get("x").await.is_err(),
        "no such store"
    );
    assert_eq!(app.logs("test2"), ["42"]);
}

#[tokio::test]
async fn every_test_app_has_stores_of_its_own_in_memory() {
    let (dir, manifest) = support::edited_manifest(|text| text);
    let options = || AppOptions::new(&manifest);
    let (a, b) = tokio::join!(TestApp::start(options()), TestApp::start(options()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.addr(), b.addr());
    for _ in 0..3 {
        a.get("/test2").await.unwrap();
    }
    assert_eq!(b.get("/test2").await.unwrap().text(), "TEST2 1");
    assert_eq!(
        a.key_value("default").counter("seq").await.unwrap(),
        Some(3)
    );
    a.stop().await;
    b.stop().await;
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        written,
        ["spin.toml"],
        "nothing written beside the manifest"
    );
}

#[tokio::test]
async fn a_state_directory_in_the_options_means_the_real_sqlite_file() {
    let state = tempfile::tempdir().unwrap();
    let app = TestApp::start(app_options(&[]).state_dir(state.path()))
        .await
        .unwrap();
    app.get("/test2").await.unwrap();
    app.key_value("default").increment("seq", 10).await.unwrap();
    app.stop().await;
    assert_eq!(support::stored_counter(state.path(), "seq"), Some(11));
}

#[tokio::test]
async fn periodic_jobs_run_only_when_the_test_asks_and_see_the_tick_asked_for() {
    let app = TestApp::start(app_options(&[])).await.unwrap();
    assert_eq!(app.jobs().len(), 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        app.key_value("default").counter("ticks").await.unwrap(),
        None,
        "the 2-second schedule does not run by itself"
    );
    app.run_job("ticker").await.unwrap();
    assert_eq!(app.get("/ticks").await.unwrap().text(), "TICKS 1");

    let tick = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    app.run_job_at("ticker", tick).await.unwrap();
    assert!(
        app.logs("ticker")
            .iter()
            .any(|l| l.contains("run for tick 1900000000")),
        "{:?}",
        app.logs("ticker")
    );
    assert!(app.run_job("test2").await.is_err(), "test2 is not a job");
}

#[tokio::test]
async fn wait_idle_waits_for_work_after_the_answer_on_the_virtual_clock() {
    let app = TestApp::start(app_options(&[])).await.unwrap();
    let answer = app.get("/later?seconds=30").await.unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (202, "LATER 1"));
    app.clock().wait_for_timers(1).await;
    let store = app.key_value("default");
    assert_eq!(store.counter("later_done").await.unwrap(), None);
    let idle = tokio::time::timeout(Duration::from_millis(300), app.wait_idle()).await;
    assert!(idle.is_err(), "idle while work is pending");
    app.clock().advance(Duration::from_secs(30)).await;
    tokio::time::timeout(Duration::from_secs(10), app.wait_idle())
        .await
        .expect("idle once the work is done");
    assert_eq!(store.counter("later_done").await.unwrap(), Some(1));
}

#[tokio::test]
async fn guest_clocks_start_at_the_real_time_and_move_with_the_test() {
    let app = TestApp::start(app_options(&[])).await.unwrap();
    let before = SystemTime::now();
    let now = app.clock().now();
    assert!(now.duration_since(before).unwrap_or_default() < Duration::from_secs(5));
    app.clock().advance(Duration::from_secs(3600)).await;
    app.run_job("ticker").await.unwrap();
    let hour_later = now + Duration::from_secs(3600);
    let seconds = hour_later.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let ran = app.logs("ticker");
    assert!(
        ran.iter()
            .any(|l| l.contains(&format!("run for tick {seconds}"))),
        "the job's tick is the guests' time: {ran:?}"
    );
}

#[tokio::test]
async fn the_runner_lines_about_a_component_are_captured_with_its_output() {
    let app = TestApp::start(hostile_options("http://127.0.0.1:1"))
        .await
        .unwrap();
    let answer = app.get("/panic").await.unwrap();
    assert_eq!(answer.status, 500);
    let lines = app.log_lines("hostile");
    let panic_at = lines
        .iter()
        .position(|l| l.source == LogSource::Stderr && l.text.contains("panics on purpose"))
        .unwrap_or_else(|| panic!("the guest's panic message: {lines:?}"));
    let failed_at = lines
        .iter()
        .position(|l| l.source == LogSource::Runner && l.text.contains("instance failed"))
        .unwrap_or_else(|| panic!("the runner's line: {lines:?}"));
    assert!(panic_at < failed_at, "in order: {lines:?}");
    assert!(
        app.logs("hostile")
            .iter()
            .all(|l| !l.contains("instance failed"))
    );
    assert_eq!(app.get("/ok").await.unwrap().status, 200);
}

#[tokio::test]
async fn requests_carry_any_method_headers_and_body() {
    let app = TestApp::start(hostile_options("http://127.0.0.1:1"))
        .await
        .unwrap();
    let request = runner::testing::http::Request::post("/echo")
        .header("x-test", "1")
        .body(vec![7u8; 1000])
        .unwrap();
    let answer = app.request(request).await.unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (200, "1000 bytes"));
    let refused = app
        .request(
            runner::testing::http::Request::delete("/test2")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 405);
}

#[tokio::test]
async fn a_real_clock_opt_out_sleeps_in_real_time() {
    let app = TestApp::builder(app_options(&[("sleep_seconds", "0.3")]))
        .real_clock()
        .start()
        .await
        .unwrap();
    app.get("/test1").await.unwrap();
    let started = Instant::now();
    let slept = app.get("/test1").await.unwrap();
    assert!(slept.header("server-timing").unwrap().contains("slept"));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(app.clock().pending_timers(), 0);
}
