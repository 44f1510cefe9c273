//! `rc-probe`: a guest built with spin-sdk 6, whose components import WASI 0.3's release
//! candidate (`@0.3.0-rc-2026-03-15`), as Spin 4's own template builds them. Each path is
//! one capability:
//!
//! - `/rc/fetch?url=U`: GETs U through outbound HTTP; answers its status and body, or `502`
//!   with the error code it got.
//! - `/rc/sleep?ms=N`: sleeps N ms (`wait-for` of the rc monotonic clock).
//! - `/rc/kv`: adds one to `rc-hits` in the store `default` (spin:key-value@3), answers it.
//! - `/rc/count`: how many requests this instance has served (instances are reused).
//! - any other path (and `/users/:id/files/...`): `rc-probe: <path>`, then the `spin-*`
//!   request headers, one per line, sorted.

use http_body_util::BodyExt;
use spin_sdk::http::{IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static SERVED: AtomicU64 = AtomicU64::new(0);

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    let query = request.uri().query().unwrap_or_default().to_string();
    match request.uri().path() {
        "/rc/fetch" => fetch(&param(&query, "url")).await,
        "/rc/sleep" => {
            let ms: u64 = param(&query, "ms").parse().unwrap_or(0);
            spin_sdk::time::sleep(Duration::from_millis(ms)).await;
            text(StatusCode::OK, format!("slept {ms} ms"))
        }
        "/rc/kv" => match count_hit().await {
            Ok(hits) => text(StatusCode::OK, format!("rc-hits={hits}")),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        "/rc/count" => text(StatusCode::OK, format!("served={served}")),
        path => text(
            StatusCode::OK,
            format!("rc-probe: {path}\n{}", spin_headers(&request)),
        ),
    }
}

async fn fetch(url: &str) -> Response<String> {
    let request = match spin_sdk::http::Request::get(url).body(String::new()) {
        Ok(request) => request,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("bad url {url}: {e}")),
    };
    let response = match spin_sdk::http::send(request).await {
        Ok(response) => response,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("GET {url}: {e:?}")),
    };
    let status = response.status();
    match response.into_body().collect().await {
        Ok(body) => text(
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        ),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("GET {url} body: {e:?}")),
    }
}

async fn count_hit() -> Result<u64, String> {
    let store = spin_sdk::key_value::Store::open("default")
        .await
        .map_err(|e| format!("open: {e:?}"))?;
    let hits: u64 = match store
        .get("rc-hits")
        .await
        .map_err(|e| format!("get: {e:?}"))?
    {
        Some(raw) => String::from_utf8_lossy(&raw).parse().unwrap_or(0),
        None => 0,
    };
    store
        .set("rc-hits", (hits + 1).to_string())
        .await
        .map_err(|e| format!("set: {e:?}"))?;
    Ok(hits + 1)
}

fn spin_headers(request: &Request) -> String {
    let mut lines: Vec<String> = request
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("spin-"))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.replace("%3A", ":").replace("%2F", "/"))
        .unwrap_or_default()
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
