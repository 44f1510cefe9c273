//! `test2`: the seed's counter. Each request atomically increments the key `seq` in the
//! key-value store `default` (`wasi:keyvalue/atomics`, so concurrent requests and several
//! hosts sharing one store never lose an update), logs the new value, and answers `TEST2 {n}`.
//! `GET` and `HEAD` count (a `HEAD` answer is a `GET` answer without its body); other methods
//! get `405` and count nothing.

use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::{HeaderValue, IntoResponse, Method, Request, Response, StatusCode};
use spin_sdk::http_service;

const STORE: &str = "default";
const COUNTER_KEY: &str = "seq";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n".into(),
        );
        response
            .headers_mut()
            .insert("allow", HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match next_value() {
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

/// Increments the shared counter and returns its new value.
fn next_value() -> Result<i64, String> {
    let bucket = store::open(STORE).map_err(|e| format!("opening store `{STORE}`: {e:?}"))?;
    atomics::increment(&bucket, COUNTER_KEY, 1)
        .map_err(|e| format!("incrementing `{COUNTER_KEY}`: {e:?}"))
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
