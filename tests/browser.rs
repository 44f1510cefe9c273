//! The seed's demo seen the way a person sees it, in a real headless Chromium driven over the
//! DevTools protocol: tabs on /test1, and the page at / that draws the timeline.
//!
//! Chromium comes from the OS (`apt-get install chromium`, or `CHROMIUM=/path`). Where it is
//! missing these tests fail under CI (`CI=true`) and are skipped, loudly, elsewhere.

mod support;

use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use runner::testing::TestApp;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::{app_options, repo_root};

/// The app in real time (a browser measures real seconds).
async fn start(variables: &[(&str, &str)]) -> TestApp {
    TestApp::builder(app_options(variables))
        .real_clock()
        .schedule_jobs()
        .start()
        .await
        .unwrap()
}

fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ]
            .map(PathBuf::from),
        );
    for candidate in candidates {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("Chromium is required in CI: install it (apt-get install chromium) or set CHROMIUM");
    }
    eprintln!("SKIPPED: no Chromium found (apt-get install chromium, or set CHROMIUM=/path)");
    None
}

/// A headless Chromium with a fresh profile, and the task that drives its protocol connection.
async fn launch(executable: PathBuf) -> (Browser, tokio::task::JoinHandle<()>, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let config = BrowserConfig::builder()
        .chrome_executable(executable)
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1100, 760)
        // A first start on a cold machine (fonts, caches) can take longer than the default.
        .launch_timeout(std::time::Duration::from_secs(90))
        .args([
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    let driver = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, driver, profile)
}

async fn close(mut browser: Browser, driver: tokio::task::JoinHandle<()>) {
    let _ = browser.close().await;
    let _ = browser.wait().await;
    driver.abort();
}

async fn body_text(page: &Page) -> String {
    page.evaluate("document.body.innerText")
        .await
        .expect("evaluate")
        .into_value()
        .expect("a string")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_tabs_like_the_seed_two_answer_at_once_two_after_the_sleep() {
    let Some(executable) = chromium() else { return };
    // Long enough that a tab that did not sleep is told apart from one that did, even when a
    // loaded machine makes a new tab take a second or more.
    let sleep = Duration::from_millis(3000);
    let app = start(&[("sleep_seconds", "3")]).await;
    let (browser, driver, _profile) = launch(executable).await;

    // Four tabs opened at the same moment on the very same URL, as a person would.
    let url = format!("{}/test1", app.url());
    let tabs = futures::future::join_all((0..4).map(|_| {
        let (browser, url) = (&browser, url.clone());
        async move {
            let started = Instant::now();
            let page = browser.new_page(url.as_str()).await.expect("tab opens");
            let elapsed = started.elapsed();
            (elapsed, body_text(&page).await)
        }
    }))
    .await;

    let slow = tabs.iter().filter(|(elapsed, _)| *elapsed >= sleep).count();
    let fast = tabs.iter().filter(|(elapsed, _)| *elapsed < sleep).count();
    assert_eq!((fast, slow), (2, 2), "{tabs:?}");
    let mut values: Vec<i64> = tabs
        .iter()
        .map(|(_, text)| {
            text.trim()
                .strip_prefix("TEST2 ")
                .expect("TEST2 n")
                .parse()
                .unwrap()
        })
        .collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 4, "{tabs:?}");
    close(browser, driver).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_draws_six_requests_half_of_them_slept() {
    let Some(executable) = chromium() else { return };
    let sleep_ms = 1500.0;
    let app = start(&[("sleep_seconds", "1.5")]).await;
    let (browser, driver, _profile) = launch(executable).await;

    let page = browser.new_page("about:blank").await.unwrap();
    let mut console = page
        .event_listener::<EventConsoleApiCalled>()
        .await
        .unwrap();
    let mut exceptions = page.event_listener::<EventExceptionThrown>().await.unwrap();
    let mut requests = page
        .event_listener::<EventRequestWillBeSent>()
        .await
        .unwrap();
    page.goto(format!("{}/?n=6&auto=1", app.url()))
        .await
        .expect("page loads");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: String = page
            .evaluate("document.body.dataset.state")
            .await
            .unwrap()
            .into_value()
            .unwrap();
        if state == "done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish (state {state})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rows: Vec<(String, f64, String)> = page
        .evaluate(
            "[...document.querySelectorAll('[data-value]')].map(r => [r.dataset.value, Number(r.dataset.ms), r.dataset.slept])",
        )
        .await
        .unwrap()
        .into_value()
        .unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    let mut values: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), 6, "distinct values: {rows:?}");
    assert_eq!(rows.iter().filter(|r| r.2 == "true").count(), 3, "{rows:?}");
    assert!(
        rows.iter()
            .filter(|r| r.2 == "false")
            .all(|r| r.1 < sleep_ms),
        "no awake request took as long as the sleep: {rows:?}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.2 == "true")
            .all(|r| r.1 >= sleep_ms),
        "{rows:?}"
    );

    // Below the timeline, the periodic job's runs, live (a run every 2 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ticks, last): (String, String) = page
            .evaluate(
                "[document.getElementById('job').dataset.ticks, document.getElementById('tick-last').textContent]",
            )
            .await
            .unwrap()
            .into_value()
            .unwrap();
        if ticks.parse::<u64>().is_ok_and(|n| n >= 1) && last.contains("UTC") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job's runs are not shown: {ticks:?}, {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let shot = page
        .screenshot(
            ScreenshotParams::builder()
                .format(CaptureScreenshotFormat::Png)
                .full_page(true)
                .build(),
        )
        .await
        .expect("screenshot");
    let out = repo_root().join("target/demo-page.png");
    std::fs::write(&out, shot).unwrap();

    // Nothing but this app was loaded, and nothing complained.
    let mut urls = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(50), requests.next()).await
    {
        urls.push(event.request.url.clone());
    }
    assert!(
        urls.len() >= 7,
        "the page and its requests were seen: {urls:?}"
    );
    let foreign: Vec<_> = urls
        .iter()
        .filter(|u| !u.starts_with(&app.url()) && !u.starts_with("data:"))
        .collect();
    assert!(
        foreign.is_empty(),
        "loaded from outside the app: {foreign:?}"
    );
    let mut problems = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(50), console.next()).await
    {
        if format!("{:?}", event.r#type)
            .to_lowercase()
            .contains("error")
        {
            problems.push(format!("{:?}", event.args));
        }
    }
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(50), exceptions.next()).await
    {
        problems.push(format!("{:?}", event.exception_details));
    }
    assert!(problems.is_empty(), "console errors: {problems:?}");

    close(browser, driver).await;
    app.stop().await;
}
