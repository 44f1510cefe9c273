//! What the app's HTTP components share, so each of them says only what it does:
//! plain-text answers, the rule that they serve `GET` and `HEAD` only (a `HEAD` answer is a
//! `GET` answer without its body; other methods get `405` with `allow: GET, HEAD` and change
//! nothing), and the atomic counters they keep in the store `default` (`wasi:keyvalue`
//! atomics: exact under any concurrency, on any number of hosts sharing the store).

use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::{HeaderValue, Method, Request, Response, StatusCode};

/// The store the app keeps its counters in.
pub const STORE: &str = "default";

/// A `text/plain; charset=utf-8` answer.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<String> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `Ok` for `GET` and `HEAD`; otherwise the `405` to answer.
pub fn get_or_head_only(request: &Request) -> Result<(), Response<String>> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    response
        .headers_mut()
        .insert("allow", HeaderValue::from_static("GET, HEAD"));
    Err(response)
}

/// Adds `delta` to the counter `key` and returns its new value (`delta` 0 reads it).
pub fn increment(key: &str, delta: i64) -> Result<i64, String> {
    let bucket = open()?;
    atomics::increment(&bucket, key, delta).map_err(|e| format!("counter `{key}`: {e:?}"))
}

/// The store `default`.
pub fn open() -> Result<store::Bucket, String> {
    store::open(STORE).map_err(|e| format!("opening store `{STORE}`: {e:?}"))
}
