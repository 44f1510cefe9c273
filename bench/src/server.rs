//! One server process under test: picks a free port, spawns it with its output in a log file,
//! waits until it answers 200, and kills it when stopped or dropped (also on error or panic).

use crate::http;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How to start a server; `addr` is where it was told to listen.
pub struct Spec {
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Environment variables set for it.
    pub env: Vec<(String, String)>,
    pub addr: SocketAddr,
    /// Probed until it answers 200.
    pub ready_path: &'static str,
    /// Directories that live as long as the server (its state, its cache).
    pub dirs: Vec<tempfile::TempDir>,
}

/// A running server; killed when dropped.
pub struct Server {
    pub label: String,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Spawn to first 200.
    pub ready_after: Duration,
    pub log: PathBuf,
    child: Child,
    _dirs: Vec<tempfile::TempDir>,
}

/// How long a server may take to answer its first request (a cold compile on a busy machine).
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?)
}

impl Server {
    /// Spawns `spec` (output to `logs/<log_name>.log`) and waits for a 200 on its ready path.
    pub async fn start(spec: Spec, logs: &Path, log_name: &str) -> anyhow::Result<Server> {
        let log = logs.join(format!("{log_name}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let shown = crate::process::describe(&command);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("spawning {shown}: {e}"))?;
        let mut server = Server {
            label: spec.label,
            addr: spec.addr,
            pid: child.id().unwrap_or(0),
            ready_after: Duration::ZERO,
            log,
            child,
            _dirs: spec.dirs,
        };
        server.ready_after = server
            .wait_ready(spawned, spec.ready_path)
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}\n    command: {shown}"))?;
        Ok(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_ready(&mut self, spawned: Instant, path: &str) -> anyhow::Result<Duration> {
        let mut last = String::from("no attempt yet");
        while spawned.elapsed() < READY_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited before answering ({status}): {}\n    its log {} ends:\n{}",
                    self.label,
                    error_line(&self.log),
                    self.log.display(),
                    tail(&self.log, 6)
                );
            }
            match tokio::time::timeout(Duration::from_secs(5), http::get(self.addr, path)).await {
                Ok(Ok(answer)) if answer.status.is_success() => return Ok(spawned.elapsed()),
                Ok(Ok(answer)) => last = format!("answered {}", answer.status),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer within 5 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::bail!(
            "{} did not answer 200 on {path} within {READY_TIMEOUT:?} (last: {last})",
            self.label
        )
    }

    /// Kills the server and waits for it to go.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The log's last line that mentions an error (else its last line): why a process exited.
fn error_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|line| line.to_ascii_lowercase().contains("error"))
        .or(lines.last())
        .map_or_else(|| "(empty log)".into(), |line| line.to_string())
}

/// The last `lines` lines of a log file, indented.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("    | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
