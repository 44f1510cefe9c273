//! Throughput and latency with wrk: each server started fresh with `sleep_seconds=0`, warmed
//! up, then loaded row by row. Two tables: the default configurations (and Spin, when `SPIN`
//! names it) at several connection counts, and the runner's two durabilities beside the
//! native server's at the same counts (what power-loss durability costs).

use crate::cli::Plan;
use crate::contenders::{Contender, Launcher, NATIVE, Observe, RUNNER, SPIN, TORNADO};
use crate::report::{LoadRow, Outcome};
use crate::wrk;
use std::path::PathBuf;

struct Case {
    path: &'static str,
    connections: u32,
}

/// /test2 at each connection count, /test1 at the middle one.
pub async fn throughput(launcher: &Launcher<'_>, wrk: &PathBuf, plan: &Plan) -> Vec<LoadRow> {
    let mut cases = test2_cases(plan);
    cases.push(Case {
        path: "/test1",
        connections: plan.mid_connections,
    });
    let contenders = [TORNADO, NATIVE, RUNNER, SPIN];
    let pairs = [(RUNNER, TORNADO), (RUNNER, NATIVE), (RUNNER, SPIN)];
    measure(launcher, wrk, plan, "load", &contenders, &cases, &pairs).await
}

/// /test2 with each write committed (the runner's default) or also on disk (fsync) before
/// its answer, at every connection count: grouped fsyncs cost little under concurrency, but
/// a lone client waits for every one.
pub async fn durable(launcher: &Launcher<'_>, wrk: &PathBuf, plan: &Plan) -> Vec<LoadRow> {
    let runner_fsync = Contender::Runner {
        durability_fsync: true,
    };
    let native_fsync = Contender::Native {
        fsync: true,
        group_commit: false,
    };
    let native_group = Contender::Native {
        fsync: true,
        group_commit: true,
    };
    let contenders = [
        RUNNER,
        runner_fsync.clone(),
        native_fsync.clone(),
        native_group.clone(),
    ];
    let pairs = [(runner_fsync, RUNNER), (native_group, native_fsync)];
    let cases = test2_cases(plan);
    measure(launcher, wrk, plan, "durable", &contenders, &cases, &pairs).await
}

/// /test2 with the request log on and with OTLP export on (to a sink on loopback that
/// accepts every export), beside the runner as it runs by default, at 1 connection and at
/// the middle count: what observability costs per request.
pub async fn observe(launcher: &Launcher<'_>, wrk: &PathBuf, plan: &Plan) -> Vec<LoadRow> {
    let sink = match crate::otlp_sink::start().await {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("SKIPPED: the observe suite: no OTLP sink: {e:#}");
            return Vec::new();
        }
    };
    let logged = Contender::RunnerObserved(Observe::RequestLog);
    let exported = Contender::RunnerObserved(Observe::Otlp {
        endpoint: sink.endpoint(),
    });
    let contenders = [RUNNER, logged.clone(), exported.clone()];
    let pairs = [(logged, RUNNER), (exported, RUNNER)];
    let cases: Vec<Case> = [1, plan.mid_connections]
        .into_iter()
        .map(|connections| Case {
            path: "/test2",
            connections,
        })
        .collect();
    measure(launcher, wrk, plan, "observe", &contenders, &cases, &pairs).await
}

/// The apps under `tests/apps/` that `cargo test` built (`target/sdk-apps/`), each on its
/// greeting (`/`: a fresh instance and nothing else) and its key-value counter (`/kv`), at 1
/// connection and at the middle count: the runner against Spin on the same manifest.
pub async fn sdk_apps(launcher: &Launcher<'_>, wrk: &PathBuf, plan: &Plan) -> Vec<LoadRow> {
    let mut rows = Vec::new();
    for app in crate::paths::SDK_APPS {
        let cases: Vec<Case> = ["/", "/kv"]
            .into_iter()
            .flat_map(|path| {
                [1, plan.mid_connections]
                    .into_iter()
                    .map(move |connections| Case { path, connections })
            })
            .collect();
        let Some(manifest) = launcher.paths.sdk_app(app) else {
            let reason = crate::paths::sdk_app_not_built(app);
            eprintln!("SKIPPED: the sdk suite: {reason}");
            continue;
        };
        let on = |spin| Contender::SdkApp {
            spin,
            manifest: manifest.clone(),
        };
        let contenders = [on(false), on(true)];
        let pairs = [(on(false), on(true))];
        let suite = format!("sdk-{app}");
        let mut measured = measure(launcher, wrk, plan, &suite, &contenders, &cases, &pairs).await;
        for row in &mut measured {
            row.app = Some(app.to_string());
        }
        rows.extend(measured);
    }
    rows
}

/// `/test2` at each of the plan's connection counts.
fn test2_cases(plan: &Plan) -> Vec<Case> {
    plan.test2_connections
        .iter()
        .map(|&connections| Case {
            path: "/test2",
            connections,
        })
        .collect()
}

async fn measure(
    launcher: &Launcher<'_>,
    wrk: &PathBuf,
    plan: &Plan,
    suite: &str,
    contenders: &[Contender],
    cases: &[Case],
    pairs: &[(Contender, Contender)],
) -> Vec<LoadRow> {
    let mut rows: Vec<LoadRow> = cases
        .iter()
        .map(|case| LoadRow {
            app: None,
            path: case.path.into(),
            connections: case.connections,
            threads: wrk::threads(case.connections),
            duration_s: plan.duration.as_secs(),
            results: Default::default(),
            ratios: Default::default(),
            order: Vec::new(),
        })
        .collect();
    for contender in contenders {
        let label = contender.label();
        if let Some(reason) = launcher.unavailable(contender) {
            for row in &mut rows {
                row.insert(label.clone(), Outcome::Skipped(reason.clone()));
            }
            continue;
        }
        let server = match launcher.start(contender, 0.0, suite).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("[{suite}] {label} failed to start: {e:#}");
                for row in &mut rows {
                    row.insert(label.clone(), Outcome::Failed(format!("{e:#}")));
                }
                continue;
            }
        };
        eprintln!(
            "[{suite}] {label} ready after {:.0} ms",
            server.ready_after.as_secs_f64() * 1000.0
        );
        let warmup_url = server.url(contender.ready_path());
        let _ = wrk::run(wrk, &warmup_url, plan.mid_connections, plan.warmup).await;
        for row in &mut rows {
            let outcome = match wrk::run(
                wrk,
                &server.url(&row.path),
                row.connections,
                plan.duration,
            )
            .await
            {
                Ok(result) => {
                    eprintln!(
                        "[{suite}] {label:<32} {:<12} {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                        row.name(),
                        result.requests_per_sec,
                        result.p50_ms,
                        result.p99_ms,
                        result.errors()
                    );
                    Outcome::Ok(result)
                }
                Err(e) => Outcome::Failed(format!("{e:#}")),
            };
            row.insert(label.clone(), outcome);
        }
        server.stop().await;
    }
    let pairs: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.label(), b.label())).collect();
    for row in &mut rows {
        row.add_ratios(&pairs);
    }
    rows
}
