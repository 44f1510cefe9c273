//! The scheduler: one task per job, each a plain loop, so a job can never overlap itself.
//!
//! Each turn: wait for the next tick (wall clock, checked at least every second, so a clock
//! jump or a suspended laptop is noticed); if ticks were missed meanwhile, only the latest one
//! runs (no catch-up storm); claim the tick in the app's `default` store; run; release; log
//! how many ticks passed while the run was in flight (they are skipped, never replayed).
//!
//! The claim is what makes several runners sharing that store safe: a tick is taken by one
//! runner only, and while a run is in flight anywhere no runner starts another. The claim's
//! lease is `--max-request-duration`, which also bounds the run, so a runner killed mid-run
//! holds the job no longer than that. Stopping the scheduler stops the waiting; runs in
//! flight finish (the caller bounds that by the shutdown grace).

use super::run::run_once;
use crate::instances::Components;
use crate::kv::{Store, TickClaim};
use crate::manifest::CronJob;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Most ticks counted when reporting skips (a job every second, skipped for a day, would
/// otherwise take long to count).
const SKIP_COUNT_CAP: usize = 100_000;

pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// What every job loop shares.
struct Shared {
    components: Arc<Components>,
    claims: Arc<dyn Store>,
    /// This runner, in claims (unique per process and app).
    owner: String,
}

impl Scheduler {
    /// Starts a loop for each job; claims go to `claims` (the app's `default` store).
    pub fn start(jobs: &[CronJob], components: Arc<Components>, claims: Arc<dyn Store>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            components,
            claims,
            owner: uuid::Uuid::new_v4().to_string(),
        });
        let tasks = jobs
            .iter()
            .map(|job| tokio::spawn(job_loop(job.clone(), shared.clone(), stopped.clone())))
            .collect();
        Self { stop, tasks }
    }

    /// Stops scheduling; returns once runs in flight have finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The job's identity in claims: the same on every runner that serves the same manifest.
fn claim_name(job: &CronJob) -> String {
    format!("{}@{}", job.component, job.schedule.expression())
}

async fn job_loop(job: CronJob, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let component = job.component.as_str();
    let Some(config) = shared.components.config(component).cloned() else {
        tracing::error!(component, "periodic job: no such component; not scheduled");
        return;
    };
    let limit = config.limits.max_request_duration;
    // The run ends a little before its claim's lease does, so two runs never overlap.
    let run_deadline = limit.saturating_sub((limit / 4).min(Duration::from_millis(250)));
    let name = claim_name(&job);
    loop {
        let Some(next) = job.schedule.next_after(Utc::now()) else {
            tracing::warn!(component, "periodic job: its schedule has no more ticks");
            return;
        };
        if !wait_until(next, &mut stopped).await {
            return;
        }
        let tick = latest_due_tick(&job, next);
        match shared
            .claims
            .claim_tick(&name, tick.timestamp(), &shared.owner, limit)
            .await
        {
            Ok(TickClaim::Claimed) => {}
            Ok(TickClaim::AlreadyTaken) => {
                tracing::debug!(component, tick = %tick, "tick taken by another runner");
                continue;
            }
            Ok(TickClaim::RunInFlight) => {
                tracing::info!(
                    component,
                    tick = %tick,
                    "tick skipped: a run of this job is in flight on another runner"
                );
                continue;
            }
            Err(e) => {
                tracing::error!(component, tick = %tick, "tick skipped: cannot claim it: {e}");
                continue;
            }
        }
        let busy = shared.components.in_flight().enter();
        let started = Instant::now();
        tracing::info!(component, tick = %tick, "periodic run started");
        let timestamp = u64::try_from(tick.timestamp()).unwrap_or_default();
        let result = run_once(
            &config,
            shared.components.dispatcher(),
            timestamp,
            run_deadline,
        )
        .await;
        let took = started.elapsed();
        if let Err(e) = shared.claims.release_tick(&name, &shared.owner).await {
            tracing::warn!(
                component,
                "could not release the job's claim (it will expire): {e}"
            );
        }
        drop(busy);
        match result {
            Ok(()) => tracing::info!(component, tick = %tick, "periodic run finished in {took:?}"),
            Err(e) => config.log.error(format_args!(
                "periodic run failed after {took:?} (tick {tick}): {e}"
            )),
        }
        let (skipped, _) = job.schedule.ticks_in(tick, Utc::now(), SKIP_COUNT_CAP);
        if skipped > 0 {
            tracing::warn!(
                component,
                "{skipped} tick(s) of `{}` skipped while the run was in flight ({took:?}); \
                 runs never overlap, so the next run starts at the next tick",
                job.schedule.expression()
            );
        }
    }
}

/// Waits until the wall clock reaches `tick`; `false` if the scheduler stops first.
async fn wait_until(tick: DateTime<Utc>, stopped: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *stopped.borrow() {
            return false;
        }
        let left = (tick - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// The tick to run now: `due`, or, if the loop woke late (a long pause, a suspended
/// machine), the latest tick that has passed; the ones in between are skipped, and said so.
fn latest_due_tick(job: &CronJob, due: DateTime<Utc>) -> DateTime<Utc> {
    let now = Utc::now();
    let (missed, latest) = job.schedule.ticks_in(due, now, SKIP_COUNT_CAP);
    if missed > 0 {
        tracing::warn!(
            component = job.component.as_str(),
            "woke {}s late (machine suspended or overloaded): {missed} missed tick(s) skipped, \
             running the latest only",
            (now - due).num_seconds()
        );
    }
    latest.unwrap_or(due)
}
