//! The HTTP edge: what reaches a guest is bounded and well-formed. Request bodies
//! over the limit get `413` (declared or streamed), slow headers are cut off, connections past
//! the limit get `503` while accepted ones are served, malformed requests get `400` (or
//! `431`) and never reach a guest, unknown routes `404`; `HEAD` is a `GET` without its body
//! and other methods are refused by the components, as they would be under Spin.

mod support;

use runner::Limits;
use runner::testing::TestApp;
use std::time::{Duration, Instant};
use support::{app_options, build_once, client, get, raw_exchange, repo_root};

/// The real app with `edit` applied to its limits.
async fn app_with(edit: impl FnOnce(&mut Limits)) -> TestApp {
    let mut options = app_options(&[("sleep_seconds", "0")]);
    edit(&mut options.limits);
    TestApp::start(options).await.unwrap()
}

/// The hostile test app (its `/echo` reads the whole body) with `edit` applied to its limits.
async fn hostile_with(edit: impl FnOnce(&mut Limits)) -> TestApp {
    let manifest = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&manifest);
    let mut options = runner::AppOptions::new(&manifest);
    edit(&mut options.limits);
    TestApp::start(options).await.unwrap()
}

/// The stored counter `key` of the app's `default` store.
async fn counter(app: &TestApp, key: &str) -> Option<i64> {
    app.key_value("default").counter(key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_declared_or_streamed() {
    let app = hostile_with(|l| l.max_request_body = 1000).await;
    let client = client();
    let post = |body: reqwest::Body| client.post(format!("{}/echo", app.url())).body(body).send();
    let small = post(vec![7u8; 999].into()).await.unwrap();
    assert_eq!(small.status(), 200);
    assert_eq!(small.text().await.unwrap(), "999 bytes");

    let declared = post(vec![7u8; 1001].into()).await.unwrap();
    assert_eq!(declared.status(), 413);

    // Chunked, no length declared: found out while the guest reads it.
    let chunks = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![1u8; 400]))),
    );
    let streamed = post(reqwest::Body::wrap_stream(chunks)).await.unwrap();
    assert_eq!(streamed.status(), 413);

    // A 10 GB declaration is refused at once, before any byte of it is read.
    let started = Instant::now();
    let huge = raw_exchange(
        &app.url(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_never_reaches_the_guest() {
    let app = app_with(|l| l.max_request_body = 1000).await;
    let huge = raw_exchange(
        &app.url(),
        b"GET /test2 HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert_eq!(counter(&app, "seq").await, None, "test2 ran");
    assert_eq!(
        get(&client(), &format!("{}/test2", app.url()))
            .await
            .value(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    let app = app_with(|l| l.header_read_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let answer = raw_exchange(
        &app.url(),
        b"GET /test2 HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    )
    .await;
    let waited = started.elapsed();
    assert!(!answer.contains("TEST2"), "{answer}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "connection closed after {waited:?} (header timeout 1 s)"
    );
    assert_eq!(counter(&app, "seq").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_get_503_and_accepted_ones_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app_with(|l| l.max_connections = 4).await;
    let addr = app.url().trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = raw_exchange(
        &app.url(),
        b"GET /test2 HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );

    // Every accepted connection is served.
    for stream in &mut held {
        stream
            .write_all(b"GET /test2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = get(&client(), &format!("{}/test2", app.url())).await;
    assert_eq!((after.status, after.value()), (200, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_never_reach_a_guest() {
    let app = app_with(|_| {}).await;
    let cases: [(&[u8], &str); 6] = [
        (b"GARBAGE\r\n\r\n", "HTTP/1.1 400"),
        (b"GET /test2 HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400"),
        (
            b"GET /test2 HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (b"GET /te st2 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"),
        (
            b"GET /test2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (b"GET /test2 HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/1.1 400"),
    ];
    for (request, expected) in cases {
        let answer = raw_exchange(&app.url(), request, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with(expected),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(request)
        );
    }
    let mut huge_header = b"GET /test2 HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'a', 200_000));
    huge_header.extend(b"\r\n\r\n");
    let answer = raw_exchange(&app.url(), &huge_header, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    assert_eq!(counter(&app, "seq").await, None, "a guest ran");
    assert_eq!(
        get(&client(), &format!("{}/test2", app.url()))
            .await
            .value(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_404_head_is_get_without_a_body_and_other_methods_405() {
    let app = app_with(|_| {}).await;
    let client = client();
    let missing = get(&client, &format!("{}/nope", app.url())).await;
    assert_eq!(missing.status, 404);

    let head = client
        .head(format!("{}/test2", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(head.bytes().await.unwrap().is_empty());
    // HEAD is GET without the body: it counted.
    assert_eq!(
        get(&client, &format!("{}/test2", app.url())).await.value(),
        2
    );

    for (method, path) in [
        ("OPTIONS", "/test2"),
        ("POST", "/test2"),
        ("DELETE", "/test1"),
    ] {
        let answer = client
            .request(method.parse().unwrap(), format!("{}{path}", app.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        assert_eq!(answer.headers()["allow"], "GET, HEAD", "{method} {path}");
    }
    assert_eq!(counter(&app, "seq").await, Some(2));
    assert_eq!(counter(&app, "turn").await, None);
}
