//! `test1`: the seed's non-blocking sleeper. It calls test2 through outbound HTTP, then takes
//! its turn from the shared toggle (an atomic increment of `turn` in the store `default`):
//! every even turn sleeps `sleep_seconds` without holding a thread. It answers with test2's
//! status, end-to-end headers and body, plus a `server-timing` header telling whether it slept.
//!
//! `GET` and `HEAD` are served (a `HEAD` answer is a `GET` answer without its body, so it
//! also calls test2 and takes a turn); other methods get `405` and touch nothing.
//!
//! Failures answer at once with one plain-text line: `502` when test2 cannot be reached,
//! refuses the request or breaks off, `504` when it takes longer than `upstream_timeout_seconds`.
//!
//! Once the turn is taken the answer cannot fail, so its status and headers go out at once and
//! a sleeping turn holds back only the body: the answer is complete after the sleep, as in the
//! seed. Sending headers early matters for the seed's "open several tabs" demo: a browser holds
//! a second request for the same URL until the first one's headers arrive (its cache lock), so
//! headers held for 20 s would queue the tabs behind each other.

mod settings;
mod upstream;

use bytes::Bytes;
use futures::SinkExt;
use handler_common::{get_or_head_only, increment, text};
use settings::Settings;
use spin_sdk::http::{
    BoxBody, FullBody, HeaderValue, IntoResponse, Request, Response, StatusCode, box_body,
};
use spin_sdk::http_service;
use std::time::{Duration, Instant};
use upstream::{Upstream, UpstreamError};

const TURN_KEY: &str = "turn";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    if let Err(refused) = get_or_head_only(&request) {
        return refused.map(boxed);
    }
    match respond().await {
        Ok(response) => response,
        Err((status, reason)) => {
            eprintln!("{status}: {reason}");
            plain(status, format!("{reason}\n"))
        }
    }
}

async fn respond() -> Result<Response<BoxBody>, (StatusCode, String)> {
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
    let sleep = (turn % 2 == 0).then_some(settings.sleep);
    Ok(forward(upstream, upstream_ms, turn, sleep))
}

/// Atomically takes the next turn of the sleep toggle; turns start at 1.
fn take_turn() -> Result<i64, String> {
    increment(TURN_KEY, 1).map_err(|e| format!("taking a turn: {e}"))
}

/// Builds test1's answer from test2's: same status, end-to-end headers and body bytes. With
/// `sleep`, the body follows after sleeping (without holding a thread).
fn forward(
    upstream: Upstream,
    upstream_ms: f64,
    turn: i64,
    sleep: Option<Duration>,
) -> Response<BoxBody> {
    let timing = match sleep {
        Some(d) => format!(
            "upstream;dur={upstream_ms:.1}, sleep;dur={:.1};desc=\"slept (turn {turn})\"",
            d.as_secs_f64() * 1000.0
        ),
        None => format!("upstream;dur={upstream_ms:.1}, sleep;dur=0;desc=\"awake (turn {turn})\""),
    };
    let body = match sleep {
        None => box_body(FullBody::new(upstream.body)),
        Some(duration) => {
            let (mut sender, body) = spin_sdk::http::body::stream::<Bytes>();
            let bytes = upstream.body;
            spin_sdk::wasip3::spawn(async move {
                spin_sdk::time::sleep(duration).await;
                // The client may have gone away meanwhile; then there is no one to tell.
                let _ = sender.send(bytes).await;
            });
            box_body(body)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = upstream.status;
    *response.headers_mut() = upstream.headers;
    if let Ok(value) = HeaderValue::from_str(&timing) {
        response.headers_mut().append("server-timing", value);
    }
    response
}

fn plain(status: StatusCode, body: String) -> Response<BoxBody> {
    text(status, body).map(boxed)
}

fn boxed(body: String) -> BoxBody {
    box_body(FullBody::new(Bytes::from(body)))
}
