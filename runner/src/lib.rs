//! `runner`: hosts a Spin HTTP application (`spin.toml` + `wasm32-wasip2` components) on
//! wasmtime, tokio and hyper, without Spin installed.
//!
//! The library API is what the CLI and the tests use:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let options = runner::AppOptions::new("spin.toml").variable("sleep_seconds", "0.3");
//! let running = runner::start(&options, "127.0.0.1:0".parse()?).await?;
//! println!("{}", running.url());
//! running.stop().await;
//! # Ok(()) }
//! ```
//!
//! A request flows: `server` (accept) -> `router` (route, limits) -> `instances` (the
//! component's instances) -> `host` (the capability the guest calls) -> `kv` (the store
//! behind it). A periodic job's tick flows: `cron` (schedule, claim, run) -> a fresh
//! instance of its `component` -> `host` -> `kv`. Loading flows: `manifest` (+ `variables`,
//! `routes`, `allowed_hosts`, `runtime_config`; errors as `config_error`) -> `app` (stores,
//! compiling via `engine`, linking) -> `instances`.
//!
//! Tests of a Spin app (any app, any SDK) start it under `testing::TestApp`, which enters
//! through three seams production also has (`seams`): the guests' clock, the network behind
//! the allow-list, and each component's log.
//!
//! Everything not re-exported here is private to the crate.

mod allowed_hosts;
mod app;
mod build_step;
mod clock;
mod complete_body;
mod component;
mod componentize;
mod config_error;
mod cron;
mod engine;
mod files;
mod fresh_instances;
mod guest_limits;
mod host;
mod in_flight;
mod instances;
mod kv;
mod limits;
mod manifest;
mod pooling;
mod redis_trigger;
mod remote_source;
mod request_body;
mod request_log;
mod request_trace;
mod response_body;
mod router;
mod routes;
mod runtime_config;
mod seams;
mod server;
mod spin_headers;
mod sql;
pub mod telemetry;
pub mod testing;
mod tls;
mod unhosted;
mod variable_providers;
mod variables;
mod wasi_rc;
mod well_known;

pub use app::{App, AppOptions, TlsFiles};
pub use build_step::{build, ensure_rust_target};
pub use config_error::ConfigError;
pub use cron::JobError;
pub use engine::default_cache_dir;
pub use kv::sqlite::Durability;
pub use limits::{Limits, parse_duration};
pub use manifest::Manifest;
pub use pooling::{
    DEFAULT_POOLED_INSTANCES, InstanceAllocation, choose as choose_instance_allocation,
    in_use as instance_allocation,
};
pub use routes::{RoutePattern, best_match};

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// A route as served: which component answers it, at which URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRoute {
    pub component: String,
    /// The URL of the route (for a wildcard route `/a/...`, of its prefix `/a`).
    pub url: String,
    /// Whether the route also matches every path below it (`/...`).
    pub wildcard: bool,
}

/// A periodic job as scheduled: which component runs, on which cron expression, and when next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledJob {
    pub component: String,
    pub cron_expression: String,
    /// The next tick (UTC), as of when the app started serving.
    pub next_run: Option<std::time::SystemTime>,
}

/// A served app.
pub struct RunningApp {
    app: App,
    addr: SocketAddr,
    routes: Vec<ServedRoute>,
    jobs: Vec<ScheduledJob>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    scheduler: Option<cron::Scheduler>,
    redis_triggers: Option<redis_trigger::RedisTriggers>,
}

