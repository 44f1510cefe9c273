//! `test2`: the seed's counter. Each request atomically increments the key `seq` in the
//! key-value store `default` (`wasi:keyvalue/atomics`, so concurrent requests and several
//! hosts sharing one store never lose an update), logs the new value, and answers `TEST2 {n}`.
//! `GET` and `HEAD` count (a `HEAD` answer is a `GET` answer without its body); other methods
//! get `405` and count nothing.

use handler_common::{get_or_head_only, increment, text};
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;

const COUNTER_KEY: &str = "seq";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    if let Err(refused) = get_or_head_only(&request) {
        return refused;
    }
    match increment(COUNTER_KEY, 1) {
        Ok(n) => {
            println!("{n}");
            text(StatusCode::OK, format!("TEST2 {n}"))
        }
        Err(reason) => {
            eprintln!("counter unavailable: {reason}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("counter unavailable: {reason}\n"),
            )
        }
    }
}
