//! One run of a periodic job: a fresh instance of the component (its capabilities, memory
//! cap and CPU budget, as for an HTTP request), `handle-cron-event` called with the tick's
//! time, all within a wall-clock deadline. How it ended is a `JobError` naming the cause.

use super::bindings::spin::cron::cron_types::{Error as GuestError, Metadata};
use crate::component::ComponentConfig;
use crate::host::outbound::Dispatch;
use std::fmt;
use std::sync::Weak;
use std::time::Duration;

/// Why a run did not end with `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The app has no component by that name.
    NoSuchComponent(String),
    /// The component does not export `handle-cron-event`.
    NotAJob(String),
    /// The guest returned `Err`.
    Guest(String),
    /// The guest trapped, passed its memory or CPU limit, or could not be instantiated.
    Failed(String),
    /// The run passed its wall-clock deadline.
    TimedOut(Duration),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchComponent(id) => write!(f, "the app has no component `{id}`"),
            Self::NotAJob(id) => write!(
                f,
                "component `{id}` does not export `handle-cron-event` (spin:cron@3.0.0), so it \
                 cannot run as a periodic job"
            ),
            Self::Guest(reason) => write!(f, "the job returned an error: {reason}"),
            Self::Failed(reason) => write!(f, "the job failed: {reason}"),
            Self::TimedOut(limit) => write!(
                f,
                "the job did not finish within {limit:?} (--max-request-duration)"
            ),
        }
    }
}

impl std::error::Error for JobError {}

/// Runs `config`'s job once for the tick at `timestamp` (seconds since the epoch), giving up
/// after `deadline`.
pub async fn run_once(
    config: &ComponentConfig,
    components: Weak<dyn Dispatch>,
    timestamp: u64,
    deadline: Duration,
) -> Result<(), JobError> {
    let pre = config
        .cron
        .as_ref()
        .ok_or_else(|| JobError::NotAJob(config.id.to_string()))?;
    let mut store = config.new_store(components);
    let span = tracing::trace_span!(
        target: crate::telemetry::TARGET,
        "job",
        otel.name = %format!("cron {}", config.id),
        otel.kind = "consumer",
        component = &*config.id,
        tick = timestamp,
    );
    if crate::telemetry::enabled() {
        store.data_mut().trace.started(span.clone());
    }
    let run = async {
        let job = pre.instantiate_async(&mut store).await?;
        store
            .run_concurrent(async |accessor| {
                job.call_handle_cron_event(accessor, Metadata { timestamp })
                    .await
            })
            .await?
    };
    match tokio::time::timeout(deadline, tracing::Instrument::instrument(run, span)).await {
        Err(_) => Err(JobError::TimedOut(deadline)),
        Ok(Err(trap)) => Err(JobError::Failed(trap.root_cause().to_string())),
        Ok(Ok(Err(GuestError::Other(reason)))) => Err(JobError::Guest(reason)),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}
