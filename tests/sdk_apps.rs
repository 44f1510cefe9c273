//! Apps written with other Spin SDKs run unchanged: the Rust spin-sdk 5 app (a wasm32-wasip1
//! core module), the JavaScript app and the Python app (components), each built by its own
//! toolchain, answer every route as under Spin: their greeting, a key-value counter, a
//! variable (and its override), a GET to an allowed upstream, refusals of a host and a store
//! the manifest does not grant, SQLite rows in the state dir's `sqlite_db.db`, the Spin
//! request headers, 404 for other paths, and concurrent requests that all succeed.

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use runner::AppOptions;
use runner::testing::TestApp;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::RunnerProcess;
use support::sdk_apps::{self, SdkApp};
use support::{client, get, get_concurrently};
use tokio::net::TcpListener;

/// An upstream on 127.0.0.1 that answers every request `200 pong`, counting requests.
async fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                                b"pong",
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, requests)
}

/// The app's runnable manifest, built if needed; `None` when its tools are missing here.
async fn built(app: SdkApp) -> Option<PathBuf> {
    match tokio::task::spawn_blocking(move || sdk_apps::manifest(app)).await {
        Ok(manifest) => manifest,
        Err(failed) => std::panic::resume_unwind(failed.into_panic()),
    }
}

/// Starts `manifest` with a fresh state dir (returned, to read Spin's files in it), on the
/// real network with the upstream variables pointing at `upstream`, and the `extra` variables.
async fn start_app(
    manifest: &Path,
    upstream: SocketAddr,
    extra: &[(&str, &str)],
) -> (TestApp, tempfile::TempDir) {
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = AppOptions::new(manifest)
        .state_dir(state.path())
        .variable("upstream_url", format!("http://{upstream}/ping"))
        .variable("upstream_host", format!("http://{upstream}"));
    for (name, value) in extra {
        options = options.variable(name, *value);
    }
    let app = TestApp::builder(options)
        .real_network()
        .start()
        .await
        .expect("app starts");
    (app, state)
}

/// The `n` of a `<prefix>n ...` body.
fn number_after(body: &str, prefix: &str) -> i64 {
    body.strip_prefix(prefix)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected `{prefix}N...`, got {body:?}"))
}

