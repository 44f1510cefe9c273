//! Guest stdout and stderr, written to the runner's own stdout/stderr one line at a time,
//! each line prefixed with the component id (`[test2] 42`), so interleaved output from many
//! concurrent requests stays readable.

use bytes::Bytes;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone, Copy)]
pub enum Output {
    Stdout,
    Stderr,
}

/// A guest output stream; clones share the partial line not yet terminated.
#[derive(Clone)]
pub struct GuestLog {
    prefix: Arc<str>,
    output: Output,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestLog {
    pub fn new(component: &str, output: Output) -> Self {
        Self {
            prefix: format!("[{component}] ").into(),
            output,
            pending: Arc::default(),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(bytes);
        // A guest that never ends a line must not grow the buffer without bound.
        let cut = match pending.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if pending.len() > 64 * 1024 => pending.len(),
            None => return,
        };
        let complete: Vec<u8> = pending.drain(..cut).collect();
        drop(pending);
        let mut text = Vec::with_capacity(complete.len() + 16);
        for line in complete.split_inclusive(|b| *b == b'\n') {
            text.extend_from_slice(self.prefix.as_bytes());
            text.extend_from_slice(line);
        }
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        // Logging must never fail a request: a closed stdout is ignored.
        let _ = match self.output {
            Output::Stdout => std::io::stdout().lock().write_all(&text),
            Output::Stderr => std::io::stderr().lock().write_all(&text),
        };
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// Written directly, without wasmtime's default adapter (a task and a channel per stream):
    /// a write never blocks for long, so it is done on the spot.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1024 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestLog {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
