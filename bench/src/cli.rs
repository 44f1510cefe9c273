//! The command line, and the measurement plan it implies (full or `--quick`).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Measures the runner, the Tornado seed and a native Rust server side by side"
)]
pub struct Args {
    /// A short run (about 1-2 minutes): 2 s loads, a hold of 1,000 requests only.
    #[arg(long)]
    pub quick: bool,
    /// Seconds per wrk measurement (default 5; 2 with --quick).
    #[arg(long)]
    pub duration: Option<u64>,
    /// The Tornado seed script (default: ../shared/reference/tornado_seed.py beside the repo).
    #[arg(long, env = "TORNADO_SEED")]
    pub tornado_script: Option<PathBuf>,
    /// Do not run `cargo build` / `runner build`; use what target/ already holds.
    #[arg(long)]
    pub skip_build: bool,
    /// Sizes of the concurrent sleeping /test1 holds (default 1000,10000; 1000 with --quick).
    #[arg(long, value_delimiter = ',')]
    pub hold: Vec<usize>,
    /// Seconds the held /test1 requests sleep (default: 10 + N/500, so the slowest server
    /// has every request in before the first answers; 5 + N/500 with --quick).
    #[arg(long)]
    pub hold_sleep: Option<f64>,
    /// New connections per second while opening a hold.
    #[arg(long, default_value_t = 2000.0)]
    pub hold_rate: f64,
    /// Run only these suites (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Suite>,
    /// Measure only these servers: tornado, native, runner, wasmtime, spin (default: all).
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// An extra argument for every `runner up` (repeatable), to measure the runner's options:
    /// `--runner-arg=--max-instance-concurrent-reuse-count --runner-arg=100`.
    #[arg(long = "runner-arg", allow_hyphen_values = true)]
    pub runner_args: Vec<String>,
}

/// The measurements, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// wrk on /test2 and /test1, default configurations.
    Load,
    /// wrk on each part of a /test2 request (the probe app), and on other hosts' trivial route.
    Breakdown,
    /// wrk on /test2, the runner's durabilities and the native server's.
    Durable,
    /// N concurrent sleeping /test1 requests, peak RSS.
    Hold,
    /// The runner's start-up, with an empty and a warm compile cache.
    Start,
    /// wrk on /test2 with the request log on, and with OpenTelemetry export on.
    Observe,
    /// wrk on each SDK app under tests/apps/ (`/` and `/kv`), the runner against Spin.
    Sdk,
}

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    /// Each wrk measurement.
    pub duration: Duration,
    /// The untimed wrk run before a server's first measurement.
    pub warmup: Duration,
    /// Connection counts for the /test2 rows.
    pub test2_connections: Vec<u32>,
    /// Connection count for /test1 and for the durable rows.
    pub mid_connections: u32,
    pub holds: Vec<usize>,
    /// An explicit sleep for every hold, else `hold_sleep_for` decides per size.
    pub hold_sleep: Option<f64>,
    pub hold_rate: f64,
    /// Warm starts whose median is reported.
    pub warm_starts: usize,
    pub suites: Vec<Suite>,
}

impl Plan {
    /// How long the held requests sleep in a hold of `requests`.
    pub fn hold_sleep_for(&self, requests: usize) -> f64 {
        let base = if self.quick { 5.0 } else { 10.0 };
        self.hold_sleep.unwrap_or(base + requests as f64 / 500.0)
    }

    pub fn runs(&self, suite: Suite) -> bool {
        self.suites.contains(&suite)
    }
}

impl Args {
    pub fn plan(&self) -> Plan {
        let quick = self.quick;
        let holds = if !self.hold.is_empty() {
            self.hold.clone()
        } else if quick {
            vec![1_000]
        } else {
            vec![1_000, 10_000]
        };
        Plan {
            quick,
            duration: Duration::from_secs(self.duration.unwrap_or(if quick { 2 } else { 5 })),
            warmup: Duration::from_secs(1),
            test2_connections: vec![1, 50, 256],
            mid_connections: 50,
            holds,
            hold_sleep: self.hold_sleep,
            hold_rate: self.hold_rate,
            warm_starts: 3,
            suites: if self.only.is_empty() {
                Suite::value_variants().to_vec()
            } else {
                self.only.clone()
            },
        }
    }
}
