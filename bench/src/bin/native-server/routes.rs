//! The two routes. `/test2` increments `seq` and answers `TEST2 {n}`. `/test1` fetches
//! `/test2` from this same server over HTTP (as the seed does), takes a turn from the `turn`
//! counter (kept in the same database, as the runner's test1 does), sleeps on every even turn,
//! then answers with test2's status, end-to-end headers and body.

use crate::counter::Counter;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

/// How long test1 waits for test2's whole answer (the seed's `request_timeout`).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers that describe one connection, not the message; never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

pub struct App {
    counter: Counter,
    client: Client<HttpConnector, Empty<Bytes>>,
    test2: Uri,
    sleep: Duration,
}

struct Upstream {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl App {
    pub fn new(counter: Counter, local: SocketAddr, sleep: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            counter,
            client: Client::builder(TokioExecutor::new()).build(connector),
            test2: format!("http://{local}/test2")
                .parse()
                .expect("a socket address makes a valid URI"),
            sleep,
        }
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed\n".into(),
            );
        }
        match request.uri().path() {
            "/test2" => self.test2().await,
            "/test1" => self.test1().await,
            _ => text(StatusCode::NOT_FOUND, "Not Found\n".into()),
        }
    }

    async fn test2(&self) -> Response<Full<Bytes>> {
        match self.counter.increment("seq").await {
            Ok(n) => text(StatusCode::OK, format!("TEST2 {n}")),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("counter unavailable: {e}\n"),
            ),
        }
    }

    async fn test1(&self) -> Response<Full<Bytes>> {
        let upstream = match tokio::time::timeout(UPSTREAM_TIMEOUT, self.fetch_test2()).await {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(e)) => return text(StatusCode::BAD_GATEWAY, format!("test2: {e}\n")),
            Err(_) => return text(StatusCode::GATEWAY_TIMEOUT, "test2 timed out\n".into()),
        };
        let turn = match self.counter.increment("turn").await {
            Ok(turn) => turn,
            Err(e) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("taking a turn: {e}\n"),
                );
            }
        };
        if turn % 2 == 0 {
            tokio::time::sleep(self.sleep).await;
        }
        let mut response = Response::new(Full::new(upstream.body));
        *response.status_mut() = upstream.status;
        for (name, value) in &upstream.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }

    async fn fetch_test2(&self) -> anyhow::Result<Upstream> {
        let response = self.client.get(self.test2.clone()).await?;
        let (parts, body) = response.into_parts();
        Ok(Upstream {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
