//! `test2`: the seed's counter. Each request atomically increments the key `seq` in the
//! key-value store `default` (`wasi:keyvalue/atomics`, so concurrent requests and several
//! hosts sharing one store never lose an update), logs the new value, and answers `TEST2 {n}`.
//! `GET` and `HEAD` count (a `HEAD` answer is a `GET` answer without its body); other methods
//! get `405` and count nothing.
//!
//! It is the app's hot path, so it uses spin-sdk's `wasi:http` types directly: it needs only
//! the request's method, and converting every request into an `http::Request` (URL parsing,
//! a header map) and the answer back would cost more than the count itself.

use handler_common::raw::text;
use handler_common::{STORE, increment};
use spin_sdk::wasip3::exports::http::handler::Guest;
use spin_sdk::wasip3::http::types::{ErrorCode, Method, Request, Response};

const COUNTER_KEY: &str = "seq";

struct Test2;
spin_sdk::wasip3::http::service::export!(Test2);

impl Guest for Test2 {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        if !matches!(request.get_method(), Method::Get | Method::Head) {
            return text(
                405,
                "Method Not Allowed\n".into(),
                &[("allow", "GET, HEAD")],
            );
        }
        match increment(COUNTER_KEY, 1) {
            Ok(n) => {
                println!("{n}");
                text(200, format!("TEST2 {n}"), &[])
            }
            Err(reason) => {
                eprintln!("counter unavailable in store `{STORE}`: {reason}");
                text(500, format!("counter unavailable: {reason}\n"), &[])
            }
        }
    }
}
