//! What the app's HTTP components share, so each of them says only what it does:
//! plain-text answers, the rule that they serve `GET` and `HEAD` only (a `HEAD` answer is a
//! `GET` answer without its body; other methods get `405` with `allow: GET, HEAD` and change
//! nothing), and the atomic counters they keep in the store `default` (`wasi:keyvalue`
//! atomics: exact under any concurrency, on any number of hosts sharing the store).
//!
//! `raw` builds answers from spin-sdk's `wasi:http` types directly, for handlers on a hot path
//! that do not need the request converted into an `http::Request`.

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

/// Answers built from spin-sdk's `wasi:http` types, without `http` conversions.
pub mod raw {
    use spin_sdk::wasip3::http::types::{ErrorCode, Fields, Response};
    use spin_sdk::wasip3::{wit_future, wit_stream};

    /// A `text/plain; charset=utf-8` answer with `status`, `body` and `extra` headers.
    pub fn text(status: u16, body: String, extra: &[(&str, &str)]) -> Result<Response, ErrorCode> {
        let headers: Vec<(String, Vec<u8>)> =
            std::iter::once(("content-type", "text/plain; charset=utf-8"))
                .chain(extra.iter().copied())
                .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
                .collect();
        let headers = Fields::from_list(&headers)
            .map_err(|e| ErrorCode::InternalError(Some(format!("headers: {e:?}"))))?;
        let (mut body_writer, contents) = wit_stream::new();
        let (trailers_writer, trailers) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(contents), trailers);
        response
            .set_status_code(status)
            .map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
        spin_sdk::wasip3::spawn(async move {
            // The client may be gone; then there is no one to tell.
            let _ = body_writer.write_all(body.into_bytes()).await;
            drop(body_writer);
            let _ = trailers_writer.write(Ok(None)).await;
        });
        Ok(response)
    }
}
