//! Holding many sleeping requests at once: for each size N, each server started fresh with a
//! sleep long enough to hold all N `/test1` requests, its RSS sampled meanwhile.

use crate::cli::Plan;
use crate::contenders::{Launcher, NATIVE, RUNNER, TORNADO};
use crate::hold::hold;
use crate::report::{HoldRow, Outcome};
use std::time::Duration;

pub async fn holds(launcher: &Launcher<'_>, plan: &Plan) -> Vec<HoldRow> {
    let mut rows = Vec::new();
    for &requests in &plan.holds {
        let sleep_s = plan.hold_sleep_for(requests);
        let sleep = Duration::from_secs_f64(sleep_s);
        let mut row = HoldRow {
            requests,
            sleep_s,
            results: Default::default(),
            order: Vec::new(),
        };
        for contender in [TORNADO, NATIVE, RUNNER] {
            let label = contender.label();
            if let Some(reason) = launcher.unavailable(&contender) {
                row.insert(label, Outcome::Skipped(reason));
                continue;
            }
            let started = launcher
                .start(&contender, sleep_s, &format!("hold{requests}"))
                .await;
            let server = match started {
                Ok(server) => server,
                Err(e) => {
                    eprintln!("[hold {requests}] {label} failed to start: {e:#}");
                    row.insert(label, Outcome::Failed(format!("{e:#}")));
                    continue;
                }
            };
            let result = hold(server.addr, server.pid, requests, sleep, plan.hold_rate).await;
            eprintln!(
                "[hold {requests}] {label:<8} 200: {}/{requests}  slept: {}  failed: {}  peak RSS {:.1} MiB (idle {:.1})  done in {:.1} s",
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
        rows.push(row);
    }
    rows
}
