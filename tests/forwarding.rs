//! test1 as a proxy: with `test2_host` pointed at an upstream this test owns, test1
//! forwards status, end-to-end headers and body byte for byte; unreachable, oversized and slow
//! upstreams get 502, 502 and 504; a host the manifest does not allow is refused before any
//! connection. Where the network itself is what is tested, the upstream is a real server on
//! loopback; an oversized or slow upstream is a mock (and the slow one waits on the test's
//! clock, so a 120-second timeout takes milliseconds).

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use runner::testing::TestApp;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{app_options, client, edited_manifest, get};

/// The app with test1 calling `host`, on the real network.
async fn calling(host: &str, variables: &[(&str, &str)]) -> TestApp {
    let mut options = app_options(variables).variable("test2_host", host);
    options = options.variable("sleep_seconds", "0");
    TestApp::builder(options)
        .real_network()
        .start()
        .await
        .unwrap()
}
use tokio::net::TcpListener;

const BODY: &[u8] = b"teapot \x00\x9f\x92\x96\xff bytes";

/// An upstream on 127.0.0.1 that answers every request with `respond` after `delay`,
/// counting the connections it accepts.
async fn upstream(
    delay: Duration,
    respond: fn() -> Response<Full<Bytes>>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: Request<hyper::body::Incoming>| async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, Infallible>(respond())
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, accepted)
}

fn teapot() -> Response<Full<Bytes>> {
    Response::builder()
        .status(418)
        .header("content-type", "application/octet-stream")
        .header("x-upstream", "tea")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .header("keep-alive", "timeout=5")
        .header("connection", "x-hop")
        .header("x-hop", "per-connection")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap()
}

/// A port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_status_headers_and_body_byte_for_byte() {
    let (addr, accepted) = upstream(Duration::ZERO, teapot).await;
    let host = addr.to_string();
    let app = calling(&host, &[]).await;
    let answer = get(&client(), &format!("{}/test1", app.url())).await;
    assert_eq!(answer.status, 418);
    assert_eq!(answer.body, BODY);
    assert_eq!(answer.headers["x-upstream"], "tea");
    assert_eq!(answer.headers["content-type"], "application/octet-stream");
    let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    for hop in ["keep-alive", "x-hop", "transfer-encoding"] {
        assert!(
            !answer.headers.contains_key(hop),
            "{hop} forwarded: {:?}",
            answer.headers
        );
    }
    assert!(answer.headers.contains_key("server-timing"));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_a_502() {
    let host = closed_port().await.to_string();
    let app = calling(&host, &[]).await;
    let answer = get(&client(), &format!("{}/test1", app.url())).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.headers["content-type"], "text/plain; charset=utf-8");
    let text = answer.text();
    assert!(
        text.contains(&host) && text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_upstream_body_is_a_502_not_an_unbounded_buffer() {
    let app = TestApp::start(app_options(&[("test2_host", "big.example.test")]))
        .await
        .unwrap();
    app.outbound()
        .on("GET", "http://big.example.test/test2")
        .respond(200, vec![b'x'; 17 * 1024 * 1024]);
    let answer = app.get("/test1").await.unwrap();
    assert_eq!(answer.status, 502);
    assert!(answer.text().contains("larger than"), "{}", answer.text());
    app.stop().await;
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_when_the_upstream_timeout_passes() {
    let app = Arc::new(
        TestApp::start(app_options(&[("test2_host", "slow.example.test")]))
            .await
            .unwrap(),
    );
    app.outbound()
        .on("GET", "http://slow.example.test/test2")
        .delay(Duration::from_secs(600))
        .respond(200, "TEST2 1");
    let request = app.spawn_get("/test1");
    app.clock().wait_for_timers(2).await;
    // The default upstream_timeout_seconds is 120.
    app.clock().advance(Duration::from_secs(119)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!request.is_finished(), "504 before the timeout");
    app.clock().advance(Duration::from_secs(1)).await;
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert!(
        answer.text().contains("upstream_timeout_seconds"),
        "{}",
        answer.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_outside_the_allow_list_is_refused_without_connecting() {
    let (addr, accepted) = upstream(Duration::ZERO, teapot).await;
    let (dir, manifest) = edited_manifest(|text| {
        text.replace(
            r#"allowed_outbound_hosts = ["http://{{ test2_host }}"]"#,
            r#"allowed_outbound_hosts = ["http://test2.spin.internal"]"#,
        )
    });
    let options = runner::AppOptions::new(&manifest).variable("test2_host", addr.to_string());
    let app = TestApp::builder(options)
        .real_network()
        .start()
        .await
        .unwrap();
    let answer = get(&client(), &format!("{}/test1", app.url())).await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.text().contains("allowed_outbound_hosts"),
        "{}",
        answer.text()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "no connection may reach a host not allowed"
    );
    app.stop().await;
    drop(dir);
}
