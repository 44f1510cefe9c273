//! `fileserver`: a static file server, in the manner of Spin's own file server component.
//! The host mounts the app's files read-only at the guest path `/`, and each request is
//! answered from them with plain `std::fs`:
//!
//! - The path served is the `spin-path-info` header (the request's URI path if that is empty
//!   or absent), not percent-decoded. `/`, an empty path, or a directory serves its
//!   `index.html`.
//! - `GET` and `HEAD` (the same answer, without a body) are served; other methods get `405`
//!   with `allow: GET, HEAD`.
//! - A file is answered `200` with a `content-type` from its extension, `cache-control:
//!   max-age=60` and an `etag` (the quoted hex SHA-256 of the body); `304` with the same
//!   `etag` and `cache-control` when `if-none-match` names that tag (or is `*`).
//! - A file that does not exist, or a path the host refuses because it leads outside the
//!   mounted tree (`..`), is `404 Not Found`; any other I/O error is `500`.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use spin_sdk::http::{HeaderMap, HeaderValue, IntoResponse, Method, Request, Response, StatusCode};
use spin_sdk::http_service;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

type FullBody = spin_sdk::http::FullBody<Bytes>;

const CACHE_CONTROL: &str = "max-age=60";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return method_not_allowed(),
    };
    let path = requested_path(&request);
    let response = match read_file(&path) {
        Ok((file, body)) => found(&file, body, request.headers()),
        Err(error) => failed(&path, &error),
    };
    if head {
        response.map(|_| FullBody::default())
    } else {
        response
    }
}

/// The `spin-path-info` header, or the URI path when that header is empty or absent.
fn requested_path(request: &Request) -> String {
    request
        .headers()
        .get("spin-path-info")
        .and_then(|value| value.to_str().ok())
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| request.uri().path())
        .to_string()
}

/// Reads the file `path` names under the mount at `/` (a directory's `index.html`).
fn read_file(path: &str) -> io::Result<(PathBuf, Vec<u8>)> {
    let mut file = Path::new("/").join(path.trim_start_matches('/'));
    if std::fs::metadata(&file)?.is_dir() {
        file.push("index.html");
    }
    let body = std::fs::read(&file)?;
    Ok((file, body))
}

fn found(file: &Path, body: Vec<u8>, request_headers: &HeaderMap) -> Response<FullBody> {
    let etag = format!("\"{:x}\"", Sha256::digest(&body));
    let fresh = matches_etag(request_headers, &etag);
    let etag = HeaderValue::from_str(&etag).expect("a quoted hex digest is a valid header");
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, FullBody::default())
    } else {
        (StatusCode::OK, FullBody::from(body))
    };
    let mut response = respond(status, body);
    let headers = response.headers_mut();
    if !fresh {
        headers.insert("content-type", HeaderValue::from_static(content_type(file)));
    }
    headers.insert("cache-control", HeaderValue::from_static(CACHE_CONTROL));
    headers.insert("etag", etag);
    response
}

/// Whether `if-none-match` is `*` or lists `etag` (quoted or bare, weak or strong).
fn matches_etag(request_headers: &HeaderMap, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    request_headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == bare)
}

fn content_type(file: &Path) -> &'static str {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn failed(path: &str, error: &io::Error) -> Response<FullBody> {
    if is_not_found(error) {
        text(StatusCode::NOT_FOUND, "Not Found")
    } else {
        eprintln!("fileserver: {path}: {error}");
        text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

/// Missing files, and paths the host refuses (`not-permitted`) for leaving the mounted tree.
fn is_not_found(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
        || matches!(error.raw_os_error(), Some(libc::EPERM | libc::ENOTCAPABLE))
}

fn method_not_allowed() -> Response<FullBody> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    let allow = HeaderValue::from_static("GET, HEAD");
    response.headers_mut().insert("allow", allow);
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<FullBody> {
    let mut response = respond(status, FullBody::from(body));
    let plain = HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert("content-type", plain);
    response
}

fn respond(status: StatusCode, body: FullBody) -> Response<FullBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
