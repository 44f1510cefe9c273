//! The human-readable report on stdout: context, anything skipped (loudly), the load tables
//! with ratios, the hold table and the runner's start-up times.

use crate::report::{ColdStart, HoldRow, LoadRow, Outcome, Report};
use std::fmt::Write as _;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    context(&mut out, report);
    if !report.skipped.is_empty() || !report.failures.is_empty() {
        let _ = writeln!(out, "\n!!!!!!!! NOT EVERYTHING RAN !!!!!!!!");
        for line in &report.skipped {
            let _ = writeln!(out, "!!! {line}");
        }
        for line in &report.failures {
            let _ = writeln!(out, "!!! FAILED: {line}");
        }
    }
    let s = &report.settings;
    if !report.throughput.is_empty() {
        let _ = writeln!(
            out,
            "\nThroughput and latency: wrk --latency, {} s per row after a {} s warm-up, \
             servers started with sleep_seconds=0",
            s.duration_s, s.warmup_s
        );
        load_table(&mut out, &report.throughput);
    }
    if !report.durable.is_empty() {
        let _ = writeln!(
            out,
            "\nPower-loss durable /test2 (each commit fsynced before its answer; Tornado keeps \
             its counter in memory, shown for reference)"
        );
        load_table(&mut out, &report.durable);
    }
    if !report.holds.is_empty() {
        let _ = writeln!(
            out,
            "\nHolding N concurrent /test1 requests, opened at {} connections/s; server RSS \
             sampled every 100 ms\n\
             (every second request sleeps; in Tornado every one that arrives while one sleeps. \
             awake p99: answers that did not sleep;\n \
             late p99: how far past the sleep the sleeping ones came; peak held: most requests \
             open at once;\n \
             CPU: the server's CPU time during the hold)",
            s.hold_connects_per_sec
        );
        hold_table(&mut out, &report.holds);
    }
    if let Some(cold) = &report.cold_start {
        let _ = writeln!(out, "\nRunner start-up: spawn to first 200 on /test2");
        cold_start(&mut out, cold);
    }
    out
}

fn context(out: &mut String, report: &Report) {
    let c = &report.context;
    let m = &c.machine;
    let git = match &c.git {
        Some(git) => format!("{}{}", git.commit, if git.dirty { " (dirty)" } else { "" }),
        None => "unknown".into(),
    };
    let _ = writeln!(out, "Date:     {}", c.date_utc);
    let _ = writeln!(out, "Command:  {}", c.command);
    let _ = writeln!(out, "Commit:   {git}");
    let _ = writeln!(
        out,
        "Machine:  {} cores, {}, {} GiB, Linux {}",
        m.nproc, m.cpu_model, m.memory_gib, m.kernel
    );
    let _ = writeln!(
        out,
        "Load:     {} at start, {} at end (/proc/loadavg; anything else running shows here)",
        m.loadavg_at_start,
        m.loadavg_at_end.as_deref().unwrap_or("?")
    );
    let t = &report.tools;
    let _ = writeln!(
        out,
        "Tools:    {}; tornado {}",
        t.wrk,
        t.tornado_version.as_deref().unwrap_or("(not available)")
    );
}

