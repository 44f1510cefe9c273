//! A component's output: its guests' stdout and stderr, and the runner's own lines about it
//! (a trap, a limit passed, a call denied).
//!
//! Guest output is written to the runner's own stdout/stderr one line at a time, each line
//! prefixed with the component id (`[test2] 42`), so interleaved output from many concurrent
//! requests stays readable. The runner's lines go through `tracing`, with the component as a
//! field.
//!
//! An app under test (`runner::testing`) also has a `Capture`: every line of both kinds is
//! kept, in order, per component, for the test to read; guest lines are then printed with
//! `print!`/`eprint!`, which the test harness captures (shown for a failing test, or with
//! `--nocapture`).
//!
//! With `--log-dir DIR`, guest output also goes to `DIR/<component>_stdout.txt` and
//! `_stderr.txt` (appended, as Spin writes them). A write that fails (a full disk) never fails
//! the guest: it is counted, and reported once per file, with the count when it stops.

use bytes::Bytes;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone, Copy)]
pub enum Output {
    Stdout,
    Stderr,
}

/// Where a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// The guest wrote it to stdout.
    Stdout,
    /// The guest wrote it to stderr.
    Stderr,
    /// The runner said it about the component (a trap, a limit, a denied call, a failed job).
    Runner,
}

/// One line a component's output held, without its line ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Who wrote it.
    pub source: LogSource,
    /// The line, without its ending.
    pub text: String,
}

/// Every line of an app's components, in the order they were written.
#[derive(Default)]
pub struct Capture {
    lines: Mutex<Vec<(Arc<str>, LogLine)>>,
    /// Whether guest lines are also printed (through the test harness's capture).
    quiet: bool,
}

impl Capture {
    pub fn new(quiet: bool) -> Arc<Self> {
        Arc::new(Self {
            lines: Mutex::default(),
            quiet,
        })
    }

    fn push(&self, component: &Arc<str>, source: LogSource, text: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.push((component.clone(), LogLine { source, text }));
    }

    /// The lines of `component` so far (`None`: of every component, each text prefixed with
    /// `[component] `).
    pub fn lines(&self, component: Option<&str>) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter(|(of, _)| component.is_none_or(|c| **of == *c))
            .map(|(of, line)| match component {
                Some(_) => line.clone(),
                None => LogLine {
                    source: line.source,
                    text: format!("[{of}] {}", line.text),
                },
            })
            .collect()
    }
}

/// A component's `--log-dir` files.
pub struct LogFiles {
    stdout: LogFile,
    stderr: LogFile,
}

struct LogFile {
    path: std::path::PathBuf,
    file: Mutex<std::fs::File>,
    failed_writes: AtomicU64,
}

impl LogFiles {
    /// Opens (creating `dir` and the files if needed, appending) `component`'s files.
    pub fn open(dir: &Path, component: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let open = |stream: &str| -> std::io::Result<LogFile> {
            let path = dir.join(format!("{component}_{stream}.txt"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            Ok(LogFile {
                path,
                file: Mutex::new(file),
                failed_writes: AtomicU64::new(0),
            })
        };
        Ok(Self {
            stdout: open("stdout")?,
            stderr: open("stderr")?,
        })
    }

    fn file(&self, output: Output) -> &LogFile {
        match output {
            Output::Stdout => &self.stdout,
            Output::Stderr => &self.stderr,
        }
    }
}

impl LogFile {
    fn write(&self, bytes: &[u8]) {
        let written = self
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(bytes);
        if let Err(e) = written
            && self.failed_writes.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::error!(
                "cannot write {} ({e}); guest output goes on to the console only, failed \
                 writes are counted",
                self.path.display()
            );
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let failed = self.failed_writes.load(Ordering::Relaxed);
        if failed > 0 {
            tracing::warn!("{failed} write(s) to {} failed", self.path.display());
        }
    }
}

/// One component's log: where its guests write and where the runner's lines about it go.
#[derive(Clone)]
pub struct ComponentLog {
    component: Arc<str>,
    capture: Option<Arc<Capture>>,
    files: Option<Arc<LogFiles>>,
}

impl ComponentLog {
    pub fn new(component: Arc<str>, capture: Option<Arc<Capture>>) -> Self {
        Self {
            component,
            capture,
            files: None,
        }
    }

    /// Also writes guest output to `files`.
    pub fn with_files(mut self, files: LogFiles) -> Self {
        self.files = Some(Arc::new(files));
        self
    }

    pub fn component(&self) -> &str {
        &self.component
    }

    /// A stream for an instance's stdout or stderr.
    pub fn guest(&self, output: Output) -> GuestLog {
        GuestLog {
            log: self.clone(),
            prefix: format!("[{}] ", self.component).into(),
            output,
            pending: Arc::default(),
        }
    }

    /// A line in this component's stderr, written by the host for the guest (its
    /// OpenTelemetry log records).
    pub fn guest_line(&self, text: &str) {
        self.guest(Output::Stderr)
            .write_bytes(format!("{text}\n").as_bytes());
    }

    /// A warning from the runner about this component.
    pub fn warn(&self, message: fmt::Arguments<'_>) {
        tracing::warn!(component = &*self.component, "{message}");
        self.capture_runner_line(message);
    }

    /// An error from the runner about this component.
    pub fn error(&self, message: fmt::Arguments<'_>) {
        tracing::error!(component = &*self.component, "{message}");
        self.capture_runner_line(message);
    }

    fn capture_runner_line(&self, message: fmt::Arguments<'_>) {
        if let Some(capture) = &self.capture {
            capture.push(&self.component, LogSource::Runner, message.to_string());
            if !capture.quiet {
                eprintln!("[runner] {}: {message}", self.component);
            }
        }
    }
}

/// A guest output stream; clones share the partial line not yet terminated.
#[derive(Clone)]
pub struct GuestLog {
    log: ComponentLog,
    prefix: Arc<str>,
    output: Output,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestLog {
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
        if let Some(files) = &self.log.files {
            files.file(self.output).write(&complete);
        }
        let mut text = Vec::with_capacity(complete.len() + 16);
        for line in complete.split_inclusive(|b| *b == b'\n') {
            text.extend_from_slice(self.prefix.as_bytes());
            text.extend_from_slice(line);
        }
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        match &self.log.capture {
            None => {
                // Logging must never fail a request: a closed stdout is ignored.
                let _ = match self.output {
                    Output::Stdout => std::io::stdout().lock().write_all(&text),
                    Output::Stderr => std::io::stderr().lock().write_all(&text),
                };
            }
            Some(capture) => self.capture(capture, &complete, &text),
        }
    }

    /// Keeps each line for the test and prints it where the test harness captures output.
    fn capture(&self, capture: &Capture, complete: &[u8], printed: &[u8]) {
        let source = match self.output {
            Output::Stdout => LogSource::Stdout,
            Output::Stderr => LogSource::Stderr,
        };
        for line in complete.split_inclusive(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = String::from_utf8_lossy(line).into_owned();
            capture.push(&self.log.component, source, text);
        }
        if !capture.quiet {
            let printed = String::from_utf8_lossy(printed);
            match self.output {
                Output::Stdout => print!("{printed}"),
                Output::Stderr => eprint!("{printed}"),
            }
        }
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
