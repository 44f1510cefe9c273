//! `bench`: one command that builds the runner, its components and a native Rust server,
//! prepares the Tornado seed (and `wasmtime serve` 47, and Spin when `SPIN` names it), and
//! measures them side by side on this machine: throughput and latency (wrk), where a /test2
//! request's time goes, power-loss-durable writes, memory while holding thousands of sleeping
//! requests, and the runner's start-up. Prints a table and writes `target/bench/latest.json`.

mod building;
mod cli;
mod contenders;
mod hold;
mod http;
mod limits;
mod machine;
mod netstat;
mod other_hosts;
mod otlp_sink;
mod paths;
mod process;
mod procfs;
mod report;
mod server;
mod suites;
mod table;
mod tornado;
mod wrk;

use clap::Parser;
use cli::Suite;
use contenders::Launcher;
use report::{Report, Settings, Tools};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    // Ctrl-C drops the run, and with it every server it started (they are killed on drop).
    tokio::select! {
        result = run(args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; servers stopped"),
    }
}

/// Pause between building and the first measurement.
const BUILD_SETTLE: std::time::Duration = std::time::Duration::from_secs(15);

async fn run(args: cli::Args) -> anyhow::Result<()> {
    let plan = args.plan();
    let paths = paths::Paths::discover()?;
    let open_files = match limits::raise_open_files() {
        Ok((soft, _)) => Some(soft),
        Err(e) => {
            eprintln!("warning: could not raise the open-file limit: {e}");
            None
        }
    };
    let mut context = machine::gather(&paths.root, open_files).await;
    if args.skip_build {
        eprintln!("==> --skip-build: using the binaries and components already in target/");
    } else {
        building::build_all(&paths).await?;
        // Let the build's last disk writes and CPU use die down before anything is timed.
        eprintln!("==> built; settling for {BUILD_SETTLE:?} before measuring");
        tokio::time::sleep(BUILD_SETTLE).await;
    }
    let wrk = wrk::ensure_installed().await?;
    let wrk_version = wrk::version(&wrk).await;

    let tornado = tornado::prepare(&paths, args.tornado_script.as_deref()).await;
    let mut skipped = Vec::new();
    let (tornado_version, tornado_script) = match &tornado {
        tornado::Tornado::Ready {
            version, script, ..
        } => (Some(version.clone()), Some(script.display().to_string())),
        tornado::Tornado::Skipped(reason) => {
            eprintln!("\n!!! TORNADO SKIPPED: {reason}\n");
            skipped.push(format!("Tornado skipped: {reason}"));
            (None, None)
        }
    };
    let wasmtime_selected = args.servers.is_empty() || args.servers.iter().any(|s| s == "wasmtime");
    let wasmtime = match (plan.runs(Suite::Breakdown), wasmtime_selected) {
        (true, true) => other_hosts::wasmtime(&paths).await,
        (false, _) => Err("the breakdown suite does not run".into()),
        // Not installed (a long build) for a run that would not measure it.
        (true, false) => Err("wasmtime not selected (--servers)".into()),
    };
    let spin = other_hosts::spin().await;
    for (host, outcome) in [("WASMTIME SERVE", &wasmtime), ("SPIN", &spin)] {
        if let Err(reason) = outcome {
            eprintln!("\n!!! {host} SKIPPED: {reason}\n");
            skipped.push(format!("{} skipped: {reason}", host.to_lowercase()));
        }
    }
    if plan.runs(Suite::Sdk) {
        for app in paths.unbuilt_sdk_apps() {
            skipped.push(format!("sdk suite: {}", paths::sdk_app_not_built(app)));
        }
    }
    if let Some(limit) = open_files
        && (limit as usize) < plan.holds.iter().max().copied().unwrap_or(0) + 1_000
    {
        eprintln!("warning: the open-file limit ({limit}) is low for the largest hold");
    }

    let launcher = Launcher {
        paths: &paths,
        tornado: &tornado,
        wasmtime: &wasmtime,
        spin: &spin,
        servers: &args.servers,
        runner_args: &args.runner_args,
    };
    let mut throughput = Vec::new();
    if plan.runs(Suite::Load) {
        throughput = suites::load::throughput(&launcher, &wrk, &plan).await;
    }
    let mut breakdown = Vec::new();
    if plan.runs(Suite::Breakdown) {
        breakdown = suites::breakdown::breakdown(&launcher, &wrk, &plan).await;
    }
    let mut durable = Vec::new();
    if plan.runs(Suite::Durable) {
        durable = suites::load::durable(&launcher, &wrk, &plan).await;
    }
    let mut observe = Vec::new();
    if plan.runs(Suite::Observe) {
        observe = suites::load::observe(&launcher, &wrk, &plan).await;
    }
    let mut sdk = Vec::new();
    if plan.runs(Suite::Sdk) {
        sdk = suites::load::sdk_apps(&launcher, &wrk, &plan).await;
    }
    let mut holds = Vec::new();
    if plan.runs(Suite::Hold) {
        holds = suites::hold::holds(&launcher, &plan).await;
    }
    if plan.runs(Suite::Sdk) {
        holds.extend(suites::hold::sdk_app_holds(&launcher, &plan).await);
    }
    let mut cold_start = None;
    if plan.runs(Suite::Start) {
        cold_start = Some(suites::cold_start::cold_start(&launcher, &plan).await);
    }

    context.machine.loadavg_at_end = Some(machine::loadavg());
    let mut report = Report {
        context,
        settings: Settings {
            quick: plan.quick,
            duration_s: plan.duration.as_secs(),
            warmup_s: plan.warmup.as_secs(),
            hold_connects_per_sec: plan.hold_rate,
            holds: plan.holds.clone(),
            suites: plan
                .suites
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect(),
        },
        tools: Tools {
            wrk: wrk_version,
            tornado_version,
            tornado_script,
            wasmtime_version: other_hosts::version(&wasmtime).await,
            spin_version: other_hosts::version(&spin).await,
        },
        skipped,
        failures: Vec::new(),
        throughput,
        breakdown,
        durable,
        observe,
        sdk,
        holds,
        cold_start,
    };
    report.failures = report.failures();
    println!("\n{}", table::render(&report));
    let json_path = paths.bench.join("latest.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("Results: {}", json_path.display());
    println!("Server logs: {}", paths.logs.display());
    Ok(())
}
