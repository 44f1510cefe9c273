//! A 0.2 guest's outgoing request body that the HTTP client stops reading early is read to
//! its end in the background, so the guest's own writes to it never fail for that.
//!
//! A `wasi:http@0.2` guest writes its request body into a stream whose other end is the body
//! handed to the client. The client may drop that end before the guest is done with it: with
//! `content-length: 0` it sends the head and never polls the body, and it drops the body of a
//! request whose answer came first. The guest's next `check-write` or `flush` then reports the
//! stream closed, and SDKs that write an empty body after sending the request (the Python
//! SDK's `send`) turn that into a failed request although the upstream answered. How often
//! depends on thread timing: a few requests in a thousand on a loaded 2-core machine. The
//! guest decides when its body ends, so the unread rest is discarded here, and the drain ends
//! when the guest finishes the body, drops it, or its instance goes away.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// `body`, read to its end after whoever holds it stops reading.
pub fn drain_unread(body: HyperOutgoingBody) -> HyperOutgoingBody {
    DrainUnread {
        inner: Some(body),
        ended: false,
    }
    .boxed_unsync()
}

struct DrainUnread {
    /// `None` only once dropped.
    inner: Option<HyperOutgoingBody>,
    /// The inner body has yielded its last frame or an error: nothing is left to drain.
    ended: bool,
}

impl Body for DrainUnread {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for DrainUnread {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if self.ended || body.is_end_stream() {
            return;
        }
        // Without a runtime (a body dropped at shutdown) the guest is going away too.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while let Some(Ok(_)) = body.frame().await {} });
        }
    }
}
