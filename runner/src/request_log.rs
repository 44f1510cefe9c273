//! The request log: one line per request, through `tracing` at `info` under the target
//! `runner::request` (off unless `RUST_LOG` asks for it, `RUST_LOG=info` for one): method,
//! path (never the query string, which may carry secrets, nor any header value), status,
//! component (`-` when none ran), bytes of body sent and duration, written once the answer's
//! body has been sent (or the client went away).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// The target the lines go to.
pub const TARGET: &str = "runner::request";

/// Whether the request log is on (checked per request, so turning it off costs nothing).
pub fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// What one line says, but for the bytes sent.
pub struct Entry {
    pub method: http::Method,
    pub path: String,
    pub component: Option<String>,
    pub status: u16,
    pub started: Instant,
}

pin_project! {
    /// A response body that writes its request's log line when it ends or is dropped.
    pub struct Logged<B> {
        #[pin]
        inner: B,
        entry: Option<Entry>,
        sent: u64,
    }

    impl<B> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(entry) = this.entry.take() {
                write(&entry, *this.sent);
            }
        }
    }
}

impl<B> Logged<B> {
    pub fn new(inner: B, entry: Entry) -> Self {
        Self {
            inner,
            entry: Some(entry),
            sent: 0,
        }
    }
}

fn write(entry: &Entry, sent: u64) {
    tracing::info!(
        target: TARGET,
        method = %entry.method,
        path = %entry.path,
        status = entry.status,
        component = entry.component.as_deref().unwrap_or("-"),
        bytes = sent,
        duration_ms = entry.started.elapsed().as_secs_f64() * 1000.0,
        "{} {} {}",
        entry.method,
        entry.path,
        entry.status
    );
}

impl<B: Body<Data = Bytes>> Body for Logged<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(entry) = this.entry.take() {
                    write(&entry, *this.sent);
                }
            }
            Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
