//! The HTTP front: hyper's accept loop, the connection limit (past it, new connections get a
//! `503` and are closed; accepted ones are never dropped for load), the time a client has to
//! send its headers, and shutdown (stop accepting, let open requests finish up to a deadline).
//!
//! Concurrency model: one tokio task per connection; a request waits only on its own guest.
//! What happens to one request belongs to `router`; the guest side to `instances`.

use crate::router::{ResponseBody, Router, plain};
use http::{HeaderValue, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Accepts connections until `shutdown` turns true, then lets open connections finish
/// for at most the router's `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let limits = router.limits().clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_overloaded(
                stream,
                limits.max_connections,
                limits.header_read_timeout,
            ));
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| {
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.route(request, client, local).await) }
        });
        let connection = http1_builder(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection from {client} ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    let grace = limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some requests did not finish within {grace:?}; dropping them");
    }
}

/// Largest request head (request line and headers) read, in bytes.
const MAX_HEADER_BYTES: usize = 64 * 1024;

fn http1_builder(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Request line and headers must fit: larger ones get `431`.
        .max_buf_size(MAX_HEADER_BYTES);
    builder
}

/// Answers the connection's first request with `503` and closes it (reading the request
/// first, so the client is not reset before it sees the answer).
async fn refuse_overloaded(
    stream: TcpStream,
    max_connections: usize,
    header_read_timeout: Duration,
) {
    tracing::warn!("refusing a connection: {max_connections} connections open (--max-connections)");
    let service = hyper::service::service_fn(|_request| async {
        let mut response: http::Response<ResponseBody> = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: too many open connections, try again shortly\n",
        );
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        Ok::<_, Infallible>(response)
    });
    let mut builder = http1_builder(header_read_timeout.min(Duration::from_secs(2)));
    builder.keep_alive(false);
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
