//! The HTTP front: hyper's accept loop, the connection limit (past it, new connections get a
//! `503` and are closed; accepted ones are never dropped for load), the time a client has to
//! send its headers (and, over TLS, to finish its handshake), and shutdown (stop accepting,
//! let open requests finish up to a deadline). Each connection speaks HTTP/1.1 or HTTP/2:
//! over TLS as ALPN chose, in plain text by what the client sends first (HTTP/2 with prior
//! knowledge, "h2c", as Spin accepts it).
//!
//! Concurrency model: one tokio task per connection; a request waits only on its own guest.
//! What happens to one request belongs to `router`; the guest side to `instances`.

use crate::router::{ResponseBody, Router, plain};
use crate::tls::Tls;
use http::{HeaderValue, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Accepts connections (over TLS with `tls`) until `shutdown` turns true, then lets open
/// connections finish for at most the router's `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<Tls>,
) {
    let graceful = GracefulShutdown::new();
    let limits = router.limits().clone();
    let builder = connection_builder(limits.header_read_timeout);
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
        let secure = tls.is_some();
        let service = hyper::service::service_fn(move |request| {
            let router = router.clone();
            async move { Ok::<_, Infallible>(router.route(request, client, local, secure).await) }
        });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let served =
                serve_accepted(stream, tls, handshake_timeout, &builder, watcher, service).await;
            if let Err(e) = served {
                tracing::debug!("connection from {client} ended: {e}");
            }
            drop(slot);
        });
    }
    // While open requests finish, new connections are still answered, but only to say
    // that the app is going away (health included), so a load balancer stops sending.
    let grace = limits.shutdown_grace;
    let draining = tokio::spawn(refuse_while_draining(listener, builder, tls));
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some requests did not finish within {grace:?}; dropping them");
    }
    draining.abort();
}

/// During a graceful shutdown: answers every request on a new connection `503` with
/// `connection: close` (`/.well-known/spin/health` too), until aborted.
async fn refuse_while_draining(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    tls: Option<Tls>,
) {
    let service = hyper::service::service_fn(|_request| async {
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: shutting down\n",
        );
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        Ok::<_, Infallible>(response)
    });
    let graceful = GracefulShutdown::new();
    while let Ok((stream, _)) = listener.accept().await {
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let _ = serve_accepted(
                stream,
                tls,
                HANDSHAKE_WHILE_DRAINING,
                &builder,
                watcher,
                service,
            )
            .await;
        });
    }
}

/// How long a client connecting during a shutdown has to finish a TLS handshake.
const HANDSHAKE_WHILE_DRAINING: Duration = Duration::from_secs(2);

/// Serves an accepted connection: over TLS (the handshake bounded by `handshake_timeout`)
/// when `tls` is given, else in plain text.
async fn serve_accepted<S>(
    stream: TcpStream,
    tls: Option<Tls>,
    handshake_timeout: Duration,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    service: S,
) -> Result<(), ConnectionError>
where
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<ResponseBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let Some(tls) = tls else {
        return serve_connection(builder, watcher, TokioIo::new(stream), service).await;
    };
    match tokio::time::timeout(handshake_timeout, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(builder, watcher, TokioIo::new(stream), service).await,
        Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
        Err(_) => Err("TLS handshake: timed out".into()),
    }
}

/// Largest request head (request line and headers) read, in bytes.
const MAX_HEADER_BYTES: usize = 64 * 1024;

type ConnectionError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one connection's requests, HTTP/1.1 or HTTP/2, until it ends or the server shuts
/// down gracefully.
async fn serve_connection<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    io: TokioIo<I>,
    service: S,
) -> Result<(), ConnectionError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<ResponseBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    watcher
        .watch(builder.serve_connection(io, service).into_owned())
        .await
}

/// HTTP/1.1 and HTTP/2 with the same limits on what a client may send.
fn connection_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Request line and headers must fit: larger ones get `431`.
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    builder
}

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
