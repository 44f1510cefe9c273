//! `perf-probe-sdk`: `/sdk/trivial` answers `ok` through spin-sdk's `#[http_service]` and its
//! `http` types, for the benchmark's breakdown beside `perf-probe`'s `/trivial`, which answers
//! the same through the `wasi:http` types directly.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(_request: Request) -> impl IntoResponse {
    "ok"
}
