//! The HTTP front: hyper's accept loop, routing a request to a component by Spin's rules,
//! the headers Spin adds for guests, and shutdown (stop accepting, let open requests finish
//! up to a deadline).
//!
//! Concurrency model: one tokio task per connection; a request waits only on its own guest.
//! The guest side (instances, their reuse and concurrency) belongs to `instances`.

use crate::instances::Components;
use crate::manifest::HttpRoute;
use crate::routes::{RouteMatch, best_match};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Everything a connection task needs to route and run requests.
pub struct Router {
    routes: Vec<HttpRoute>,
    components: Arc<Components>,
}

impl Router {
    pub fn new(routes: Vec<HttpRoute>, components: Arc<Components>) -> Self {
        Self { routes, components }
    }

    async fn route(
        &self,
        mut request: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Response<ResponseBody> {
        let path = request.uri().path().to_string();
        let Some((index, matched)) = best_match(self.routes.iter().map(|r| &r.pattern), &path)
        else {
            return plain(StatusCode::NOT_FOUND, "Not Found\n");
        };
        let route = &self.routes[index];
        let Some(handler) = self.components.handler(&route.component) else {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "route names an unknown component\n",
            );
        };
        match absolute_uri(&request, local) {
            Some(uri) => *request.uri_mut() = uri,
            None => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: invalid Host header\n",
                );
            }
        }
        add_spin_headers(&mut request, route, &matched, client);
        let request: handler::Request = request.map(|body| {
            body.map_err(ErrorCode::from_hyper_request_error)
                .map_err(handler::ErrorCode::from)
                .boxed_unsync()
        });
        match self
            .components
            .handle(&route.component, handler, request)
            .await
        {
            Ok(response) => response.map(|body| {
                body.map_err(|e| std::io::Error::other(format!("{e:#}")))
                    .boxed_unsync()
            }),
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n"),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
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

/// Guests see the full URL (`http://host/path?query`), as under Spin.
fn absolute_uri(request: &Request<Incoming>, local: SocketAddr) -> Option<http::Uri> {
    let authority = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| local.to_string());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    http::Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .ok()
}

/// The `spin-*` request headers Spin gives HTTP components.
fn add_spin_headers(
    request: &mut Request<Incoming>,
    route: &HttpRoute,
    matched: &RouteMatch,
    client: SocketAddr,
) {
    let full_url = request.uri().to_string();
    let raw_route = route.pattern.as_str().to_string();
    let component_route = raw_route.trim_end_matches("/...").to_string();
    let headers = [
        ("spin-full-url", full_url),
        ("spin-path-info", matched.path_info.clone()),
        ("spin-matched-route", raw_route.clone()),
        ("spin-raw-component-route", raw_route),
        ("spin-component-route", component_route),
        ("spin-base-path", "/".to_string()),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            request.headers_mut().insert(name, value);
        }
    }
}

/// Accepts connections until `shutdown` turns true, then lets open connections finish
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    loop {
        let (stream, client) = tokio::select! {
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| {
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.route(request, client, local).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection from {client} ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some requests did not finish within {grace:?}; dropping them");
    }
}
