//! What /proc says about a server process: its memory (VmRSS now, VmHWM its peak so far, from
//! /proc/PID/status), its CPU time (/proc/PID/stat), and a sampler that polls the memory every
//! 100 ms in the background and keeps the peak.

use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn read(pid: u32) -> Option<Memory> {
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

/// CPU time (user + system) the process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
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
