//! Holding many sleeping requests at once: for each size N, each server started fresh with a
//! sleep long enough to hold all N requests, its RSS sampled meanwhile. The project's app on
//! `/test1` (Tornado, the native server, the runner, Spin), and the Rust spin-sdk 5 app's
//! `/sleep` (a WASI 0.2 component: one live instance per held request) on the runner and on
//! Spin.

use crate::cli::Plan;
use crate::contenders::{Contender, Launcher, NATIVE, RUNNER, SPIN, TORNADO};
use crate::hold::hold;
use crate::report::{HoldRow, Outcome};
use std::time::Duration;

/// The project's app, `/test1`, at each of the plan's hold sizes.
pub async fn holds(launcher: &Launcher<'_>, plan: &Plan) -> Vec<HoldRow> {
    let mut rows = Vec::new();
    for &requests in &plan.holds {
        let sleep_s = plan.hold_sleep_for(requests);
        let mut row = HoldRow {
            app: None,
            path: "/test1".into(),
            requests,
            sleep_s,
            results: Default::default(),
            order: Vec::new(),
        };
        for contender in [TORNADO, NATIVE, RUNNER, SPIN] {
            hold_on(launcher, plan, &contender, &mut row).await;
        }
        rows.push(row);
    }
    rows
}

/// The SDK app whose fresh instances are held: 1,000 requests (the smallest hold size the plan
/// has, at most 1,000), each a live WASI 0.2 instance sleeping in `/sleep`.
pub async fn sdk_app_holds(launcher: &Launcher<'_>, plan: &Plan) -> Vec<HoldRow> {
    const APP: &str = "rust-sdk5";
    let Some(manifest) = launcher.paths.sdk_app(APP) else {
        let reason = crate::paths::sdk_app_not_built(APP);
        eprintln!("SKIPPED: the SDK app hold: {reason}");
        return Vec::new();
    };
    let requests = plan.holds.iter().copied().min().unwrap_or(1_000).min(1_000);
    let sleep_s = plan.hold_sleep_for(requests);
    let mut row = HoldRow {
        app: Some(APP.into()),
        path: format!("/sleep?ms={}", (sleep_s * 1000.0).round() as u64),
        requests,
        sleep_s,
        results: Default::default(),
        order: Vec::new(),
    };
    for spin in [false, true] {
        let contender = Contender::SdkApp {
            spin,
            manifest: manifest.clone(),
        };
        hold_on(launcher, plan, &contender, &mut row).await;
    }
    vec![row]
}

/// Starts `contender` fresh, holds `row.requests` requests on `row.path`, and records it.
async fn hold_on(launcher: &Launcher<'_>, plan: &Plan, contender: &Contender, row: &mut HoldRow) {
    let (requests, label) = (row.requests, contender.label());
    if let Some(reason) = launcher.unavailable(contender) {
        row.insert(label, Outcome::Skipped(reason));
        return;
    }
    // The suite names the server's log file: one per app, so no hold overwrites another's.
    let suite = match &row.app {
        Some(app) => format!("hold{requests}-{app}"),
        None => format!("hold{requests}"),
    };
    let started = launcher.start(contender, row.sleep_s, &suite).await;
    let server = match started {
        Ok(server) => server,
        Err(e) => {
            eprintln!("[hold {requests}] {label} failed to start: {e:#}");
            row.insert(label, Outcome::Failed(format!("{e:#}")));
            return;
        }
    };
    let sleep = Duration::from_secs_f64(row.sleep_s);
    let result = hold(
        server.addr,
        server.pid,
        &row.path,
        requests,
        sleep,
        plan.hold_rate,
    )
    .await;
    eprintln!(
        "[hold {requests} {}] {label:<8} 200: {}/{requests}  slept: {}  failed: {}  peak RSS {:.1} MiB (idle {:.1})  done in {:.1} s",
        row.path,
        result.answered_200,
        result.slept,
        result.failed,
        result.peak_rss_mib,
        result.idle_rss_mib,
        result.finished_s
    );
    row.insert(label, Outcome::Ok(result));
    server.stop().await;
}
