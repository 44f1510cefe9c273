//! `perf-probe`: the parts of a `/test2` request, one route each, built the way test2 is
//! (spin-sdk's `wasi:http` types directly), so the benchmark can say what each part costs
//! (`bench/`'s breakdown rows):
//!
//! - `/trivial`: answers `ok` (the HTTP path alone).
//! - `/print`: prints a line to stdout, answers `ok` (test2 logs every value).
//! - `/open`: opens the store `default`, answers `ok`.
//! - `/increment`: opens `default` and increments `n` in it (`wasi:keyvalue/atomics`, as test2
//!   does), answers `n`. Pointed at an in-memory store (`--state-dir ""`), it shows the
//!   boundary's cost without the disk.
//!
//! Its neighbour `perf-probe-sdk` answers `/sdk/trivial` through spin-sdk's `http` types, to
//! show what those conversions cost.

use handler_common::raw::text;
use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::wasip3::exports::http::handler::Guest;
use spin_sdk::wasip3::http::types::{ErrorCode, Request, Response};

struct Probe;
spin_sdk::wasip3::http::service::export!(Probe);

impl Guest for Probe {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let answer = match path.as_str() {
            "/trivial" => Ok("ok".to_string()),
            "/print" => {
                println!("a line, as test2 logs its value");
                Ok("ok".to_string())
            }
            "/open" => store::open("default")
                .map(|_| "ok".to_string())
                .map_err(|e| format!("{e:?}")),
            "/increment" => store::open("default")
                .and_then(|bucket| atomics::increment(&bucket, "n", 1))
                .map(|n| n.to_string())
                .map_err(|e| format!("{e:?}")),
            _ => return text(404, "no such probe".into(), &[]),
        };
        match answer {
            Ok(body) => text(200, body, &[]),
            Err(reason) => text(500, reason, &[]),
        }
    }
}
