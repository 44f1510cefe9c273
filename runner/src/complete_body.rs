//! A response whose body the guest has already finished by the time its headers arrive goes
//! out in one piece, with `content-length`: one write instead of a chunked head, chunk and
//! terminator. A body still being produced (test1's sleeping answer, any stream) is never
//! waited for: its headers go out at once and the body follows as it comes.
//!
//! "Already finished" is judged without waiting: the body is polled, and after a pending poll
//! the task yields to the runtime a couple of times (so a guest that writes its body right
//! after returning its response gets to run) before giving up.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Bodies larger than this are streamed even when complete.
const MAX_COLLECTED: usize = 64 * 1024;
/// Yields to the runtime after a pending poll before the body counts as still in progress.
const PATIENCE: usize = 2;

/// What `collect_if_done` found.
pub enum Collected<B: Body> {
    /// The whole body.
    Done(Bytes),
    /// Still in progress (or large, or with trailers): what was read so far, then the rest.
    Streaming(Replay<B>),
}

/// Reads `body` while it is ready, without waiting for it.
pub async fn collect_if_done<B>(mut body: B) -> Collected<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut read: VecDeque<Result<Frame<Bytes>, B::Error>> = VecDeque::new();
    let mut size = 0usize;
    let mut patience = PATIENCE;
    loop {
        let next = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending => Poll::Ready(None),
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
        })
        .await;
        match next {
            // Not ready: give the guest a moment, a bounded number of times.
            None if patience > 0 => {
                patience -= 1;
                tokio::task::yield_now().await;
            }
            None => break,
            Some(None) => {
                let mut whole = BytesMut::with_capacity(size);
                for frame in read {
                    if let Ok(data) = frame.map(Frame::into_data) {
                        whole.extend_from_slice(&data.unwrap_or_default());
                    }
                }
                return Collected::Done(whole.freeze());
            }
            Some(Some(Ok(frame))) if frame.is_data() => {
                size += frame.data_ref().map_or(0, Bytes::len);
                read.push_back(Ok(frame));
                if size > MAX_COLLECTED {
                    break;
                }
            }
            // Trailers or an error: hand everything over as it came.
            Some(Some(other)) => {
                read.push_back(other);
                break;
            }
        }
    }
    Collected::Streaming(Replay { read, rest: body })
}

/// The frames already read, then the rest of the body.
pub struct Replay<B: Body> {
    read: VecDeque<Result<Frame<Bytes>, B::Error>>,
    rest: B,
}

// The frames are never pinned (only `rest` is polled, through `Pin::new`).
impl<B: Body + Unpin> Unpin for Replay<B> {}

impl<B> Body for Replay<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.read.pop_front() {
            return Poll::Ready(Some(frame));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn a_finished_body_is_collected_whole() {
        let body = Full::new(Bytes::from_static(b"TEST2 7"));
        match collect_if_done(body).await {
            Collected::Done(bytes) => assert_eq!(&bytes[..], b"TEST2 7"),
            Collected::Streaming(_) => panic!("a full body is done"),
        }
    }

    #[tokio::test]
    async fn a_body_in_progress_is_not_waited_for_and_loses_nothing() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, String>>(4);
        sender
            .send(Ok(Frame::data(Bytes::from_static(b"first "))))
            .await
            .unwrap();
        let body = StreamBody::new(tokio_stream_from(receiver));
        let started = std::time::Instant::now();
        let Collected::Streaming(rest) = collect_if_done(body).await else {
            panic!("the body is still open");
        };
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            sender
                .send(Ok(Frame::data(Bytes::from_static(b"second"))))
                .await
                .unwrap();
        });
        let all = rest.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"first second");
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut receiver: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Unpin {
        Box::pin(futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)))
    }
}
