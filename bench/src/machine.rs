//! The run's context for the report: the machine (cores, CPU, memory, load), the date, the git
//! commit and whether the tree was dirty, and the command line.

use crate::process::run_captured;
use serde::Serialize;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::process::Command;

#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub date_utc: String,
    pub command: String,
    pub machine: Machine,
    pub git: Option<Git>,
    pub open_files_limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// /proc/loadavg when the run started and ended: anything else busy on the machine
    /// shows here.
    pub loadavg_at_start: String,
    pub loadavg_at_end: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Git {
    pub commit: String,
    pub dirty: bool,
}

pub async fn gather(root: &Path, open_files_limit: Option<u64>) -> Context {
    Context {
        date_utc: utc_now(),
        command: command_line(),
        machine: machine(),
        git: git(root).await,
        open_files_limit,
    }
}

/// The command as typed: `cargo run ...` when cargo started us (it sets `CARGO`), else argv.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "bench".into());
    let args: Vec<String> = args.collect();
    let prefix = if std::env::var_os("CARGO").is_some() {
        "cargo run --release -p bench --".to_string()
    } else {
        program
    };
    std::iter::once(prefix)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(" --")
        .to_string()
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0.0);
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown".into()),
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: read("/proc/sys/kernel/osrelease"),
        loadavg_at_start: loadavg(),
        loadavg_at_end: None,
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn git(root: &Path) -> Option<Git> {
    let commit = run_captured(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root),
    )
    .await
    .ok()?;
    let status = run_captured(
        Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(root),
    )
    .await
    .ok()?;
    Some(Git {
        commit: commit.trim().to_string(),
        dirty: !status.trim().is_empty(),
    })
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
