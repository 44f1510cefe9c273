//! The request body as a guest reads it: bounded by `Limits::max_request_body`. A body that
//! declares a larger `content-length` is refused before any guest runs; one that turns out
//! larger while streaming ends with an error for the guest and trips a signal the router
//! turns into `413` (if the guest has not answered yet).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::watch;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// Whether a request's `content-length` is already over `limit`.
pub fn declared_too_large<B>(request: &http::Request<B>, limit: u64) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|length| length > limit)
}

/// Wraps `inner`, ending it with `HttpRequestBodySize` once more than `limit` bytes arrive.
pub struct LimitedBody<B> {
    inner: B,
    limit: u64,
    seen: u64,
    exceeded: watch::Sender<bool>,
}

impl<B> LimitedBody<B> {
    /// The body, and a receiver that turns true if the limit is exceeded.
    pub fn new(inner: B, limit: u64) -> (Self, watch::Receiver<bool>) {
        let (exceeded, receiver) = watch::channel(false);
        (
            Self {
                inner,
                limit,
                seen: 0,
                exceeded,
            },
            receiver,
        )
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes, Error = ErrorCode> + Unpin,
{
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let this = &mut *self;
        if *this.exceeded.borrow() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        let _ = this.exceeded.send(true);
                        return Poll::Ready(Some(Err(ErrorCode::HttpRequestBodySize(Some(
                            this.seen,
                        )))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
