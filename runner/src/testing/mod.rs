//! Testing a Spin app from Rust: start it in the test, with its world under the test's
//! control.
//!
//! Add the runner as a dev-dependency (`runner = { path = "..." }`) and start any Spin app
//! (any SDK, any number of components) from `#[tokio::test]`:
//!
//! ```no_run
//! use runner::testing::TestApp;
//! use std::time::Duration;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let app = TestApp::start(runner::AppOptions::new("spin.toml").variable("k", "v")).await?;
//!
//! // Outbound HTTP goes to mocks (after the manifest's allow-list), and is recorded.
//! app.outbound().on("GET", "https://api.example.com/users/1").respond(200, r#"{"id":1}"#);
//! let r = app.get("/users/1").await?;
//! assert_eq!(r.status, 200);
//! assert_eq!(app.outbound().requests().len(), 1);
//! assert!(app.outbound().unmatched().is_empty());
//!
//! // The app's stores and databases, in memory and private to this app.
//! app.key_value("default").set("greeting", "hi").await?;
//! assert_eq!(app.key_value("default").get("greeting").await?, Some(b"hi".to_vec()));
//! app.sqlite("default").execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)").await?;
//! let rows = app.sqlite("default").query("SELECT x FROM t").await?;
//! assert_eq!(rows.rows, vec![vec![runner::testing::SqlValue::Integer(1)]]);
//!
//! // Time: guests sleep on a clock only the test moves.
//! let app = std::sync::Arc::new(app);
//! let sleeping = app.spawn_get("/slow");
//! app.clock().wait_for_timer(Duration::from_secs(20)).await;
//! app.clock().advance(Duration::from_secs(20)).await;
//! let slow = sleeping.await??;
//!
//! // Periodic jobs run when the test says; work after the answer is waited for.
//! app.run_job("ticker").await?;
//! app.wait_idle().await;
//! let lines: Vec<String> = app.logs("ticker");
//! # let _ = (slow, lines);
//! # Ok(()) }
//! ```
//!
//! What a `TestApp` is, by default:
//! - **Isolated**: its key-value stores and SQLite databases live in memory, private to it,
//!   unless its `AppOptions` name a state directory or a runtime config (then the real
//!   backends, Redis included, and `key_value()`/`sqlite()` reach those). It listens on its
//!   own ephemeral port on 127.0.0.1, so tests run in parallel. `SPIN_VARIABLE_*` from the
//!   environment are not read (`TestApp::builder(..).env_variables()` reads them).
//! - **No network**: outbound HTTP to anything but `*.spin.internal` goes to the mocks of
//!   [`Outbound`], after the manifest's `allowed_outbound_hosts` check exactly as in
//!   production: a call the manifest forbids fails in the guest with the error it gets under
//!   Spin (`HttpRequestDenied`) and reaches no mock. A call no mock answers fails as a
//!   refused connection (`connection-refused`) and is listed in `unmatched()`.
//!   `*.spin.internal` chaining stays real, and so do non-HTTP connections (TCP sockets):
//!   point those at servers the test starts. `.real_network()` turns the mocks off.
//! - **Virtual time**: guests' wall and monotonic clocks, and their sleeps and timeouts, run
//!   on a [`Clock`] that starts at the real time and moves only when the test calls
//!   `advance` (WASI 0.2 and 0.3 guests alike; mock delays too). The runner's own limits
//!   (request deadline, CPU budget) stay on real time, so a stuck guest still fails. Do not
//!   pause tokio's clock (`start_paused`): the runner's limits and connections use it.
//!   `.real_clock()` gives guests real time.
//! - **Jobs on demand**: periodic jobs never run on their schedule; `run_job` runs one now
//!   (`run_job_at` for a given tick, which the job sees in its metadata).
//!   `.schedule_jobs()` runs them on their schedule (real time). A Redis handler gets a
//!   message with `redis_message`; the app's `[[trigger.redis]]` subscriptions are real, to
//!   the server its manifest names, like its outbound Redis, MQTT and database connections:
//!   point those at servers the test starts.
//! - **Logs captured**: each component's stdout and stderr lines, in order (`logs`), and the
//!   runner's own lines about it (a trap, a denied call: `log_lines`, `runner_logs`). They
//!   are also printed, captured by the test harness like `println!` (shown for a failing
//!   test, or with `cargo test -- --nocapture`); `.quiet()` keeps them to the capture.
//! - **Shareable**: `TestApp` is `Send + Sync` and every method but `stop` takes `&self`:
//!   hold it in an `Arc` to keep a request open in one task while another advances the clock.

