//! `demo`: the page at `/` that shows the seed's effect without opening tabs by hand. The
//! page is embedded in the component (no CDN, no other origin) and does its work in the
//! browser: it fires several `/test1` requests at once and draws each one's timeline.

use handler_common::get_or_head_only;
use spin_sdk::http::{HeaderValue, IntoResponse, Request, Response};
use spin_sdk::http_service;

const PAGE: &str = include_str!("page.html");

/// Only this origin's scripts, styles and requests; inline code is the page's own.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let mut response = match get_or_head_only(&request) {
        Ok(()) => {
            let mut page = Response::new(PAGE.to_string());
            page.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            page
        }
        Err(refused) => refused,
    };
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}
