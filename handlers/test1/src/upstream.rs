//! The call to test2: one `GET http://{test2_host}/test2` through Spin's outbound HTTP, with the
//! whole exchange (headers and body) bounded by the upstream timeout, so a slow test2 yields a
//! clean `504` rather than a half-written answer.

use crate::settings::Settings;
use bytes::Bytes;
use futures::future::{Either, select};
use http_body_util::{BodyExt, Limited};
use spin_sdk::http::{EmptyBody, HeaderMap, HeaderName, StatusCode};
use spin_sdk::wasip3::http::types::ErrorCode;
use std::fmt;
use std::pin::pin;
use std::time::Duration;

/// The largest upstream body test1 forwards; a larger one is a `502`, not an unbounded buffer.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// test2's answer, complete, with hop-by-hop headers already removed.
pub struct Upstream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub enum UpstreamError {
    BadUrl(String),
    Failed { url: String, code: ErrorCode },
    BodyTooLarge { url: String },
    TimedOut { url: String, after: Duration },
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(url) => write!(f, "test2 URL `{url}` is not valid (check test2_host)"),
            Self::Failed {
                url,
                code: ErrorCode::HttpRequestDenied,
            } => write!(
                f,
                "request to {url} denied: not in this component's allowed_outbound_hosts"
            ),
            Self::Failed { url, code } => write!(f, "test2 at {url} failed: {code}"),
            Self::BodyTooLarge { url } => write!(
                f,
                "test2 at {url} sent a body larger than {MAX_BODY_BYTES} bytes"
            ),
            Self::TimedOut { url, after } => write!(
                f,
                "test2 at {url} did not answer within {:.3}s (upstream_timeout_seconds)",
                after.as_secs_f64()
            ),
        }
    }
}

pub async fn fetch(settings: &Settings) -> Result<Upstream, UpstreamError> {
    let url = format!("http://{}/test2", settings.test2_host);
    let exchange = pin!(exchange(&url));
    let deadline = pin!(spin_sdk::time::sleep(settings.upstream_timeout));
    match select(exchange, deadline).await {
        Either::Left((result, _)) => result,
        Either::Right(((), _)) => Err(UpstreamError::TimedOut {
            url: url.clone(),
            after: settings.upstream_timeout,
        }),
    }
}

async fn exchange(url: &str) -> Result<Upstream, UpstreamError> {
    let request = spin_sdk::http::Request::get(url)
        .body(EmptyBody::new())
        .map_err(|_| UpstreamError::BadUrl(url.to_string()))?;
    let failed = |code| UpstreamError::Failed {
        url: url.to_string(),
        code,
    };
    let response = spin_sdk::http::send(request).await.map_err(failed)?;
    let (parts, body) = response.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => match e.downcast::<ErrorCode>() {
            Ok(code) => return Err(failed(*code)),
            Err(_) => {
                return Err(UpstreamError::BodyTooLarge {
                    url: url.to_string(),
                });
            }
        },
    };
    Ok(Upstream {
        status: parts.status,
        headers: end_to_end(parts.headers),
        body,
    })
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) concern one connection and are never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including any the `connection` header names.
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP.map(HeaderName::from_static)) {
        headers.remove(name);
    }
    headers
}
