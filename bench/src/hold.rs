//! The concurrency test: N clients each open a TCP connection and send `GET path` (the app's
//! `/test1`, or an SDK app's sleeping route) to a server that sleeps long enough on it to hold
//! them all at once, and wait for every answer
//! (within one overall deadline) while the server's RSS is sampled. Connects are paced (a
//! steady rate, a bounded number in flight): on loopback a client opens connections far
//! faster than any server accepts them, and the test is about holding requests, not about
//! overflowing the accept queue (overflows are still counted and reported).

use crate::http::{self, Failure};
use crate::{netstat, procfs};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Connects in flight at once (below the usual accept backlog of 128).
const CONNECT_PERMITS: usize = 64;
/// How long one connect may take (a dropped SYN is retried after 1 s, 3 s, ...).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Past the sleep, how long the slowest answer may take before it counts as timed out.
const GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize)]
pub struct HoldResult {
    pub requests: usize,
    pub sleep_s: f64,
    /// The pace new connections were opened at.
    pub connects_per_sec: f64,
    pub answered_200: usize,
    /// 200 answers that took at least the sleep.
    pub slept: usize,
    /// p99 time of the 200 answers that did not sleep (they should come at once).
    pub awake_p99_ms: Option<f64>,
    /// p99 of how much longer than the sleep the sleeping answers took.
    pub slept_p99_over_ms: Option<f64>,
    /// Distinct `TEST2 n` values among the 200 answers, and how many repeated one.
    pub distinct_values: usize,
    pub duplicate_values: usize,
    /// Status code -> count, for answers that were not 200.
    pub non_200: BTreeMap<u16, usize>,
    /// Error message -> count, for requests that got no answer.
    pub failures: BTreeMap<String, usize>,
    pub failed: usize,
    /// Most requests sent and not yet answered at one time, seen from the client.
    pub peak_outstanding: usize,
    /// When the last request had been sent, and when the last one finished.
    pub all_sent_s: f64,
    pub finished_s: f64,
    /// The slowest TCP connect (about 1 s or more means a dropped SYN was retried).
    pub max_connect_ms: f64,
    /// Accept-queue overflows the kernel counted during the hold (dropped SYNs).
    pub listen_overflows: Option<u64>,
    /// CPU seconds (user + system) the server used during the hold.
    pub cpu_s: Option<f64>,
    pub idle_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub hwm_mib: f64,
}

enum Outcome {
    Answered {
        status: u16,
        elapsed: Duration,
        value: Option<i64>,
    },
    Failed(String),
}

/// Shared by the client tasks while they run.
#[derive(Default)]
struct Progress {
    outstanding: AtomicUsize,
    peak_outstanding: AtomicUsize,
    /// Microseconds since the start, when the latest request was sent.
    last_sent_us: AtomicU64,
    max_connect_us: AtomicU64,
}

