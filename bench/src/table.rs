//! The human-readable report on stdout: context, anything skipped (loudly), then one aligned
//! table per suite (`Table` does the alignment), ratios under the load rows.

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
    let load = format!(
        "wrk --latency, {} s per row after a {} s warm-up, sleep_seconds=0",
        s.duration_s, s.warmup_s
    );
    if !report.throughput.is_empty() {
        let _ = writeln!(out, "\nThroughput and latency ({load})");
        out.push_str(&load_table(&report.throughput));
    }
    if !report.breakdown.is_empty() {
        let _ = writeln!(
            out,
            "\nWhere a /test2 request goes ({load}; cost: this request in trivial requests)"
        );
        let mut table = Table::new(&["part", "server", "path", "req/s", "p99 ms", "cost"]);
        for row in &report.breakdown {
            let mut cells = vec![row.what.clone(), row.server.clone(), row.path.clone()];
            cells.extend(outcome_cells(&row.result, 2, |r| {
                vec![
                    thousands(r.requests_per_sec),
                    format!("{:.2}", r.p99_ms),
                    row.cost_in_trivial_requests
                        .map_or("-".into(), |c| format!("{c:.2}x")),
                ]
            }));
            table.row(cells);
        }
        out.push_str(&table.render());
    }
    if !report.durable.is_empty() {
        let _ = writeln!(
            out,
            "\n/test2 committed (runner) or also fsynced before each answer ({load})"
        );
        out.push_str(&load_table(&report.durable));
    }
    if !report.observe.is_empty() {
        let _ = writeln!(
            out,
            "\n/test2 with the request log on (RUST_LOG=info) and with OTLP export on ({load})"
        );
        out.push_str(&load_table(&report.observe));
    }
    if !report.sdk.is_empty() {
        let _ = writeln!(
            out,
            "\nThe SDK apps under tests/apps/, as `cargo test` builds them ({load})"
        );
        out.push_str(&load_table(&report.sdk));
    }
    if !report.holds.is_empty() {
        let _ = writeln!(
            out,
            "\nHolding N concurrent requests, opened at {} connections/s; server RSS sampled \
             every 100 ms\n(on /test1 every second request sleeps; in Tornado every one that \
             arrives while one sleeps; on an SDK app's /sleep every one. awake p99: answers \
             that did not sleep; late p99: how far past the sleep the sleeping ones came)",
            s.hold_connects_per_sec
        );
        out.push_str(&hold_table(&report.holds));
    }
    if let Some(cold) = &report.cold_start {
        let _ = writeln!(out, "\nRunner start-up: spawn to first 200 on /test2");
        out.push_str(&cold_start(cold));
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
    let t = &report.tools;
    let tool = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not available)".into());
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
    let _ = writeln!(
        out,
        "Tools:    {}; tornado {}; {}; {}",
        t.wrk,
        tool(&t.tornado_version),
        tool(&t.wasmtime_version),
        tool(&t.spin_version)
    );
}

fn load_table(rows: &[LoadRow]) -> String {
    let mut table = Table::new(&["row", "server", "req/s", "p50 ms", "p99 ms", "errors"]);
    for row in rows {
        for (i, server) in row.order.iter().enumerate() {
            let name = if i == 0 { row.name() } else { String::new() };
            let mut cells = vec![name, server.clone()];
            cells.extend(outcome_cells(&row.results[server], 4, |r| {
                vec![
                    thousands(r.requests_per_sec),
                    format!("{:.2}", r.p50_ms),
                    format!("{:.2}", r.p99_ms),
                    r.errors().to_string(),
                ]
            }));
            table.row(cells);
        }
        if !row.ratios.is_empty() {
            let ratios: Vec<String> = row
                .ratios
                .iter()
                .map(|(pair, ratio)| format!("{pair} {ratio:.2}x"))
                .collect();
            table.note(format!("ratios: {}", ratios.join(", ")));
        }
    }
    table.render()
}

fn hold_table(rows: &[HoldRow]) -> String {
    let mut table = Table::new(&[
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
        "VmHWM",
    ]);
    for row in rows {
        let mut notes = Vec::new();
        for (i, server) in row.order.iter().enumerate() {
            let n = match i {
                0 => match &row.app {
                    Some(app) => format!("{} {app} {} ({}s)", row.requests, row.path, row.sleep_s),
                    None => format!("{} {} ({}s)", row.requests, row.path, row.sleep_s),
                },
                _ => String::new(),
            };
            let mut cells = vec![n, server.clone()];
            cells.extend(outcome_cells(&row.results[server], 13, |r| {
                notes.extend(
                    r.non_200
                        .iter()
                        .map(|(s, n)| format!("{server}: {n} x status {s}")),
                );
                notes.extend(
                    r.failures
                        .iter()
                        .map(|(why, n)| format!("{server}: {n} x {why}")),
                );
                let overflows = r.listen_overflows.unwrap_or(0);
                if overflows > 0 || r.max_connect_ms >= 500.0 {
                    notes.push(format!(
                        "{server}: slowest connect {:.0} ms; {overflows} accept-queue overflows \
                         (dropped SYNs, retried by the client's kernel after ~1 s)",
                        r.max_connect_ms
                    ));
                }
                let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}ms"));
                let mib = |v: f64| format!("{v:.1} MiB");
                vec![
                    format!("{}/{}", r.answered_200, r.requests),
                    r.slept.to_string(),
                    (r.failed + r.non_200.values().sum::<usize>()).to_string(),
                    r.duplicate_values.to_string(),
                    r.peak_outstanding.to_string(),
                    format!("{:.1}s", r.all_sent_s),
                    format!("{:.1}s", r.finished_s),
                    r.cpu_s.map_or("-".into(), |s| format!("{s:.1}s")),
                    ms(r.awake_p99_ms),
                    ms(r.slept_p99_over_ms),
                    mib(r.idle_rss_mib),
                    mib(r.peak_rss_mib),
                    mib(r.hwm_mib),
                ]
            }));
            table.row(cells);
        }
        for note in notes {
            table.note(format!("! {note}"));
        }
    }
    table.render()
}

