//! One request, from hyper to a component and back: Spin's well-known endpoints
//! (`well_known`), Spin's route matching, the full URL and `spin-*` headers guests see, the
//! request body limit (`413`), the wall-clock deadline of the whole exchange, body included,
//! and the request log's line (`request_log`). Guest failures become a plain `500`; the
//! reason is in the runner's log, named by component.

use crate::complete_body::{Collected, collect_if_done};
use crate::host::outbound::DispatchError;
use crate::instances::{Components, MatchedRoute};
use crate::limits::Limits;
use crate::manifest::HttpRoute;
use crate::request_body::{LimitedBody, declared_too_large};
use crate::request_log::{self, Logged};
use crate::routes::best_match;
use crate::well_known::WellKnown;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Everything a connection task needs to route and run requests.
pub struct Router {
    routes: Vec<HttpRoute>,
    components: Arc<Components>,
    limits: Arc<Limits>,
    well_known: WellKnown,
}

impl Router {
    pub fn new(
        routes: Vec<HttpRoute>,
        components: Arc<Components>,
        limits: Arc<Limits>,
        well_known: WellKnown,
    ) -> Self {
        Self {
            routes,
            components,
            limits,
            well_known,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Answers one request (`secure`: it came over TLS): Spin's well-known endpoints first,
    /// then the app's routes; with the request log on, its line is written once the answer
    /// has been sent.
    pub async fn route(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
        secure: bool,
    ) -> Response<ResponseBody> {
        let started = Instant::now();
        let logged = request_log::enabled()
            .then(|| (request.method().clone(), request.uri().path().to_string()));
        let (response, component) = match self.well_known.answer(request.uri().path()) {
            Some(answer) => (answer, None),
            None => self.answer(request, client, local, secure, started).await,
        };
        match logged {
            None => response,
            Some((method, path)) => {
                let entry = request_log::Entry {
                    method,
                    path,
                    component: component.map(str::to_string),
                    status: response.status().as_u16(),
                    started,
                };
                response.map(|body| Logged::new(body, entry).boxed_unsync())
            }
        }
    }

    /// Runs a request through the component its route names; the answer, and the
    /// component if one was asked.
    async fn answer(
        &self,
        mut request: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
        secure: bool,
        started: Instant,
    ) -> (Response<ResponseBody>, Option<&str>) {
        let path = request.uri().path().to_string();
        let Some((index, matched)) = best_match(self.routes.iter().map(|r| &r.pattern), &path)
        else {
            return (plain(StatusCode::NOT_FOUND, "Not Found\n"), None);
        };
        let route = &self.routes[index];
        let component = Some(route.component.as_str());
        // Open until the guest's instance has the response under way (its own activity
        // counts from there), so waiting for an idle app also waits for queued requests.
        let _open = self.components.in_flight().enter();
        if declared_too_large(&request, self.limits.max_request_body) {
            return (too_large(self.limits.max_request_body), component);
        }
        match absolute_uri(&request, local, secure) {
            Some(uri) => *request.uri_mut() = uri,
            None => {
                let bad = plain(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: invalid Host header\n",
                );
                return (bad, component);
            }
        }
        let full_url = request.uri().to_string();
        crate::spin_headers::add(
            request.headers_mut(),
            &full_url,
            route.pattern.as_str(),
            &matched,
            client,
        );

        if crate::telemetry::enabled() {
            // The request's span is named by its route.
            request
                .extensions_mut()
                .insert(MatchedRoute(route.pattern.as_str().to_string()));
        }
        let (parts, body) = request.into_parts();
        let (body, mut exceeded) = LimitedBody::new(
            body.map_err(ErrorCode::from_hyper_request_error),
            self.limits.max_request_body,
        );
        let body = body.map_err(handler::ErrorCode::from).boxed_unsync();
        let request: handler::Request = Request::from_parts(parts, body);

        let deadline = tokio::time::Instant::from_std(started + self.limits.max_request_duration);
        let answer = self.components.handle(&route.component, request);
        let result = tokio::select! {
            result = answer => result,
            () = body_over_limit(&mut exceeded) => {
                return (too_large(self.limits.max_request_body), component);
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(DispatchError::Failed(e)) if crate::pooling::is_pool_full(&e) => {
                return (pool_full(), component);
            }
            Err(_) => {
                let failed = plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n");
                return (failed, component);
            }
        };
        let (mut parts, body) = response.into_parts();
        let body = body.map_err(|e| std::io::Error::other(format!("{e:#}")));
        let body = match collect_if_done(body).await {
            Collected::Done(whole)
                if !parts.headers.contains_key(http::header::TRANSFER_ENCODING) =>
            {
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(whole.len()));
                Full::new(whole)
                    .map_err(|e: Infallible| match e {})
                    .boxed_unsync()
            }
            Collected::Done(whole) => Full::new(whole)
                .map_err(|e: Infallible| match e {})
                .boxed_unsync(),
            Collected::Streaming(body) => {
                crate::response_body::with_deadline(body, deadline).boxed_unsync()
            }
        };
        (Response::from_parts(parts, body), component)
    }
}

/// Resolves once the body went over the limit; never, if it ended within it.
async fn body_over_limit(exceeded: &mut tokio::sync::watch::Receiver<bool>) {
    let over = exceeded.wait_for(|over| *over).await.is_ok();
    if !over {
        std::future::pending::<()>().await;
    }
}

/// Every instance slot of the pool is taken: the client may retry shortly.
fn pool_full() -> Response<ResponseBody> {
    let mut response = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable: every instance slot is in use; retry shortly\n",
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn too_large(limit: u64) -> Response<ResponseBody> {
    let mut response = plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload Too Large: the request body is over this server's limit\n",
    );
    if let Ok(value) = HeaderValue::from_str(&limit.to_string()) {
        response.headers_mut().insert("x-max-request-body", value);
    }
    // The rest of the body is not read: the connection cannot be reused.
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Guests see the full URL (`http://host/path?query`, `https://` over TLS), as under Spin;
/// the host is the `Host` header's, or HTTP/2's `:authority`.
fn absolute_uri(request: &Request<Incoming>, local: SocketAddr, secure: bool) -> Option<http::Uri> {
    let authority = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| local.to_string());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    http::Uri::builder()
        .scheme(if secure { "https" } else { "http" })
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .ok()
}
