//! `demo`: the page at `/` that shows the seed's effect without opening tabs by hand. The
//! page is embedded in the component (no CDN, no other origin) and does its work in the
//! browser: it fires several `/test1` requests at once and draws each one's timeline.

use spin_sdk::http::{HeaderValue, IntoResponse, Method, Request, Response, StatusCode};
use spin_sdk::http_service;

const PAGE: &str = include_str!("page.html");

/// Only this origin's scripts, styles and requests; inline code is the page's own.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let (status, body) = match *request.method() {
        Method::GET | Method::HEAD => (StatusCode::OK, PAGE.to_string()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed\n".to_string(),
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = if status == StatusCode::OK {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert("allow", HeaderValue::from_static("GET, HEAD"));
    }
    response
}
