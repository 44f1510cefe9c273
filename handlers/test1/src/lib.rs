//! `test1`: the seed's non-blocking sleeper. It calls test2 through outbound HTTP, then takes
//! its turn from the shared toggle (an atomic increment of `turn` in the store `default`):
//! every even turn sleeps `sleep_seconds` without holding a thread. It answers with test2's
//! status, end-to-end headers and body, plus a `server-timing` header telling whether it slept.
//!
//! Failures answer at once with one plain-text line: `502` when test2 cannot be reached,
//! refuses the request or breaks off, `504` when it takes longer than `upstream_timeout_seconds`.

mod settings;
mod upstream;

use bytes::Bytes;
use settings::Settings;
use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::{HeaderValue, IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use std::time::{Duration, Instant};
use upstream::{Upstream, UpstreamError};

const STORE: &str = "default";
const TURN_KEY: &str = "turn";

#[http_service]
async fn handle(_request: Request) -> impl IntoResponse {
    match respond().await {
        Ok(response) => response,
        Err((status, reason)) => {
            eprintln!("{status}: {reason}");
            plain(status, format!("{reason}\n"))
        }
    }
}

async fn respond() -> Result<Response<http_body_util_full::Full>, (StatusCode, String)> {
    let settings = Settings::load()
        .await
        .map_err(|reason| (StatusCode::INTERNAL_SERVER_ERROR, reason))?;

    let started = Instant::now();
    let upstream = upstream::fetch(&settings).await.map_err(|e| match e {
        UpstreamError::TimedOut { .. } => (StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        _ => (StatusCode::BAD_GATEWAY, e.to_string()),
    })?;
    let upstream_ms = started.elapsed().as_secs_f64() * 1000.0;

    let turn = take_turn().map_err(|reason| (StatusCode::INTERNAL_SERVER_ERROR, reason))?;
    let slept = if turn % 2 == 0 {
        let started = Instant::now();
        spin_sdk::time::sleep(settings.sleep).await;
        Some(started.elapsed())
    } else {
        None
    };

    Ok(forward(upstream, upstream_ms, turn, slept))
}

/// Atomically takes the next turn of the sleep toggle; turns start at 1.
fn take_turn() -> Result<i64, String> {
    let bucket = store::open(STORE).map_err(|e| format!("opening store `{STORE}`: {e:?}"))?;
    atomics::increment(&bucket, TURN_KEY, 1).map_err(|e| format!("taking a turn: {e:?}"))
}

/// Builds test1's answer from test2's: same status, end-to-end headers and body bytes.
fn forward(
    upstream: Upstream,
    upstream_ms: f64,
    turn: i64,
    slept: Option<Duration>,
) -> Response<http_body_util_full::Full> {
    let mut response = Response::new(http_body_util_full::Full::new(upstream.body));
    *response.status_mut() = upstream.status;
    *response.headers_mut() = upstream.headers;
    let timing = match slept {
        Some(d) => format!(
            "upstream;dur={upstream_ms:.1}, sleep;dur={:.1};desc=\"slept (turn {turn})\"",
            d.as_secs_f64() * 1000.0
        ),
        None => format!("upstream;dur={upstream_ms:.1}, sleep;dur=0;desc=\"awake (turn {turn})\""),
    };
    if let Ok(value) = HeaderValue::from_str(&timing) {
        response.headers_mut().append("server-timing", value);
    }
    response
}

fn plain(status: StatusCode, body: String) -> Response<http_body_util_full::Full> {
    let mut response = Response::new(http_body_util_full::Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The response body type: a complete buffer (`http_body_util::Full`, re-exported by spin-sdk).
mod http_body_util_full {
    pub type Full = spin_sdk::http::FullBody<bytes::Bytes>;
}
