//! The load generator: makes sure `wrk` is installed (apt-get, when running as root), runs it
//! with `--latency`, and reads its report (req/s, p50, p99, errors).

use crate::process::{run_captured, run_visible, which};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Command;

/// What one wrk run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers whose status was not 2xx or 3xx.
    pub non_2xx_3xx: u64,
    pub socket_errors: SocketErrors,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SocketErrors {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
}

impl WrkResult {
    /// Every failed request: non-2xx/3xx answers plus socket errors.
    pub fn errors(&self) -> u64 {
        let s = &self.socket_errors;
        self.non_2xx_3xx + s.connect + s.read + s.write + s.timeout
    }
}

/// The wrk binary, installing it with apt-get when it is missing and we are root.
pub async fn ensure_installed() -> anyhow::Result<PathBuf> {
    if let Some(wrk) = which("wrk") {
        return Ok(wrk);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    anyhow::ensure!(
        root,
        "wrk is not installed and we are not root: install it (`sudo apt-get install -y wrk`)"
    );
    let install = || {
        let mut command = Command::new("apt-get");
        command
            .args(["install", "-y", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    if run_visible(&mut install()).await.is_err() {
        run_visible(Command::new("apt-get").arg("update")).await?;
        run_visible(&mut install()).await?;
    }
    which("wrk").ok_or_else(|| anyhow::anyhow!("apt-get installed wrk, but it is not on PATH"))
}

/// `wrk debian/4.1.0-3+b2 [epoll] ...`: the first line of `wrk -v` (which exits with 1).
pub async fn version(wrk: &PathBuf) -> String {
    match Command::new(wrk).arg("-v").output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("wrk (unknown version)")
            .trim()
            .to_string(),
        Err(e) => format!("wrk (unknown version: {e})"),
    }
}

/// wrk's threads for `connections` (it needs at least one connection per thread).
pub fn threads(connections: u32) -> u32 {
    connections.clamp(1, 2)
}

pub async fn run(
    wrk: &PathBuf,
    url: &str,
    connections: u32,
    duration: Duration,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new(wrk);
    command
        .arg(format!("-t{}", threads(connections)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .args(["--timeout", "10s", "--latency", url]);
    let output = run_captured(&mut command).await?;
    parse(&output)
}

pub fn parse(report: &str) -> anyhow::Result<WrkResult> {
    let mut result = WrkResult {
        requests_per_sec: f64::NAN,
        requests: 0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        max_ms: f64::NAN,
        non_2xx_3xx: 0,
        socket_errors: SocketErrors::default(),
    };
    for line in report.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", value] => result.requests_per_sec = value.parse()?,
            ["50%", value] => result.p50_ms = millis(value)?,
            ["99%", value] => result.p99_ms = millis(value)?,
            ["Latency", _avg, _stdev, max, ..] => result.max_ms = millis(max)?,
            [count, "requests", "in", ..] => result.requests = count.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", count] => result.non_2xx_3xx = count.parse()?,
            ["Socket", "errors:", rest @ ..] => result.socket_errors = socket_errors(rest)?,
            _ => {}
        }
    }
    anyhow::ensure!(
        result.requests_per_sec.is_finite() && result.p50_ms.is_finite(),
        "wrk's report has no Requests/sec or latency distribution:\n{report}"
    );
    Ok(result)
}

/// `connect 0, read 3, write 0, timeout 12` (already split on whitespace).
fn socket_errors(words: &[&str]) -> anyhow::Result<SocketErrors> {
    let mut errors = SocketErrors::default();
    for pair in words.chunks(2) {
        let [name, count] = pair else {
            anyhow::bail!("odd socket error list: {words:?}")
        };
        let count: u64 = count.trim_end_matches(',').parse()?;
        match *name {
            "connect" => errors.connect = count,
            "read" => errors.read = count,
            "write" => errors.write = count,
            "timeout" => errors.timeout = count,
            _ => {}
        }
    }
    Ok(errors)
}

/// wrk's time (`812.00us`, `1.23ms`, `2.01s`, `1.50m`) in milliseconds.
fn millis(value: &str) -> anyhow::Result<f64> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow::anyhow!("`{value}` has no unit"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => anyhow::bail!("unknown time unit in `{value}`"),
    };
    // Round off float noise (0.052000000000000005 -> 0.052); wrk prints two decimals.
    Ok((number * factor * 1e6).round() / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:8080/test2
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us    0.89ms  12.92ms   93.69%
    Req/Sec    56.20k     8.07k   62.00k    86.54%
  Latency Distribution
     50%  250.00us
     75%  491.00us
     90%  700.00us
     99%    5.80ms
  2243690 requests in 5.00s, 241.82MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 7
Requests/sec: 448552.94
Transfer/sec:     48.34MB
";

    #[test]
    fn reads_a_full_report() {
        let result = parse(REPORT).unwrap();
        assert_eq!(result.requests_per_sec, 448552.94);
        assert_eq!(result.requests, 2243690);
        assert!((result.p50_ms - 0.25).abs() < 1e-9);
        assert!((result.p99_ms - 5.8).abs() < 1e-9);
        assert!((result.max_ms - 12.92).abs() < 1e-9);
        assert_eq!(result.non_2xx_3xx, 7);
        assert_eq!(result.socket_errors.read, 3);
        assert_eq!(result.socket_errors.timeout, 12);
        assert_eq!(result.errors(), 22);
    }

    #[test]
    fn a_clean_report_has_no_errors() {
        let clean: String = REPORT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(parse(&clean).unwrap().errors(), 0);
    }

    #[test]
    fn units() {
        assert_eq!(millis("2.00s").unwrap(), 2000.0);
        assert_eq!(millis("1.50m").unwrap(), 90_000.0);
        assert!(millis("12").is_err());
    }

    #[test]
    fn threads_never_exceed_connections() {
        assert_eq!(threads(1), 1);
        assert_eq!(threads(50), 2);
    }
}