fn load_table(out: &mut String, rows: &[LoadRow]) {
    let _ = writeln!(
        out,
        "{:<14} {:<34} {:>11} {:>9} {:>9} {:>8}",
        "row", "server", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for row in rows {
        let name = row.name();
        for (i, server) in row.order.iter().enumerate() {
            let first = if i == 0 { name.as_str() } else { "" };
            let cells = match &row.results[server] {
                Outcome::Ok(r) => format!(
                    "{:>11} {:>9.2} {:>9.2} {:>8}",
                    thousands(r.requests_per_sec),
                    r.p50_ms,
                    r.p99_ms,
                    r.errors()
                ),
                Outcome::Failed(e) => format!("FAILED: {}", first_line(e)),
                Outcome::Skipped(e) => format!("skipped: {}", first_line(e)),
            };
            let _ = writeln!(out, "{first:<14} {server:<34} {cells}");
        }
        if !row.ratios.is_empty() {
            let ratios: Vec<String> = row
                .ratios
                .iter()
                .map(|(pair, ratio)| format!("{pair} {ratio:.2}x"))
                .collect();
            let _ = writeln!(out, "{:<14} ratios: {}", "", ratios.join(", "));
        }
    }
}

fn hold_table(out: &mut String, rows: &[HoldRow]) {
    let _ = writeln!(
        out,
        "{:<13} {:<8} {:>13} {:>6} {:>6} {:>5} {:>9} {:>8} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "N (sleep)",
        "server",
        "answered 200",
        "slept",
        "failed",
        "dupes",
        "peak held",
        "all sent",
        "done",
        "CPU",
        "awake p99",
        "late p99",
        "idle RSS",
        "peak RSS",
        "VmHWM"
    );
    for row in rows {
        let mut notes = Vec::new();
        for (i, server) in row.order.iter().enumerate() {
            let n = if i == 0 {
                format!("{} ({}s)", row.requests, row.sleep_s)
            } else {
                String::new()
            };
            let cells = match &row.results[server] {
                Outcome::Ok(r) => {
                    for (status, count) in &r.non_200 {
                        notes.push(format!("{server}: {count} x status {status}"));
                    }
                    for (reason, count) in &r.failures {
                        notes.push(format!("{server}: {count} x {reason}"));
                    }
                    let overflows = r.listen_overflows.unwrap_or(0);
                    if overflows > 0 || r.max_connect_ms >= 500.0 {
                        notes.push(format!(
                            "{server}: slowest connect {:.0} ms; {overflows} accept-queue \
                             overflows (dropped SYNs, retried by the client's kernel after ~1 s)",
                            r.max_connect_ms
                        ));
                    }
                    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}ms"));
                    format!(
                        "{:>13} {:>6} {:>6} {:>5} {:>9} {:>7.1}s {:>6.1}s {:>6} {:>9} {:>9} {:>5.1} MiB {:>5.1} MiB {:>5.1} MiB",
                        format!("{}/{}", r.answered_200, r.requests),
                        r.slept,
                        r.failed + r.non_200.values().sum::<usize>(),
                        r.duplicate_values,
                        r.peak_outstanding,
                        r.all_sent_s,
                        r.finished_s,
                        r.cpu_s.map_or("-".into(), |s| format!("{s:.1}s")),
                        ms(r.awake_p99_ms),
                        ms(r.slept_p99_over_ms),
                        r.idle_rss_mib,
                        r.peak_rss_mib,
                        r.hwm_mib
                    )
                }
                Outcome::Failed(e) => format!("FAILED: {}", first_line(e)),
                Outcome::Skipped(e) => format!("skipped: {}", first_line(e)),
            };
            let _ = writeln!(out, "{n:<13} {server:<8} {cells}");
        }
        for note in notes {
            let _ = writeln!(out, "{:<13} ! {note}", "");
        }
    }
}

fn cold_start(out: &mut String, cold: &ColdStart) {
    let show = |outcome: &Outcome<f64>| match outcome {
        Outcome::Ok(ms) => format!("{} ms", thousands(*ms)),
        Outcome::Failed(e) => format!("FAILED: {}", first_line(e)),
        Outcome::Skipped(e) => format!("skipped: {e}"),
    };
    let _ = writeln!(
        out,
        "  {:<36} {}",
        "--no-cache (compile, store nothing)",
        show(&cold.no_cache_ms)
    );
    let _ = writeln!(
        out,
        "  {:<36} {}",
        "--cache-dir, empty directory",
        show(&cold.cache_empty_ms)
    );
    let samples: Vec<String> = cold
        .cache_warm_samples_ms
        .iter()
        .map(|ms| format!("{ms:.0}"))
        .collect();
    let _ = writeln!(
        out,
        "  {:<36} {}{}",
        format!("--cache-dir, warm (median of {})", cold.warm_starts),
        show(&cold.cache_warm_median_ms),
        if samples.is_empty() {
            String::new()
        } else {
            format!("  (samples: {} ms)", samples.join(", "))
        }
    );
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// `12345.6` -> `12,346`.
fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0.4), "0");
        assert_eq!(super::thousands(999.0), "999");
        assert_eq!(super::thousands(12345.6), "12,346");
        assert_eq!(super::thousands(1234567.0), "1,234,567");
    }
}
