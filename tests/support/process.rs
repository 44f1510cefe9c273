//! A real `runner up` process for tests that need what only a process has: its log lines,
//! its exit status, signals. Listens on an ephemeral 127.0.0.1 port; killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct RunnerProcess {
    child: Child,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl RunnerProcess {
    /// `runner up -f MANIFEST --listen 127.0.0.1:0 --state-dir STATE ARGS...`, once serving.
    pub fn start(manifest: &Path, state: &Path, args: &[&str]) -> Self {
        Self::start_with_env(manifest, state, args, &[("RUST_LOG", "info")])
    }

    /// As `start`, with these environment variables set for the runner.
    pub fn start_with_env(
        manifest: &Path,
        state: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut all: Vec<std::ffi::OsString> = ["up", "--listen", "127.0.0.1:0", "-f"]
            .iter()
            .map(Into::into)
            .collect();
        all.push(manifest.into());
        all.push("--state-dir".into());
        all.push(state.into());
        all.extend(args.iter().map(Into::into));
        Self::spawn(&all, env)
    }

    /// `runner ARGS...` (which must serve: it prints `Serving URL` first), with `env` set.
    pub fn spawn(args: &[std::ffi::OsString], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runner starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = match stdout.next() {
            Some(Ok(line)) => line,
            _ => panic!(
                "runner printed nothing; its log:\n{}",
                log.lock().unwrap().join("\n")
            ),
        };
        let url = first
            .strip_prefix("Serving ")
            .unwrap_or_else(|| panic!("expected `Serving URL`, got {first:?}"))
            .to_string();
        // Keep reading stdout (guests' output goes there) so the runner never blocks on a
        // full pipe; its lines join the log.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stdout.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, url, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line so far, of stderr (the runner's log) and stdout (guests' output).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The lines so far that contain `part`.
    pub fn lines_with(&self, part: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|line| line.contains(part))
            .cloned()
            .collect()
    }

    /// Waits (up to `timeout`) for a log line containing every one of `parts`.
    pub fn wait_for_log(&self, parts: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|line| parts.iter().all(|p| line.contains(p)))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?} within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failed test shows what the runner said and whether it was still running.
            let exited = self.child.try_wait().ok().flatten();
            eprintln!(
                "runner (pid {}, exit status {exited:?}) log:\n{}",
                self.pid(),
                self.log()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