/// Rows of `visits` in the state dir's default SQLite database, with their notes.
fn visits(state_dir: &Path) -> Vec<String> {
    let path = state_dir.join("sqlite_db.db");
    assert!(path.is_file(), "no {}", path.display());
    let db = rusqlite::Connection::open(&path).expect("open sqlite_db.db");
    db.prepare("SELECT note FROM visits ORDER BY id")
        .expect("a visits table")
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The `hits` entry of the `default` key-value store, as stored.
fn stored_hits(state_dir: &Path) -> Option<String> {
    let db = rusqlite::Connection::open(state_dir.join("sqlite_key_value.db")).expect("open db");
    db.query_row(
        "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'hits'",
        [],
        |row| row.get::<_, Vec<u8>>(0),
    )
    .ok()
    .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// 20 concurrent GETs of `url` (after two earlier ones): each must answer 200 with
/// `<prefix>N`, N from 3 to 22; returns the Ns.
async fn concurrent_numbers(
    client: &reqwest::Client,
    url: &str,
    prefix: &str,
    name: &str,
) -> Vec<i64> {
    let mut numbers = Vec::new();
    for answer in get_concurrently(client, url, 20).await {
        assert_eq!(
            answer.status,
            200,
            "{name} concurrent {url}: {}",
            answer.text()
        );
        let n = number_after(&answer.text(), prefix);
        assert!(
            (3..=22).contains(&n),
            "{name} concurrent {url}: {prefix}{n}"
        );
        numbers.push(n);
    }
    numbers
}

/// Every route of `app`, over real HTTP; returns the manifest for further runs.
async fn serves_every_route(app: SdkApp) -> Option<PathBuf> {
    let manifest = built(app).await?;
    let (upstream_addr, upstream_requests) = upstream().await;
    let (running, state) = start_app(&manifest, upstream_addr, &[]).await;
    let client = client();
    let url = |path: &str| format!("{}{path}", running.url());
    let name = app.name();

    let hello = get(&client, &url("/")).await;
    assert_eq!((hello.status, hello.text()), (200, app.hello()), "{name} /");

    for expected in ["hits=1", "hits=2"] {
        let kv = get(&client, &url("/kv")).await;
        assert_eq!(
            (kv.status, kv.text()),
            (200, expected.to_string()),
            "{name} /kv"
        );
    }

    let variable = get(&client, &url("/variable")).await;
    assert_eq!(
        (variable.status, variable.text()),
        (200, "hello".to_string()),
        "{name} /variable"
    );

    let outbound = get(&client, &url("/outbound")).await;
    assert_eq!(
        (outbound.status, outbound.text()),
        (200, "upstream 200 pong".to_string()),
        "{name} /outbound"
    );
    assert_eq!(
        upstream_requests.load(Ordering::SeqCst),
        1,
        "{name}: one upstream request"
    );

    // denied.example.invalid does not resolve, so a denial is the only possible outcome
    // without an error of another kind; nothing reaches the upstream either.
    let denied_host = get(&client, &url("/denied-host")).await;
    assert_eq!(denied_host.status, 200, "{name} /denied-host");
    assert!(
        denied_host.text().starts_with("denied:"),
        "{name} /denied-host: {:?}",
        denied_host.text()
    );
    assert_eq!(
        upstream_requests.load(Ordering::SeqCst),
        1,
        "{name}: no new upstream request"
    );

    let denied_store = get(&client, &url("/denied-store")).await;
    assert_eq!(denied_store.status, 200, "{name} /denied-store");
    let text = denied_store.text();
    assert!(
        text.starts_with("denied:") && text.contains(app.access_denied_spelling()),
        "{name} /denied-store should be denied with {}: {text:?}",
        app.access_denied_spelling()
    );

    for expected in ["rows=1 last=visit", "rows=2 last=visit"] {
        let sqlite = get(&client, &url("/sqlite")).await;
        assert_eq!(
            (sqlite.status, sqlite.text()),
            (200, expected.to_string()),
            "{name} /sqlite"
        );
    }
    assert_eq!(visits(state.path()), ["visit", "visit"], "{name}");

    let requested = url("/headers");
    let headers = get(&client, &requested).await;
    assert_eq!(headers.status, 200, "{name} /headers");
    let text = headers.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&format!("spin-full-url: {requested}").as_str()),
        "{name} /headers: {text:?}"
    );
    assert!(
        lines.contains(&"spin-path-info: /headers"),
        "{name} /headers: {text:?}"
    );
    assert!(
        lines.contains(&"spin-matched-route: /..."),
        "{name} /headers: {text:?}"
    );

    let unknown = get(&client, &url("/no/such/path")).await;
    assert_eq!(unknown.status, 404, "{name} unknown path");

    // 20 at once, each in its own instance. The app's counter is a get then a set, so
    // concurrent requests may read the same value (as under Spin); what must hold is that
    // all succeed and the stored counter stays consistent. SQLite inserts are each atomic,
    // so every one of those must be counted.
    let written = concurrent_numbers(&client, &url("/kv"), "hits=", name).await;
    // The counter holds the last write, which is one of the values some request wrote.
    let next = number_after(&get(&client, &url("/kv")).await.text(), "hits=");
    assert!(
        written.contains(&(next - 1)),
        "{name} /kv after: hits={next}, not one more than any value written ({written:?})"
    );

    concurrent_numbers(&client, &url("/sqlite"), "rows=", name).await;
    let sqlite = get(&client, &url("/sqlite")).await;
    assert_eq!(sqlite.text(), "rows=23 last=visit", "{name} /sqlite after");

    running.stop().await;
    assert_eq!(
        visits(state.path()).len(),
        23,
        "{name}: rows in sqlite_db.db"
    );
    assert_eq!(
        stored_hits(state.path()),
        Some(next.to_string()),
        "{name}: hits in sqlite_key_value.db"
    );
    Some(manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk5_app_serves_every_route_and_takes_a_variable_override() {
    let Some(manifest) = serves_every_route(SdkApp::RustSdk5).await else {
        return;
    };
    let (upstream_addr, _) = upstream().await;
    let (running, _state) = start_app(&manifest, upstream_addr, &[("greeting", "bonjour")]).await;
    let variable = get(&client(), &format!("{}/variable", running.url())).await;
    assert_eq!(
        (variable.status, variable.text()),
        (200, "bonjour".to_string())
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_app_serves_every_route() {
    serves_every_route(SdkApp::Js).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_app_serves_every_route() {
    serves_every_route(SdkApp::Python).await;
}

/// A 0.2 guest may start a request and write its body later: here it declares
/// `content-length: 0`, waits for the answer, and only then writes and finishes the empty
/// body. The HTTP client stopped reading that body as soon as the head was out, yet the
/// guest's writes succeed and it gets its answer, as when it writes first. (The Python SDK
/// writes its empty body right after starting the request, so it met this race now and then.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_written_after_the_answer_does_not_fail_the_request() {
    let Some(manifest) = built(SdkApp::RustSdk5).await else {
        return;
    };
    let (upstream_addr, upstream_requests) = upstream().await;
    let (running, _state) = start_app(&manifest, upstream_addr, &[]).await;
    let client = client();
    for round in 1..=3 {
        let late = get(&client, &format!("{}/outbound-late-body", running.url())).await;
        assert_eq!(
            (late.status, late.text()),
            (200, "upstream 200 pong".to_string()),
            "round {round}"
        );
        assert_eq!(upstream_requests.load(Ordering::SeqCst), round);
    }
    running.stop().await;
}

/// Two concurrent GETs of `url/sleep?ms=MS`, as tasks.
fn two_sleeping(url: &str, ms: u64) -> Vec<tokio::task::JoinHandle<support::Answer>> {
    (0..2)
        .map(|_| {
            let (client, url) = (client(), format!("{url}/sleep?ms={ms}"));
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect()
}

/// WASI 0.2 components get a fresh instance per request from wasmtime's instance pool. With
/// the pool sized for two instances (`SPIN_MAX_INSTANCE_COUNT=2`, as in Spin), two sleeping
/// requests take both slots: a third request meanwhile waits a second for a slot, then gets
/// `503` with `Retry-After` (and the runner says why); one that comes shortly before a slot
/// frees gets it. `--disable-pooling` has no such cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_answers_503_until_a_slot_frees_and_on_demand_has_no_cap() {
    let Some(manifest) = built(SdkApp::RustSdk5).await else {
        return;
    };
    let client = client();
    let state = tempfile::tempdir().unwrap();
    let two_slots = &[("SPIN_MAX_INSTANCE_COUNT", "2")];
    for (args, cap) in [(&[][..], true), (&["--disable-pooling"][..], false)] {
        let runner = RunnerProcess::start_with_env(&manifest, state.path(), args, two_slots);
        let sleeping = two_sleeping(&runner.url, 3000);
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let third = get(&client, &format!("{}/", runner.url)).await;
        match cap {
            true => {
                assert_eq!(third.status, 503, "{args:?}: {}", third.text());
                assert_eq!(third.headers["retry-after"], "1");
                runner.wait_for_log(&["instance pool is full"], Duration::from_secs(5));
            }
            false => assert_eq!(
                (third.status, third.text()),
                (200, SdkApp::RustSdk5.hello()),
                "{args:?}"
            ),
        }
        for answer in sleeping {
            assert_eq!(answer.await.unwrap().status, 200, "{args:?}");
        }
        // A request that finds the pool full waits (up to a second) for a slot to free.
        let sleeping = two_sleeping(&runner.url, 1000);
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let waited = get(&client, &format!("{}/", runner.url)).await;
        assert_eq!(
            (waited.status, waited.text()),
            (200, SdkApp::RustSdk5.hello())
        );
        for answer in sleeping {
            assert_eq!(answer.await.unwrap().status, 200, "{args:?}");
        }
    }
}

/// A WASI 0.2 request that outlives `--max-request-duration` gets `500` at the deadline, not
/// when the guest would have finished; its instance is stopped and the runner says why; the
/// component goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_02_request_past_its_deadline_gets_500_at_the_deadline_and_the_app_goes_on() {
    let Some(manifest) = built(SdkApp::RustSdk5).await else {
        return;
    };
    let client = client();
    let state = tempfile::tempdir().unwrap();
    let args = ["--max-request-duration", "1s"];
    let runner = RunnerProcess::start(&manifest, state.path(), &args);
    let started = std::time::Instant::now();
    let late = get(&client, &format!("{}/sleep?ms=6000", runner.url)).await;
    let took = started.elapsed();
    assert_eq!(late.status, 500, "{}", late.text());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(4500),
        "answered after {took:?}, not at the 1 s deadline"
    );
    runner.wait_for_log(
        &["no answer within 1s", "--max-request-duration"],
        Duration::from_secs(5),
    );
    runner.wait_for_log(&["instance failed", "timed out"], Duration::from_secs(5));
    let next = get(&client, &format!("{}/", runner.url)).await;
    assert_eq!((next.status, next.text()), (200, SdkApp::RustSdk5.hello()));
}
