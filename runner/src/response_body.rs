//! A response body bounded in time: past the request's wall-clock deadline
//! (`Limits::max_request_duration`, counted from the request's arrival) the body ends with an
//! error, so hyper cuts the connection instead of streaming a stuck guest's answer forever.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    pub struct Deadlined<B> {
        #[pin]
        inner: B,
        #[pin]
        timer: Sleep,
        limit: Duration,
    }
}

/// `body`, failing if it is not complete by `deadline`.
pub fn with_deadline<B>(body: B, deadline: Instant) -> Deadlined<B> {
    let limit = deadline.saturating_duration_since(Instant::now());
    Deadlined {
        inner: body,
        timer: tokio::time::sleep_until(deadline),
        limit,
    }
}

impl<B> Body for Deadlined<B>
where
    B: Body<Data = Bytes, Error = std::io::Error>,
{
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.timer.poll(cx) {
            Poll::Ready(()) => {
                tracing::warn!(
                    "response body not finished within the request deadline ({:?} left at the \
                     first byte); cutting the connection (--max-request-duration)",
                    this.limit
                );
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "response body past the request deadline",
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
