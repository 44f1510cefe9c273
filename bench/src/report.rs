//! The results of one run, as written to `target/bench/latest.json`: the context, each table's
//! rows (one outcome per server: measured, failed with the reason, or skipped with the reason)
//! and the throughput ratios.

use crate::hold::HoldResult;
use crate::machine::Context;
use crate::wrk::WrkResult;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Ok(T),
    Failed(String),
    Skipped(String),
}

impl<T> Outcome<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Outcome::Ok(value) => Some(value),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub context: Context,
    pub settings: Settings,
    pub tools: Tools,
    /// Everything that did not run, and why (also shown loudly on stdout).
    pub skipped: Vec<String>,
    /// Every measurement that failed, one line each (details in its own entry).
    pub failures: Vec<String>,
    pub throughput: Vec<LoadRow>,
    pub breakdown: Vec<BreakdownRow>,
    pub durable: Vec<LoadRow>,
    /// /test2 with the request log and with OTLP export on.
    pub observe: Vec<LoadRow>,
    /// Each SDK app's routes, the runner against Spin.
    pub sdk: Vec<LoadRow>,
    pub holds: Vec<HoldRow>,
    pub cold_start: Option<ColdStart>,
}

impl Report {
    /// One line per failed measurement, for the summary.
    pub fn failures(&self) -> Vec<String> {
        let first_line = |e: &str| e.lines().next().unwrap_or("").to_string();
        let mut lines = Vec::new();
        for (table, rows) in [
            ("load", &self.throughput),
            ("durable", &self.durable),
            ("observe", &self.observe),
            ("sdk", &self.sdk),
        ] {
            for row in rows {
                for (server, outcome) in &row.results {
                    if let Outcome::Failed(e) = outcome {
                        lines.push(format!(
                            "{table} {} {server}: {}",
                            row.name(),
                            first_line(e)
                        ));
                    }
                }
            }
        }
        for row in &self.breakdown {
            if let Outcome::Failed(e) = &row.result {
                lines.push(format!(
                    "breakdown {} {}: {}",
                    row.server,
                    row.path,
                    first_line(e)
                ));
            }
        }
        for row in &self.holds {
            for (server, outcome) in &row.results {
                match outcome {
                    Outcome::Failed(e) => {
                        lines.push(format!("hold {} {server}: {}", row.requests, first_line(e)))
                    }
                    Outcome::Ok(r) if r.answered_200 < r.requests => lines.push(format!(
                        "hold {} {server}: only {} of {} answered 200",
                        row.requests, r.answered_200, r.requests
                    )),
                    _ => {}
                }
            }
        }
        if let Some(cold) = &self.cold_start {
            for (what, outcome) in [
                ("--no-cache", &cold.no_cache_ms),
                ("--cache-dir empty", &cold.cache_empty_ms),
                ("--cache-dir warm", &cold.cache_warm_median_ms),
            ] {
                if let Outcome::Failed(e) = outcome {
                    lines.push(format!("start-up {what}: {}", first_line(e)));
                }
            }
        }
        lines
    }
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub quick: bool,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub hold_connects_per_sec: f64,
    pub holds: Vec<usize>,
    pub suites: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Tools {
    pub wrk: String,
    pub tornado_version: Option<String>,
    pub tornado_script: Option<String>,
    pub wasmtime_version: Option<String>,
    pub spin_version: Option<String>,
}

/// One part of a /test2 request, measured on its own.
#[derive(Debug, Serialize)]
pub struct BreakdownRow {
    pub what: String,
    pub server: String,
    pub path: String,
    pub connections: u32,
    pub result: Outcome<WrkResult>,
    /// The runner's trivial route's req/s over this row's: what one of these requests costs,
    /// in trivial requests.
    pub cost_in_trivial_requests: Option<f64>,
}

/// One wrk measurement across servers.
#[derive(Debug, Serialize)]
pub struct LoadRow {
    /// The app measured, when the suite measures several (the SDK apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub path: String,
    pub connections: u32,
    pub threads: u32,
    pub duration_s: u64,
    pub results: BTreeMap<String, Outcome<WrkResult>>,
    /// `"a/b"` -> a's req/s over b's, when both were measured.
    pub ratios: BTreeMap<String, f64>,
    /// The servers in the order they ran (for the table).
    #[serde(skip)]
    pub order: Vec<String>,
}

impl LoadRow {
    pub fn name(&self) -> String {
        match &self.app {
            Some(app) => format!("{app} {} c={}", self.path, self.connections),
            None => format!("{} c={}", self.path, self.connections),
        }
    }

    pub fn insert(&mut self, server: String, outcome: Outcome<WrkResult>) {
        self.order.push(server.clone());
        self.results.insert(server, outcome);
    }

    /// Records `numerator/denominator` for each pair whose two servers were both measured.
    pub fn add_ratios(&mut self, pairs: &[(String, String)]) {
        for (numerator, denominator) in pairs {
            let rps = |label: &String| {
                self.results
                    .get(label)
                    .and_then(Outcome::ok)
                    .map(|r| r.requests_per_sec)
            };
            if let (Some(a), Some(b)) = (rps(numerator), rps(denominator))
                && b > 0.0
            {
                self.ratios
                    .insert(format!("{numerator}/{denominator}"), a / b);
            }
        }
    }
}

/// One hold size across servers.
#[derive(Debug, Serialize)]
pub struct HoldRow {
    /// The SDK app held (under `tests/apps/`), or none for the project's own app.
    pub app: Option<String>,
    pub path: String,
    pub requests: usize,
    pub sleep_s: f64,
    pub results: BTreeMap<String, Outcome<HoldResult>>,
    #[serde(skip)]
    pub order: Vec<String>,
}

impl HoldRow {
    pub fn insert(&mut self, server: String, outcome: Outcome<HoldResult>) {
        self.order.push(server.clone());
        self.results.insert(server, outcome);
    }
}

/// The runner's start-up: spawn to the first 200 on /test2, in milliseconds.
#[derive(Debug, Serialize)]
pub struct ColdStart {
    /// With --no-cache: every component compiled, nothing stored.
    pub no_cache_ms: Outcome<f64>,
    /// With --cache-dir pointing at a fresh empty directory.
    pub cache_empty_ms: Outcome<f64>,
    /// The median of the warm starts with that same directory.
    pub cache_warm_median_ms: Outcome<f64>,
    pub cache_warm_samples_ms: Vec<f64>,
    pub warm_starts: usize,
}
