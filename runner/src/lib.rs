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
//! A request flows: `server` (accept) -> `router` (route, limits) -> `instances` (the component's instances) ->
//! `host` (the capability the guest calls) -> `kv` (the store behind it).

pub mod allowed_hosts;
pub mod app;
pub mod build_step;
pub mod engine;
pub mod guest_limits;
pub mod host;
pub mod instances;
pub mod kv;
pub mod limits;
pub mod manifest;
pub mod request_body;
pub mod response_body;
pub mod router;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod variables;

pub use app::{App, AppOptions};

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// A served app.
pub struct RunningApp {
    addr: SocketAddr,
    routes: Vec<String>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    components: Arc<instances::Components>,
}

impl RunningApp {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The routes served, as Spin prints them: `component: URL` (` (wildcard)` for `/...`).
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    /// Stops accepting, lets open requests finish (up to `Limits::shutdown_grace`), returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.components.shutting_down();
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
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let routes = app
        .manifest
        .routes
        .iter()
        .map(|r| {
            let route = r.pattern.as_str();
            match route.strip_suffix("/...") {
                Some(prefix) => format!("{}: http://{addr}{prefix} (wildcard)", r.component),
                None => format!("{}: http://{addr}{route}", r.component),
            }
        })
        .collect();
    let router = Arc::new(router::Router::new(
        app.manifest.routes.clone(),
        app.components.clone(),
        app.limits.clone(),
    ));
    let (shutdown, receiver) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, router, receiver));
    Ok(RunningApp {
        components: app.components.clone(),
        addr,
        routes,
        shutdown,
        task,
    })
}
