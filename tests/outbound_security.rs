//! Outbound security: a guest reaches only what `allowed_outbound_hosts` allows
//! (here a `{{ variable }}` template naming one port), the check comes before any connection,
//! and a redirect to a host that is not allowed is not followed: listening sockets that were
//! not allowed see no connection at all.

mod support;

use runner::testing::TestApp;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{build_once, client, get, repo_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A listener on 127.0.0.1 that counts connections and answers each with `answer`.
async fn counting_listener(answer: String) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, count)
}

fn ok_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The hostile test app on the real network (listeners here prove what connected).
async fn hostile_allowing(allowed: &str) -> TestApp {
    let manifest = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&manifest);
    let options = runner::AppOptions::new(&manifest).variable("allowed_upstream", allowed);
    TestApp::builder(options)
        .real_network()
        .start()
        .await
        .unwrap()
}

fn fetch_url(app: &TestApp, target: &str) -> String {
    format!(
        "{}/fetch?url={}",
        app.url(),
        target.replace(':', "%3A").replace('/', "%2F")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_host_not_allowed_is_not_followed() {
    let (forbidden_port, forbidden_hits) = counting_listener(ok_answer("forbidden")).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{forbidden_port}/secret\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (allowed_port, allowed_hits) = counting_listener(redirect).await;
    let app = hostile_allowing(&format!("http://127.0.0.1:{allowed_port}")).await;
    let client = client();

    let answer = get(
        &client,
        &fetch_url(&app, &format!("http://127.0.0.1:{allowed_port}/")),
    )
    .await;
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(
        answer.text().contains("HttpRequestDenied"),
        "{}",
        answer.text()
    );
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);

    // Asked directly, the other host is refused too.
    let direct = get(
        &client,
        &fetch_url(&app, &format!("http://127.0.0.1:{forbidden_port}/")),
    )
    .await;
    assert_eq!(direct.status, 502);
    assert!(
        direct.text().contains("HttpRequestDenied"),
        "{}",
        direct.text()
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        forbidden_hits.load(Ordering::SeqCst),
        0,
        "a socket that was not allowed saw a connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheme_port_and_wildcard_rules_are_checked_before_connecting() {
    let (port, hits) = counting_listener(ok_answer("hello")).await;
    let client = client();
    let target = format!("http://127.0.0.1:{port}/");

    // Allowed by an exact entry, by a port range and by `*://*:*`: the request goes through.
    for allowed in [
        format!("http://127.0.0.1:{port}"),
        // Spin writes port ranges in Rust syntax, end excluded.
        format!("http://127.0.0.1:{}..{}", port - 1, port + 1),
        "*://*:*".to_string(),
    ] {
        let app = hostile_allowing(&allowed).await;
        let answer = get(&client, &fetch_url(&app, &target)).await;
        assert_eq!(
            (answer.status, answer.text().as_str()),
            (200, "hello"),
            "{allowed}"
        );
        app.stop().await;
    }
    let reached = hits.load(Ordering::SeqCst);
    assert_eq!(reached, 3);

    // Wrong scheme, another port, another host, a subdomain wildcard that does not match:
    // refused, and the listener sees nothing.
    for allowed in [
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        format!("http://localhost:{port}"),
        "http://*.example.com:*".to_string(),
    ] {
        let app = hostile_allowing(&allowed).await;
        let answer = get(&client, &fetch_url(&app, &target)).await;
        assert_eq!(answer.status, 502, "{allowed}: {}", answer.text());
        assert!(answer.text().contains("HttpRequestDenied"), "{allowed}");
        app.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        reached,
        "a refused request connected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_range_allows_ip_literals_in_it_and_nothing_else() {
    let (port, hits) = counting_listener(ok_answer("in range")).await;
    let (other_port, other_hits) = counting_listener(ok_answer("other port")).await;
    let app = hostile_allowing(&format!("*://127.0.0.0/24:{port}")).await;
    let client = client();

    let inside = get(
        &client,
        &fetch_url(&app, &format!("http://127.0.0.1:{port}/")),
    )
    .await;
    assert_eq!((inside.status, inside.text().as_str()), (200, "in range"));
    // Same port, a name instead of an IP literal: a range never matches a name.
    let by_name = get(
        &client,
        &fetch_url(&app, &format!("http://localhost:{port}/")),
    )
    .await;
    assert_eq!(by_name.status, 502, "{}", by_name.text());
    let elsewhere = get(
        &client,
        &fetch_url(&app, &format!("http://127.0.0.1:{other_port}/")),
    )
    .await;
    assert_eq!(elsewhere.status, 502, "{}", elsewhere.text());
    assert!(
        elsewhere.text().contains("HttpRequestDenied"),
        "{}",
        elsewhere.text()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the request in range connected"
    );
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_own_tcp_connections_follow_the_same_entries() {
    let (port, hits) = counting_listener("pong".into()).await;
    let (other_port, other_hits) = counting_listener("pong".into()).await;
    let tcp = |app: &TestApp, port: u16| format!("{}/tcp?addr=127.0.0.1%3A{port}", app.url());
    let client = client();

    // `tcp://` (or `*://`) entries allow a socket to exactly that address and port.
    let app = hostile_allowing(&format!("tcp://127.0.0.1:{port}")).await;
    let allowed = get(&client, &tcp(&app, port)).await;
    assert_eq!((allowed.status, allowed.text().as_str()), (200, "pong"));
    let refused = get(&client, &tcp(&app, other_port)).await;
    assert_eq!(refused.status, 502, "{}", refused.text());
    app.stop().await;

    // An `http://` entry is for HTTP requests only: no raw socket to the same address.
    let app = hostile_allowing(&format!("http://127.0.0.1:{port}")).await;
    let refused = get(&client, &tcp(&app, port)).await;
    assert_eq!(refused.status, 502, "{}", refused.text());
    app.stop().await;

    // A range works for sockets as for HTTP.
    let app = hostile_allowing(&format!("*://127.0.0.0/24:{other_port}")).await;
    let ranged = get(&client, &tcp(&app, other_port)).await;
    assert_eq!((ranged.status, ranged.text().as_str()), (200, "pong"));
    app.stop().await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "refused sockets never connected"
    );
    assert_eq!(other_hits.load(Ordering::SeqCst), 1);
}
