//! What /proc says about a server: its memory (VmRSS now, VmHWM its peak so far, from
//! /proc/PID/status), its CPU time (/proc/PID/stat), and a sampler that polls the memory every
//! 100 ms in the background and keeps the peak. A server is its process and every process
//! under it (`spin up` serves from a child process it starts), summed.

use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// The memory of `pid` and of every process under it, summed.
pub fn read(pid: u32) -> Option<Memory> {
    let mut total = read_one(pid)?;
    for child in descendants(pid) {
        if let Some(memory) = read_one(child) {
            total.rss_kib += memory.rss_kib;
            total.hwm_kib += memory.hwm_kib;
        }
    }
    Some(total)
}

/// Every process under `pid` (children, their children, ...), from each process's parent in
/// /proc/*/stat.
fn descendants(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| Some((child, parent(child)?)))
        .collect();
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let of = found[next];
        found.extend(parents.iter().filter(|(_, p)| *p == of).map(|(c, _)| *c));
        next += 1;
    }
    found.split_off(1)
}

/// The parent of `pid` (field 4 of /proc/PID/stat).
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The fields of /proc/PID/stat after the command name (which is in parentheses and may hold
/// spaces): index 0 is field 3 (the state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn read_one(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// CPU time (user + system) `pid` and the processes under it have used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let own = cpu_seconds_of(pid)?;
    Some(
        own + descendants(pid)
            .into_iter()
            .filter_map(cpu_seconds_of)
            .sum::<f64>(),
    )
}

fn cpu_seconds_of(pid: u32) -> Option<f64> {
    // utime is field 14, stime field 15.
    let fields = stat_fields(pid)?;
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// What the sampler saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peak {
    pub peak_rss_kib: u64,
    /// The highest VmHWM read: the kernel's own peak, which catches spikes between samples
    /// (the kernel updates it lazily, so a later read can be lower than an earlier one).
    pub hwm_kib: u64,
    pub samples: usize,
}

pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Peak>,
}

pub const INTERVAL: Duration = Duration::from_millis(100);

impl Sampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = Peak::default();
            let mut ticks = tokio::time::interval(INTERVAL);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                if let Some(memory) = read(pid) {
                    peak.peak_rss_kib = peak.peak_rss_kib.max(memory.rss_kib);
                    peak.hwm_kib = peak.hwm_kib.max(memory.hwm_kib);
                    peak.samples += 1;
                }
            }
            // One last look, so the final state is never missed.
            if let Some(memory) = read(pid) {
                peak.peak_rss_kib = peak.peak_rss_kib.max(memory.rss_kib);
                peak.hwm_kib = peak.hwm_kib.max(memory.hwm_kib);
            }
            peak
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Peak {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