impl RunningApp {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (`https://` over TLS; no trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.app.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The routes served, in the manifest's order.
    pub fn routes(&self) -> &[ServedRoute] {
        &self.routes
    }

    /// The periodic jobs, in the manifest's order.
    pub fn jobs(&self) -> &[ScheduledJob] {
        &self.jobs
    }

    /// The Redis channels subscribed to, in the manifest's order: (server, channel, component).
    pub fn redis_channels(&self) -> Vec<(String, String, String)> {
        self.app
            .subscriptions
            .iter()
            .map(|s| (s.address.clone(), s.channel.clone(), s.component.clone()))
            .collect()
    }

    /// Runs the periodic job of `component` once, now (outside its schedule; no tick is
    /// claimed), and says how it ended.
    pub async fn run_job(&self, component: &str) -> Result<(), JobError> {
        self.app.run_job(component).await
    }

    /// The app being served.
    pub(crate) fn app(&self) -> &App {
        &self.app
    }

    /// Stops accepting and scheduling, lets open requests, job runs in flight and work
    /// guests do after their answers finish (together up to `Limits::shutdown_grace`), returns.
    pub async fn stop(self) {
        let grace = self.app.limits.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.shutdown.send(true);
        let scheduler = async {
            if let Some(scheduler) = self.scheduler {
                scheduler.stop().await;
            }
            if let Some(triggers) = self.redis_triggers {
                triggers.stop().await;
            }
        };
        let finished = tokio::time::timeout_at(deadline, async {
            let _ = tokio::join!(self.task, scheduler);
            self.app.components.in_flight().wait_idle().await;
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                "shutdown: {} piece(s) of guest work (job runs, work after an answer) did not \
                 finish within {grace:?} (--shutdown-grace); dropping them",
                self.app.components.in_flight().count()
            );
        }
        self.app.components.shutting_down();
    }

    /// Serves until `signal` completes, then stops as `stop` does.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }
}

/// Loads the app and serves it on `listen` (port 0 picks a free port).
pub async fn start(options: &AppOptions, listen: SocketAddr) -> anyhow::Result<RunningApp> {
    let app = App::load(options).await?;
    serve(app, listen).await
}

/// Serves an already loaded app on `listen`.
pub async fn serve(app: App, listen: SocketAddr) -> anyhow::Result<RunningApp> {
    serve_with(app, listen, true).await
}

/// Serves `app` on `listen`, with its periodic jobs on their schedules if `schedule_jobs`.
pub(crate) async fn serve_with(
    app: App,
    listen: SocketAddr,
    schedule_jobs: bool,
) -> anyhow::Result<RunningApp> {
    let tls = match &app.tls {
        Some(files) => Some(tls::Tls::load(&files.cert, &files.key)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let scheme = if app.tls.is_some() { "https" } else { "http" };
    let routes = app
        .manifest
        .routes
        .iter()
        .map(|route| {
            let pattern = route.pattern.as_str();
            let (path, wildcard) = match pattern.strip_suffix("/...") {
                Some(prefix) => (prefix, true),
                None => (pattern, false),
            };
            ServedRoute {
                component: route.component.clone(),
                url: format!("{scheme}://{addr}{path}"),
                wildcard,
            }
        })
        .collect();
    let (shutdown, receiver) = watch::channel(false);
    let well_known = well_known::WellKnown::new(
        &app.manifest.name,
        app.manifest.version.as_deref(),
        receiver.clone(),
    );
    let router = Arc::new(router::Router::new(
        app.manifest.routes.clone(),
        app.components.clone(),
        app.limits.clone(),
        well_known,
    ));
    let task = tokio::spawn(server::serve(listener, router, receiver, tls));
    let now = chrono::Utc::now();
    let jobs = app
        .manifest
        .jobs
        .iter()
        .map(|job| ScheduledJob {
            component: job.component.clone(),
            cron_expression: job.schedule.expression().to_string(),
            next_run: job.schedule.next_after(now).map(Into::into),
        })
        .collect();
    let scheduler = match app.stores.get(kv::open::DEFAULT) {
        Some(claims) if schedule_jobs && !app.manifest.jobs.is_empty() => Some(
            cron::Scheduler::start(&app.manifest.jobs, app.components.clone(), claims),
        ),
        _ => None,
    };
    let redis_triggers = (!app.subscriptions.is_empty())
        .then(|| redis_trigger::RedisTriggers::start(&app.subscriptions, app.components.clone()));
    Ok(RunningApp {
        app,
        addr,
        routes,
        jobs,
        shutdown,
        task,
        scheduler,
        redis_triggers,
    })
}
