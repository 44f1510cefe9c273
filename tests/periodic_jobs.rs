//! Periodic jobs (`[[trigger.cron]]`): the app's `ticker` runs every 2 s and counts its runs;
//! a run never overlaps another, on one runner or across runners sharing a Redis store (each
//! tick runs once in all); a runner killed mid-run holds the job no longer than the run's
//! deadline; a failing job keeps its schedule; `runner cron run` runs a job once and says
//! how it ended; the library runs a job on request.
//!
//! The real `runner up` processes run here, and the ticker prints when each run starts and
//! finishes (milliseconds since the epoch), so the tests read run intervals from their output.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{
    RedisServer, RunnerProcess, build_once, client, ensure_built, get, manifest_path, repo_root,
};

/// One run, as the ticker printed it.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    tick: u64,
    start_ms: u64,
    end_ms: Option<u64>,
}

/// Every run a runner's output shows, in order of start.
fn runs(runner: &RunnerProcess) -> Vec<Run> {
    let number_after = |line: &str, marker: &str| -> Option<u64> {
        let rest = &line[line.find(marker)? + marker.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let mut runs: Vec<Run> = Vec::new();
    for line in runner.lines_with("[ticker] run for tick ") {
        let Some(tick) = number_after(&line, "run for tick ") else {
            continue;
        };
        if let Some(start_ms) = number_after(&line, "started at ") {
            runs.push(Run {
                tick,
                start_ms,
                end_ms: None,
            });
        } else if let Some(end_ms) = number_after(&line, "finished at ")
            && let Some(run) = runs.iter_mut().rev().find(|r| r.tick == tick)
        {
            run.end_ms = Some(end_ms);
        }
    }
    runs.sort_by_key(|r| r.start_ms);
    runs
}

/// Asserts that no two finished runs' [start, end] intervals intersect.
fn assert_no_overlap(runs: &[Run]) {
    let finished: Vec<&Run> = runs.iter().filter(|r| r.end_ms.is_some()).collect();
    for pair in finished.windows(2) {
        assert!(
            pair[0].end_ms.unwrap() <= pair[1].start_ms,
            "two runs overlap: {:?} and {:?} (all: {runs:?})",
            pair[0],
            pair[1]
        );
    }
}

/// Waits (up to `timeout`) for the first run of `runner` that `wanted` accepts.
async fn first_run(
    runner: &RunnerProcess,
    timeout: Duration,
    wanted: impl Fn(&Run) -> bool,
) -> Run {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(run) = runs(runner).into_iter().find(&wanted) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such run within {timeout:?}: {}",
            runner.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_app(state: &Path, args: &[&str]) -> RunnerProcess {
    ensure_built();
    RunnerProcess::start(&manifest_path(), state, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_faster_than_its_interval_runs_every_tick_and_counts() {
    let state = tempfile::tempdir().unwrap();
    let runner = start_app(state.path(), &[]);
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    let runs = runs(&runner);
    let finished: Vec<&Run> = runs.iter().filter(|r| r.end_ms.is_some()).collect();
    assert!(finished.len() >= 3, "a run every 2 s: {runs:?}");
    for pair in finished.windows(2) {
        assert_eq!(pair[1].tick - pair[0].tick, 2, "no tick missed: {runs:?}");
    }
    assert_no_overlap(&runs);
    let ticks = get(&client(), &format!("{}/ticks", runner.url)).await;
    assert_eq!(ticks.status, 200);
    let counted: usize = ticks
        .text()
        .strip_prefix("TICKS ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a TICKS answer: {}", ticks.text()));
    assert!(counted >= finished.len(), "{counted} < {finished:?}");
    assert!(ticks.headers.contains_key("x-last-run"));
    assert!(
        !runner.log().contains("skipped while the run was in flight"),
        "{}",
        runner.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_slower_than_its_interval_never_overlaps_and_its_skips_are_logged() {
    let state = tempfile::tempdir().unwrap();
    // Each run works 3 s on a 2 s schedule: runs start every 4 s, one tick skipped each time.
    let runner = start_app(state.path(), &["--variable", "tick_work_seconds=3"]);
    tokio::time::sleep(Duration::from_millis(11_500)).await;
    let runs = runs(&runner);
    let finished: Vec<&Run> = runs.iter().filter(|r| r.end_ms.is_some()).collect();
    assert!(finished.len() >= 2, "{runs:?}");
    assert_no_overlap(&runs);
    for pair in runs.windows(2) {
        assert_eq!(
            pair[1].tick - pair[0].tick,
            4,
            "the next run starts at the first tick after the previous run ended: {runs:?}"
        );
    }
    for run in &finished {
        let took = run.end_ms.unwrap() - run.start_ms;
        assert!((2_900..6_000).contains(&took), "a run works 3 s: {run:?}");
    }
    runner.wait_for_log(
        &["1 tick(s) of `*/2 * * * * *` skipped while the run was in flight"],
        Duration::from_secs(5),
    );
}

/// Two runners of the app sharing `redis` as their `default` store, with their own extra
/// arguments, and the directories they use (kept until dropped).
fn two_runners(
    redis: &RedisServer,
    a_args: &[&str],
    b_args: &[&str],
) -> (RunnerProcess, RunnerProcess, [tempfile::TempDir; 3]) {
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let config = redis.runtime_config(dirs[0].path());
    let start = |state: &Path, extra: &[&str]| {
        let mut args = vec!["--runtime-config-file", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        start_app(state, &args)
    };
    let a = start(dirs[1].path(), a_args);
    let b = start(dirs[2].path(), b_args);
    (a, b, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_on_one_redis_run_each_tick_once_and_never_at_the_same_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // 1.5 s of work on a 2 s schedule: every tick can run, but only on one runner at a time.
    let work = ["--variable", "tick_work_seconds=1.5"];
    let (a, b, _dirs) = two_runners(&redis, &work, &work);
    tokio::time::sleep(Duration::from_millis(12_500)).await;

    let (runs_a, runs_b) = (runs(&a), runs(&b));
    let mut all: Vec<Run> = runs_a.iter().chain(&runs_b).cloned().collect();
    all.sort_by_key(|r| r.start_ms);
    let mut ticks: Vec<u64> = all.iter().map(|r| r.tick).collect();
    let total = ticks.len();
    ticks.dedup();
    assert_eq!(
        ticks.len(),
        total,
        "a tick ran twice: A {runs_a:?}, B {runs_b:?}"
    );
    assert!(total >= 5, "A {runs_a:?}, B {runs_b:?}");
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 2, "every tick ran once in all: {all:?}");
    }
    assert_no_overlap(&all);
    let counted = redis
        .command(&["GET", "ticks"])
        .unwrap()
        .unwrap_or_default();
    let finished = all.iter().filter(|r| r.end_ms.is_some()).count();
    let counted: usize = counted.parse().unwrap();
    assert!(
        (finished..=finished + 1).contains(&counted),
        "{counted} runs counted, {finished} seen finished"
    );
    // The claim (the last tick taken) is kept in Redis, under the runner's own prefix.
    let claimed = redis
        .command(&["GET", "__runner_cron:ticker@*/2 * * * * *:tick"])
        .unwrap()
        .unwrap_or_default();
    let claimed: u64 = claimed.parse().expect("a tick");
    let last = *ticks.last().unwrap();
    assert!((last..=last + 2).contains(&claimed), "{claimed} vs {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_mid_run_holds_the_job_no_longer_than_the_run_deadline() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // A's runs would work 30 s; B's finish at once; a run's deadline is 4 s.
    let (a, b, _dirs) = two_runners(
        &redis,
        &[
            "--max-request-duration",
            "4s",
            "--variable",
            "tick_work_seconds=30",
        ],
        &["--max-request-duration", "4s"],
    );

    // Wait until A holds a run (the two race for each tick).
    let held = first_run(&a, Duration::from_secs(30), |_| true).await;
    // While it does, B skips the ticks and says why.
    b.wait_for_log(
        &["a run of this job is in flight on another runner"],
        Duration::from_secs(5),
    );
    a.signal("KILL");

    // B runs again once A's claim has expired: 4 s after A claimed its tick, at the next tick.
    let next = first_run(&b, Duration::from_secs(15), |r| r.tick > held.tick).await;
    assert!(
        next.tick >= held.tick + 4,
        "B ran while A's run was still in its deadline: A {held:?}, B {next:?}"
    );
    assert!(
        next.tick <= held.tick + 4 + 2 + 1,
        "the job stayed blocked past the deadline: A {held:?}, B {next:?}"
    );
}

/// The hostile test app with a job for its component, run every second.
fn hostile_with_a_job(dir: &Path) -> PathBuf {
    let hostile = repo_root().join("tests/guests/hostile/spin.toml");
    build_once(&hostile);
    let text = std::fs::read_to_string(&hostile).unwrap();
    let text = text.replace(
        "../../../target/",
        &format!("{}/target/", repo_root().display()),
    );
    let text = format!(
        "{text}\n[[trigger.cron]]\ncomponent = \"hostile\"\ncron_expression = \"* * * * * *\"\n"
    );
    let manifest = dir.join("spin.toml");
    std::fs::write(&manifest, text).unwrap();
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_traps_or_fails_keeps_its_schedule_and_the_app_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_with_a_job(dir.path());
    for (mode, cause) in [
        ("trap", "hostile job traps on purpose"),
        ("err", "hostile job fails on purpose"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let variable = format!("cron_mode={mode}");
        let runner = RunnerProcess::start(&manifest, state.path(), &["--variable", &variable]);
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        let failures = runner.lines_with("periodic run failed");
        assert!(failures.len() >= 3, "{mode}: runs go on: {}", runner.log());
        assert!(
            failures.iter().all(|l| l.contains("hostile")),
            "the failure names the component: {failures:?}"
        );
        runner.wait_for_log(&[cause], Duration::from_secs(2));
        let ok = get(&client(), &format!("{}/ok", runner.url)).await;
        assert_eq!(ok.status, 200, "{mode}");
    }
}

/// `runner cron run COMPONENT ...`: its exit code and output.
fn cron_run(manifest: &Path, component: &str, args: &[&str]) -> (i32, String) {
    let state = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["cron", "run", component, "-f"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state.path())
        .args(args)
        .output()
        .expect("runner runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn runner_cron_run_exits_0_on_ok_and_1_with_the_reason_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = hostile_with_a_job(dir.path());
    let (code, out) = cron_run(&manifest, "hostile", &["--variable", "cron_mode=ok"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cron run: ok"), "{out}");
    for (mode, expected) in [
        (
            "err",
            "the job returned an error: hostile job fails on purpose",
        ),
        ("trap", "the job failed"),
        ("loop", "did not finish within"),
    ] {
        let variable = format!("cron_mode={mode}");
        let (code, out) = cron_run(
            &manifest,
            "hostile",
            &["--variable", &variable, "--max-request-duration", "2s"],
        );
        assert_eq!(code, 1, "{mode}: {out}");
        assert!(out.contains(expected), "{mode}: {out}");
    }
    let (code, out) = cron_run(&manifest, "test2", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("does not export `handle-cron-event`"), "{out}");
    let (code, out) = cron_run(&manifest, "nobody", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no component `nobody`"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_runs_a_job_now_and_says_how_it_ended() {
    let state = tempfile::tempdir().unwrap();
    let options = support::app_options(&[]).state_dir(state.path());
    let running = runner::start(&options, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let before = support::stored_counter(state.path(), "ticks").unwrap_or(0);
    running.run_job("ticker").await.expect("the ticker runs");
    let after = support::stored_counter(state.path(), "ticks").unwrap();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(
        running.run_job("test2").await,
        Err(runner::JobError::NotAJob("test2".into()))
    );
    let jobs = running.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].component.as_str(), jobs[0].cron_expression.as_str()),
        ("ticker", "*/2 * * * * *")
    );
    let next = jobs[0].next_run.expect("a next run");
    let ahead = next
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(ahead <= Duration::from_secs(2), "{ahead:?}");
    running.stop().await;
}