pub async fn hold(
    addr: SocketAddr,
    pid: u32,
    path: &str,
    requests: usize,
    sleep: Duration,
    connects_per_sec: f64,
) -> HoldResult {
    let idle = procfs::read(pid).unwrap_or_default();
    let cpu_before = procfs::cpu_seconds(pid);
    let overflows_before = netstat::listen_overflows();
    let sampler = procfs::Sampler::start(pid);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + sleep + GRACE;
    let permits = Arc::new(Semaphore::new(CONNECT_PERMITS));
    let progress = Arc::new(Progress::default());
    let spacing = Duration::from_secs_f64(1.0 / connects_per_sec.max(1.0));
    let first = tokio::time::Instant::now();

    let tasks: Vec<_> = (0..requests)
        .map(|i| {
            let (permits, progress) = (permits.clone(), progress.clone());
            let path = path.to_string();
            let exchange = async move {
                tokio::time::sleep_until(first + spacing.mul_f64(i as f64)).await;
                let connection = {
                    let _permit = permits.acquire().await.expect("never closed");
                    let connecting = Instant::now();
                    let connection = tokio::time::timeout(CONNECT_TIMEOUT, http::connect(addr))
                        .await
                        .map_err(|_| Failure::Connect(std::io::ErrorKind::TimedOut.into()))??;
                    progress
                        .max_connect_us
                        .fetch_max(micros(connecting.elapsed()), Ordering::Relaxed);
                    connection
                };
                let sent = Instant::now();
                progress
                    .last_sent_us
                    .fetch_max(micros(started.elapsed()), Ordering::Relaxed);
                let now = progress.outstanding.fetch_add(1, Ordering::SeqCst) + 1;
                progress.peak_outstanding.fetch_max(now, Ordering::SeqCst);
                let answer = connection.get(&path).await;
                progress.outstanding.fetch_sub(1, Ordering::SeqCst);
                answer.map(|answer| (answer, sent.elapsed()))
            };
            tokio::spawn(async move {
                match tokio::time::timeout_at(deadline, exchange).await {
                    Err(_) => Outcome::Failed("no answer before the deadline".into()),
                    Ok(Err(failure)) => Outcome::Failed(failure.to_string()),
                    Ok(Ok((answer, elapsed))) => Outcome::Answered {
                        status: answer.status.as_u16(),
                        elapsed,
                        value: std::str::from_utf8(&answer.body)
                            .ok()
                            .and_then(|body| body.trim().strip_prefix("TEST2 "))
                            .and_then(|n| n.parse().ok()),
                    },
                }
            })
        })
        .collect();

    let mut outcomes = Vec::with_capacity(requests);
    for task in tasks {
        outcomes.push(
            task.await
                .unwrap_or_else(|e| Outcome::Failed(format!("client task: {e}"))),
        );
    }
    let finished = started.elapsed();
    let peak = sampler.finish().await;
    let cpu_s = cpu_before
        .zip(procfs::cpu_seconds(pid))
        .map(|(before, after)| ((after - before) * 100.0).round() / 100.0);
    let listen_overflows = overflows_before
        .zip(netstat::listen_overflows())
        .map(|(before, after)| after.saturating_sub(before));

    let mut result = HoldResult {
        requests,
        sleep_s: sleep.as_secs_f64(),
        connects_per_sec,
        answered_200: 0,
        slept: 0,
        awake_p99_ms: None,
        slept_p99_over_ms: None,
        distinct_values: 0,
        duplicate_values: 0,
        non_200: BTreeMap::new(),
        failures: BTreeMap::new(),
        failed: 0,
        peak_outstanding: progress.peak_outstanding.load(Ordering::SeqCst),
        all_sent_s: progress.last_sent_us.load(Ordering::Relaxed) as f64 / 1e6,
        finished_s: finished.as_secs_f64(),
        max_connect_ms: progress.max_connect_us.load(Ordering::Relaxed) as f64 / 1e3,
        listen_overflows,
        cpu_s,
        idle_rss_mib: mib(idle.rss_kib),
        peak_rss_mib: mib(peak.peak_rss_kib.max(idle.rss_kib)),
        hwm_mib: mib(peak.hwm_kib),
    };
    let mut values = HashSet::new();
    let (mut awake, mut over) = (Vec::new(), Vec::new());
    for outcome in outcomes {
        match outcome {
            Outcome::Answered {
                status: 200,
                elapsed,
                value,
            } => {
                result.answered_200 += 1;
                if elapsed >= sleep {
                    result.slept += 1;
                    over.push((elapsed - sleep).as_secs_f64() * 1000.0);
                } else {
                    awake.push(elapsed.as_secs_f64() * 1000.0);
                }
                match value {
                    Some(n) if !values.insert(n) => result.duplicate_values += 1,
                    _ => {}
                }
            }
            Outcome::Answered { status, .. } => *result.non_200.entry(status).or_default() += 1,
            Outcome::Failed(reason) => {
                result.failed += 1;
                *result.failures.entry(reason).or_default() += 1;
            }
        }
    }
    result.distinct_values = values.len();
    result.awake_p99_ms = p99(&mut awake);
    result.slept_p99_over_ms = p99(&mut over);
    result
}

/// The 99th percentile (nearest rank), if there are samples.
fn p99(samples: &mut [f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = (samples.len() as f64 * 0.99).ceil() as usize;
    Some((samples[rank.clamp(1, samples.len()) - 1] * 1000.0).round() / 1000.0)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn p99_by_nearest_rank() {
        assert_eq!(super::p99(&mut []), None);
        assert_eq!(super::p99(&mut [5.0]), Some(5.0));
        let mut hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::p99(&mut hundred), Some(99.0));
    }
}