#![warn(missing_docs)]

mod client;
mod outbound;
mod state;

pub use crate::cron::JobError;
pub use crate::host::logging::{LogLine, LogSource};
pub use crate::redis_trigger::HandlerError;
pub use client::TestResponse;
/// The `http` crate, for building requests for `TestApp::request`.
pub use http;
pub use outbound::{Failure, Mock, MockBuilder, MockResponse, Outbound, RecordedRequest};
pub use state::{KeyValue, Rows, SqlValue, Sqlite};

use crate::clock::VirtualClock;
use crate::host::logging::Capture;
use crate::seams::Seams;
use crate::{App, AppOptions, RunningApp, ScheduledJob, ServedRoute};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// Why `TestApp::redis_message` did not end with `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMessageError {
    /// The app has no component by that name.
    NoSuchComponent(String),
    /// The component does not export `handle-message`.
    NotAHandler(String),
    /// The handler returned an error, trapped, or passed a limit.
    Handler(HandlerError),
}

impl std::fmt::Display for RedisMessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchComponent(id) => write!(f, "the app has no component `{id}`"),
            Self::NotAHandler(id) => write!(
                f,
                "component `{id}` does not export `handle-message`, so it cannot handle Redis \
                 messages"
            ),
            Self::Handler(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RedisMessageError {}

/// A Spin app started for a test: served on an ephemeral port of 127.0.0.1, its world
/// (network, clock, stores, jobs, output) under the test's control. See the module docs.
pub struct TestApp {
    running: RunningApp,
    outbound: Outbound,
    clock: Clock,
    capture: Arc<Capture>,
    _dropped: QuietDrop,
}

/// A `TestApp` dropped without `stop` (a test that ended or panicked) is torn down with the
/// test's runtime; its guests' unfinished work is then no failure worth a log line.
struct QuietDrop(Arc<crate::instances::Components>);

impl Drop for QuietDrop {
    fn drop(&mut self) {
        self.0.shutting_down();
    }
}

/// How to start a `TestApp`, where its defaults do not suit (`TestApp::builder`).
#[must_use = "a TestAppBuilder does nothing until `start`"]
pub struct TestAppBuilder {
    options: AppOptions,
    real_clock: bool,
    real_network: bool,
    schedule_jobs: bool,
    quiet: bool,
    env_variables: bool,
}

impl TestAppBuilder {
    /// Guests see real time, and their sleeps take real time.
    pub fn real_clock(mut self) -> Self {
        self.real_clock = true;
        self
    }

    /// Outbound HTTP goes to the real network (after the allow-list); no mocks.
    pub fn real_network(mut self) -> Self {
        self.real_network = true;
        self
    }

    /// Periodic jobs run on their schedules, in real time, as under `runner up`.
    pub fn schedule_jobs(mut self) -> Self {
        self.schedule_jobs = true;
        self
    }

    /// Component output is captured but not printed.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// `SPIN_VARIABLE_*` environment variables are read, as `runner up` reads them.
    pub fn env_variables(mut self) -> Self {
        self.env_variables = true;
        self
    }

    /// Loads the app (manifest, stores, components) and serves it.
    pub async fn start(self) -> anyhow::Result<TestApp> {
        let mut options = self.options;
        options.read_env_variables = self.env_variables;
        let clock = (!self.real_clock).then(VirtualClock::new);
        let outbound = Outbound::new(clock.clone());
        let capture = Capture::new(self.quiet);
        let seams = Seams {
            clock: clock.clone(),
            network: (!self.real_network).then(|| outbound.network()),
            capture: Some(capture.clone()),
            private_state: options.state_dir.is_none() && options.runtime_config.is_none(),
        };
        let app = App::load_with(&options, seams).await?;
        let components = app.components.clone();
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        let running = crate::serve_with(app, listen, self.schedule_jobs).await?;
        Ok(TestApp {
            running,
            outbound,
            clock: Clock(clock),
            capture,
            _dropped: QuietDrop(components),
        })
    }
}

impl TestApp {
    /// Starts the app `options` name with the defaults of the module docs.
    pub async fn start(options: AppOptions) -> anyhow::Result<Self> {
        Self::builder(options).start().await
    }

    /// Starts the app with other settings: `TestApp::builder(options).real_clock().start()`.
    pub fn builder(options: AppOptions) -> TestAppBuilder {
        TestAppBuilder {
            options,
            real_clock: false,
            real_network: false,
            schedule_jobs: false,
            quiet: false,
            env_variables: false,
        }
    }

    /// `http://127.0.0.1:PORT`, for any HTTP client.
    pub fn url(&self) -> String {
        self.running.url()
    }

    /// The address the app listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The routes served, in the manifest's order.
    pub fn routes(&self) -> &[ServedRoute] {
        self.running.routes()
    }

    /// The periodic jobs the manifest declares.
    pub fn jobs(&self) -> &[ScheduledJob] {
        self.running.jobs()
    }

    /// `GET path` (`/users/1`), answered whole.
    pub async fn get(&self, path: &str) -> anyhow::Result<TestResponse> {
        let request = http::Request::get(path).body(Bytes::new())?;
        self.request(request).await
    }

    /// `GET path` in a task of its own, for a request kept open (say, asleep on the virtual
    /// clock) while the test goes on: `app.clock().advance(..)`, then await the handle.
    pub fn spawn_get(self: &Arc<Self>, path: &str) -> JoinHandle<anyhow::Result<TestResponse>> {
        let (app, path) = (self.clone(), path.to_string());
        tokio::spawn(async move { app.get(&path).await })
    }

    /// Any request: method, headers and body as given. A path-only URI goes to the app as is;
    /// for an absolute one, its authority becomes the `Host` the guests see.
    pub async fn request<B: Into<Bytes>>(
        &self,
        request: http::Request<B>,
    ) -> anyhow::Result<TestResponse> {
        client::send(self.addr(), request).await
    }

    /// The app's outbound HTTP: mount mocks, read what guests sent.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The key-value store `label` (`"default"`, or one the runtime config defines).
    pub fn key_value(&self, label: &str) -> KeyValue {
        KeyValue::new(label, self.app().stores.get(label))
    }

    /// The SQLite database `label` (`"default"`, or one the runtime config defines).
    pub fn sqlite(&self, label: &str) -> Sqlite {
        Sqlite::new(label, self.app().databases.get(label).cloned())
    }

    /// Runs the periodic job of `component` once, now (the clock's time as its tick), in a
    /// fresh instance with the limits of a request; how it ended.
    pub async fn run_job(&self, component: &str) -> Result<(), JobError> {
        self.app().run_job(component).await
    }

    /// Runs the periodic job of `component` once for the tick at `tick`.
    pub async fn run_job_at(&self, component: &str, tick: SystemTime) -> Result<(), JobError> {
        self.app().run_job_at(component, tick).await
    }

    /// Hands `payload` to `component`'s Redis handler (`handle-message`) as a message on its
    /// channel would, now, in a fresh instance with the limits of a request; how it ended.
    /// No Redis server is needed: this is the message without the subscription.
    pub async fn redis_message(
        &self,
        component: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), RedisMessageError> {
        let components = &self.app().components;
        let config = components
            .config(component)
            .ok_or_else(|| RedisMessageError::NoSuchComponent(component.to_string()))?;
        if config.redis_handler.is_none() {
            return Err(RedisMessageError::NotAHandler(component.to_string()));
        }
        let _busy = components.in_flight().enter();
        crate::redis_trigger::handle_message(
            config,
            components.dispatcher(),
            payload.into(),
            config.limits.max_request_duration,
        )
        .await
        .map_err(RedisMessageError::Handler)
    }

    /// Resolves once no request is open and no guest work is pending: nothing running after
    /// its answer, no job run in flight. Work sleeping on the virtual clock keeps it waiting
    /// until the clock is advanced (it says so on stderr every 10 s of real time).
    pub async fn wait_idle(&self) {
        let in_flight = self.app().components.in_flight();
        let started = std::time::Instant::now();
        loop {
            tokio::select! {
                () = in_flight.wait_idle() => return,
                () = tokio::time::sleep(Duration::from_secs(10)) => eprintln!(
                    "runner::testing: wait_idle: {} piece(s) of work still pending after {}s \
                     ({} timer(s) waiting on the virtual clock)",
                    in_flight.count(),
                    started.elapsed().as_secs(),
                    self.clock.pending_timers()
                ),
            }
        }
    }

    /// The stdout and stderr lines of `component` so far, in order, without line endings.
    pub fn logs(&self, component: &str) -> Vec<String> {
        self.capture
            .lines(Some(component))
            .into_iter()
            .filter(|line| line.source != LogSource::Runner)
            .map(|line| line.text)
            .collect()
    }

    /// Every line about `component` so far: its stdout and stderr, and the runner's own
    /// lines about it (a trap, a limit passed, a call denied), in order.
    pub fn log_lines(&self, component: &str) -> Vec<LogLine> {
        self.capture.lines(Some(component))
    }

    /// The runner's own lines about every component so far, each as `[component] message`.
    pub fn runner_logs(&self) -> Vec<String> {
        self.capture
            .lines(None)
            .into_iter()
            .filter(|line| line.source == LogSource::Runner)
            .map(|line| line.text)
            .collect()
    }

    /// The clock the app's guests see.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Stops the app as `runner up` stops on SIGTERM: open requests, job runs and work after
    /// answers may finish (up to `Limits::shutdown_grace`), then everything is dropped.
    pub async fn stop(self) {
        self.running.stop().await;
    }

    fn app(&self) -> &App {
        self.running.app()
    }
}

/// The clock a `TestApp`'s guests see (`TestApp::clock`).
pub struct Clock(Option<Arc<VirtualClock>>);

impl Clock {
    fn virtual_clock(&self) -> &Arc<VirtualClock> {
        self.0.as_ref().unwrap_or_else(|| {
            panic!("this TestApp runs on real time (TestAppBuilder::real_clock): no clock to move")
        })
    }

    /// Moves the guests' time forward by `by`. Timers that fall due on the way fire in
    /// order, each at its own time, and the guests they wake run until they wait again
    /// (bounded in real time) before the clock goes on. A sleep that starts after the
    /// advance counts from the new time.
    ///
    /// # Panics
    /// On a TestApp started with `real_clock()`.
    pub async fn advance(&self, by: Duration) {
        self.virtual_clock().advance(by).await;
    }

    /// The wall-clock time guests see (the real time without a virtual clock).
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            Some(clock) => clock.now(),
            None => SystemTime::now(),
        }
    }

    /// How far the clock has been advanced since the app started (zero on real time).
    pub fn elapsed(&self) -> Duration {
        self.0.as_ref().map(|c| c.elapsed()).unwrap_or_default()
    }

    /// The timers waiting for the clock: guest sleeps and timeouts, delayed mock answers.
    pub fn pending_timers(&self) -> usize {
        self.0
            .as_ref()
            .map(|c| c.pending_timers())
            .unwrap_or_default()
    }

    /// How long each waiting timer has left, soonest first (none on real time).
    pub fn timers(&self) -> Vec<Duration> {
        self.0.as_ref().map(|c| c.timers()).unwrap_or_default()
    }

    /// Resolves once at least `count` timers wait for the clock. Any timer counts: a guest's
    /// timeout on an outbound call as much as its sleep; to wait for one sleep in
    /// particular, `wait_for_timer`.
    ///
    /// # Panics
    /// On a TestApp started with `real_clock()`.
    pub async fn wait_for_timers(&self, count: usize) {
        self.virtual_clock().wait_for_timers(count).await;
    }

    /// Resolves once a timer due exactly `remaining` from now waits for the clock: a guest
    /// that has just begun a 20-second sleep, say. Advance after this, so the sleep counts
    /// from where it began.
    ///
    /// # Panics
    /// On a TestApp started with `real_clock()`.
    pub async fn wait_for_timer(&self, remaining: Duration) {
        self.virtual_clock().wait_for_timer(remaining).await;
    }
}

/// A `TestApp` can be shared between tasks.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<TestApp>();
};
