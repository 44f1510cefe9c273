//! The runner's start-up time, spawn to first 200 on /test2: with `--no-cache` (compiles
//! everything, stores nothing), with `--cache-dir` on an empty directory (compiles everything
//! and stores it), then warm from that same directory. None of these starts reads or writes
//! the runner's default cache in the user's home.

use crate::cli::Plan;
use crate::contenders::{Launcher, RUNNER};
use crate::report::{ColdStart, Outcome};
use crate::server::Server;
use std::ffi::OsString;

pub async fn cold_start(launcher: &Launcher<'_>, plan: &Plan) -> ColdStart {
    let no_cache_ms = start_once(launcher, &["--no-cache".into()], "start-no-cache").await;
    let cache = match launcher.paths.temp_dir("runner-cache-") {
        Ok(dir) => dir,
        Err(e) => {
            let failed = Outcome::Failed(format!("creating a cache directory: {e:#}"));
            return ColdStart {
                no_cache_ms,
                cache_empty_ms: failed.clone(),
                cache_warm_median_ms: failed,
                cache_warm_samples_ms: Vec::new(),
                warm_starts: plan.warm_starts,
            };
        }
    };
    let cache_flags: [OsString; 2] = ["--cache-dir".into(), cache.path().into()];
    let cache_empty_ms = start_once(launcher, &cache_flags, "start-cache-empty").await;
    let mut samples = Vec::new();
    let cache_warm_median_ms = if cache_empty_ms.ok().is_none() {
        Outcome::Skipped("not measured: the start with an empty --cache-dir failed".into())
    } else {
        let mut failure = None;
        for i in 1..=plan.warm_starts {
            let log = format!("start-cache-warm{i}");
            match start_once(launcher, &cache_flags, &log).await {
                Outcome::Ok(ms) => samples.push(ms),
                other => {
                    failure = Some(other);
                    break;
                }
            }
        }
        failure.unwrap_or_else(|| Outcome::Ok(median(&mut samples.clone())))
    };
    ColdStart {
        no_cache_ms,
        cache_empty_ms,
        cache_warm_median_ms,
        cache_warm_samples_ms: samples,
        warm_starts: plan.warm_starts,
    }
}

/// Starts the runner with `flags` added, returns spawn-to-first-200 in ms, stops it.
async fn start_once(launcher: &Launcher<'_>, flags: &[OsString], log: &str) -> Outcome<f64> {
    let mut spec = match launcher.spec(&RUNNER, 0.0) {
        Ok(spec) => spec,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    spec.args.extend_from_slice(flags);
    match Server::start(spec, &launcher.paths.logs, log).await {
        Ok(server) => {
            let ms = server.ready_after.as_secs_f64() * 1000.0;
            eprintln!("[start-up] {log}: {ms:.0} ms");
            server.stop().await;
            Outcome::Ok(ms)
        }
        Err(e) => {
            eprintln!("[start-up] {log} failed: {e:#}");
            Outcome::Failed(format!("{e:#}"))
        }
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => samples[n / 2],
        _ => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
