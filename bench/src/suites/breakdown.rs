//! Where a `/test2` request's time goes: the probe app (`tests/guests/perf-probe`) serves each
//! part of it on a route of its own, and each is loaded at the middle connection count. Every
//! row's cost is given in trivial requests (the runner's trivial route's req/s over the row's),
//! so "the store call costs as much as the whole request" shows as a number. `wasmtime serve`
//! and Spin answer the spin-sdk trivial route too, when they can be had.

use crate::cli::Plan;
use crate::contenders::{Contender, Launcher, RUNNER};
use crate::report::{BreakdownRow, Outcome};
use crate::wrk;
use std::path::PathBuf;

const PROBE: Contender = Contender::RunnerProbe { in_memory: false };
const PROBE_IN_MEMORY: Contender = Contender::RunnerProbe { in_memory: true };

/// Each server, and what is measured on it: (path, what it is).
fn plan() -> Vec<(Contender, Vec<(&'static str, &'static str)>)> {
    let sdk_trivial = ("/sdk/trivial", "trivial route, spin-sdk `http` types");
    vec![
        (
            PROBE,
            vec![
                ("/trivial", "trivial route, `wasi:http` types (as test2)"),
                sdk_trivial,
                ("/print", "+ print a line (test2 logs its value)"),
                ("/open", "+ open the store"),
                ("/increment", "+ open and increment, SQLite file"),
            ],
        ),
        (
            PROBE_IN_MEMORY,
            vec![("/increment", "+ open and increment, SQLite in memory")],
        ),
        (RUNNER, vec![("/test2", "test2: all of the above")]),
        (Contender::WasmtimeServe, vec![sdk_trivial]),
        (Contender::Spin { probe: true }, vec![sdk_trivial]),
    ]
}

pub async fn breakdown(launcher: &Launcher<'_>, wrk: &PathBuf, plan_: &Plan) -> Vec<BreakdownRow> {
    let connections = plan_.mid_connections;
    let mut rows = Vec::new();
    for (contender, paths) in plan() {
        let label = contender.label();
        let mut row = |path: &str, what: &str, result| {
            rows.push(BreakdownRow {
                what: what.to_string(),
                server: label.clone(),
                path: path.to_string(),
                connections,
                result,
                cost_in_trivial_requests: None,
            })
        };
        if let Some(reason) = launcher.unavailable(&contender) {
            for (path, what) in paths {
                row(path, what, Outcome::Skipped(reason.clone()));
            }
            continue;
        }
        let server = match launcher.start(&contender, 0.0, "breakdown").await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("[breakdown] {label} failed to start: {e:#}");
                for (path, what) in paths {
                    row(path, what, Outcome::Failed(format!("{e:#}")));
                }
                continue;
            }
        };
        let _ = wrk::run(wrk, &server.url(paths[0].0), connections, plan_.warmup).await;
        for (path, what) in paths {
            let outcome = match wrk::run(wrk, &server.url(path), connections, plan_.duration).await
            {
                Ok(result) => {
                    eprintln!(
                        "[breakdown] {label:<28} {path:<14} {:>10.0} req/s",
                        result.requests_per_sec
                    );
                    Outcome::Ok(result)
                }
                Err(e) => Outcome::Failed(format!("{e:#}")),
            };
            row(path, what, outcome);
        }
        server.stop().await;
    }
    let trivial = rows
        .iter()
        .find(|r| r.server == PROBE.label() && r.path == "/trivial")
        .and_then(|r| r.result.ok())
        .map(|r| r.requests_per_sec);
    for row in &mut rows {
        if let (Some(trivial), Some(result)) = (trivial, row.result.ok())
            && result.requests_per_sec > 0.0
        {
            row.cost_in_trivial_requests = Some(trivial / result.requests_per_sec);
        }
    }
    rows
}