fn cold_start(cold: &ColdStart) -> String {
    let show = |outcome: &Outcome<f64>| {
        outcome_cells(outcome, 1, |ms| vec![format!("{} ms", thousands(*ms))]).remove(0)
    };
    let samples: Vec<String> = cold
        .cache_warm_samples_ms
        .iter()
        .map(|ms| format!("{ms:.0}"))
        .collect();
    let mut table = Table::new(&["start", "spawn to first 200", "samples (ms)"]);
    table.row(vec![
        "--no-cache (compile, store nothing)".into(),
        show(&cold.no_cache_ms),
        String::new(),
    ]);
    table.row(vec![
        "--cache-dir, empty directory".into(),
        show(&cold.cache_empty_ms),
        String::new(),
    ]);
    table.row(vec![
        format!("--cache-dir, warm (median of {})", cold.warm_starts),
        show(&cold.cache_warm_median_ms),
        samples.join(", "),
    ]);
    table.render()
}

/// The cells of a measured outcome, or one cell saying why there is none (then `width - 1`
/// empty cells, so the table keeps its shape).
fn outcome_cells<T>(
    outcome: &Outcome<T>,
    width: usize,
    cells: impl FnOnce(&T) -> Vec<String>,
) -> Vec<String> {
    let reason = match outcome {
        Outcome::Ok(value) => return cells(value),
        Outcome::Failed(e) => format!("FAILED: {}", first_line(e)),
        Outcome::Skipped(e) => format!("skipped: {}", first_line(e)),
    };
    std::iter::once(reason)
        .chain(std::iter::repeat_n(String::new(), width.saturating_sub(1)))
        .collect()
}

/// Rows of cells under a header, each column as wide as its widest cell (text left, numbers
/// right); notes are lines of their own under the row before them.
struct Table {
    header: Vec<String>,
    lines: Vec<Line>,
}

enum Line {
    Row(Vec<String>),
    Note(String),
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            lines: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.lines.push(Line::Row(cells));
    }

    fn note(&mut self, note: String) {
        self.lines.push(Line::Note(note));
    }

    fn render(&self) -> String {
        let rows = || {
            self.lines.iter().filter_map(|line| match line {
                Line::Row(cells) => Some(cells),
                Line::Note(_) => None,
            })
        };
        let mut widths: Vec<usize> = self.header.iter().map(String::len).collect();
        for cells in rows() {
            for (i, cell) in cells.iter().enumerate() {
                // A reason (FAILED/skipped) may run past its column.
                if !cell.starts_with("FAILED") && !cell.starts_with("skipped") && i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                let numeric = cell.starts_with(|c: char| c.is_ascii_digit() || c == '-');
                if numeric && i >= 2 {
                    let _ = write!(text, "{cell:>width$}  ");
                } else {
                    let _ = write!(text, "{cell:<width$}  ");
                }
            }
            text.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        for entry in &self.lines {
            match entry {
                Line::Row(cells) => out.push_str(&line(cells)),
                Line::Note(note) => {
                    let _ = writeln!(out, "{:indent$}{note}", "", indent = widths[0] + 2);
                }
            }
        }
        out
    }
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
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12345.6), "12,346");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }

    #[test]
    fn tables_align_columns_and_keep_their_shape_when_a_row_failed() {
        let mut table = Table::new(&["row", "server", "req/s"]);
        table.row(vec!["/a".into(), "runner".into(), "12,345".into()]);
        table.row(vec!["".into(), "tornado".into(), "7".into()]);
        table.note("ratios: runner/tornado 1.00x".into());
        let skipped: Outcome<f64> = Outcome::Skipped("no Spin".into());
        let mut cells = vec!["".into(), "spin".into()];
        cells.extend(outcome_cells(&skipped, 1, |_| vec![]));
        table.row(cells);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "row  server   req/s");
        assert_eq!(lines[1], "/a   runner   12,345");
        assert_eq!(lines[2], "     tornado       7");
        assert_eq!(lines[3], "     ratios: runner/tornado 1.00x");
        assert_eq!(lines[4], "     spin     skipped: no Spin");
    }
}
