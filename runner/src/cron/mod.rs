//! Periodic jobs, the way Spin's cron trigger plugin runs them (`[[trigger.cron]]`, a
//! component exporting `spin:cron@3.0.0`'s `handle-cron-event`), without the plugin's gap:
//! runs of a job never overlap, here or across runners.
//!
//! - `schedule`: the cron expression and the ticks it gives (UTC, whole seconds).
//! - `run`: one run of a job in a fresh instance, with the limits of an HTTP request.
//! - `scheduler`: one loop per job: wait for the next tick, claim it in the app's `default`
//!   store (so runners sharing that store run each tick once in all, and never two runs at
//!   once), run, release, log the ticks skipped while it ran.

pub mod bindings;
mod run;
mod schedule;
mod scheduler;

pub use run::{JobError, run_once};
pub use schedule::Schedule;
pub use scheduler::Scheduler;
