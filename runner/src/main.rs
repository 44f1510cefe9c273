//! The `runner` command line: `runner up` serves a Spin app like `spin up`; `runner build`
//! runs its build commands like `spin build`. Flags mirror Spin's.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use runner::{AppOptions, Durability, Limits, ScheduledJob, ServedRoute};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "runner",
    version,
    about = "Serve a Spin HTTP app on wasmtime, without Spin"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application (like `spin up`).
    Up(Box<UpArgs>),
    /// Run the components' build commands (like `spin build`).
    Build(BuildArgs),
    /// Periodic jobs (`[[trigger.cron]]`).
    #[command(subcommand)]
    Cron(CronCommand),
}

#[derive(Subcommand)]
enum CronCommand {
    /// Run a component's periodic job once, now; exit 0 if it returned Ok, 1 otherwise.
    Run(Box<CronRunArgs>),
}

#[derive(Parser)]
struct UpArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Build the components before serving.
    #[arg(long)]
    build: bool,
    #[command(flatten)]
    app: AppArgs,
}

#[derive(Parser)]
struct CronRunArgs {
    /// The component whose job runs.
    component: String,
    #[command(flatten)]
    app: AppArgs,
}

/// What loads the app, for every command that runs it.
#[derive(Parser)]
struct AppArgs {
    /// The manifest, or a directory containing spin.toml.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Set an application variable (repeatable): --variable name=value.
    #[arg(long = "variable", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    variables: Vec<(String, String)>,
    /// Directory for the app's state (default: .spin beside the manifest; "": in memory).
    #[arg(long, value_parser = any_path)]
    state_dir: Option<PathBuf>,
    /// Spin runtime config file (where key-value stores live, e.g. Redis).
    #[arg(long, env = "SPIN_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Set a key in the default key-value store before starting (repeatable): --key-value k=v.
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    key_values: Vec<(String, String)>,
    /// When a key-value write counts as done: `commit` (survives the runner being killed) or
    /// `fsync` (also on disk: survives power loss; commits are grouped).
    #[arg(long, default_value_t = Durability::default())]
    durability: Durability,
    /// Where compiled components are cached (default: $XDG_CACHE_HOME/runner or ~/.cache/runner).
    #[arg(long, env = "RUNNER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every component afresh, without the on-disk cache (overrides --cache-dir).
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// `runner up`'s limits; every default is `runner::Limits::default()`'s.
#[derive(Parser)]
#[command(next_help_heading = "Limits")]
struct LimitArgs {
    /// Maximum linear memory of one component instance, in bytes.
    #[arg(long, default_value_t = Limits::default().max_instance_memory)]
    max_instance_memory: usize,
    /// CPU time a guest may use without a break before it is stopped (10s, 500ms, ...).
    #[arg(long, default_value_t = DurationArg(Limits::default().max_request_cpu))]
    max_request_cpu: DurationArg,
    /// Wall-clock time for a whole request, body included.
    #[arg(long, default_value_t = DurationArg(Limits::default().max_request_duration))]
    max_request_duration: DurationArg,
    /// Requests one instance serves at once (1: a trap can only fail its own request).
    #[arg(long, default_value_t = Limits::default().max_instance_concurrent_reuse_count,
          value_parser = at_least_one)]
    max_instance_concurrent_reuse_count: usize,
    /// Requests one instance serves before it is replaced.
    #[arg(long, default_value_t = Limits::default().max_instance_reuse_count,
          value_parser = at_least_one)]
    max_instance_reuse_count: usize,
    /// Largest request body in bytes; larger requests get 413.
    #[arg(long, default_value_t = Limits::default().max_request_body)]
    max_request_body: u64,
    /// Time a client has to send a request's headers.
    #[arg(long, default_value_t = DurationArg(Limits::default().header_read_timeout))]
    header_read_timeout: DurationArg,
    /// Connections served at once; past it new connections get 503.
    #[arg(long, default_value_t = Limits::default().max_connections, value_parser = at_least_one)]
    max_connections: usize,
    /// How long shutdown (SIGINT/SIGTERM) lets open requests finish; a second signal exits at once.
    #[arg(long, default_value_t = DurationArg(Limits::default().shutdown_grace))]
    shutdown_grace: DurationArg,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_instance_memory: self.max_instance_memory,
            max_request_cpu: self.max_request_cpu.0,
            max_request_duration: self.max_request_duration.0,
            max_instance_concurrent_reuse_count: self.max_instance_concurrent_reuse_count,
            max_instance_reuse_count: self.max_instance_reuse_count,
            max_request_body: self.max_request_body,
            header_read_timeout: self.header_read_timeout.0,
            max_connections: self.max_connections,
            shutdown_grace: self.shutdown_grace.0,
        }
    }
}

/// A duration flag: parsed by `runner::parse_duration`, shown as `10s` / `250ms`.
#[derive(Clone, Copy)]
struct DurationArg(Duration);

impl std::str::FromStr for DurationArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        runner::parse_duration(text).map(Self)
    }
}

impl std::fmt::Display for DurationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0.subsec_nanos(), self.0.as_secs()) {
            (0, seconds) => write!(f, "{seconds}s"),
            _ => write!(f, "{}ms", self.0.as_millis()),
        }
    }
}

/// A path, the empty one included (clap's own path parser refuses it).
fn any_path(text: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(text))
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

#[derive(Parser)]
struct BuildArgs {
    /// The manifest, or a directory containing spin.toml.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Build only these components (repeatable).
    #[arg(short = 'c', long = "component-id")]
    components: Vec<String>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Up(args) => up(*args),
        Command::Build(args) => build(&args.from, &args.components),
        Command::Cron(CronCommand::Run(args)) => cron_run(*args),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn build(from: &std::path::Path, only: &[String]) -> anyhow::Result<()> {
    let options = AppOptions::new(from);
    let manifest = runner::Manifest::load(&options.manifest_file())?;
    runner::build(&manifest, only)
}

impl AppArgs {
    fn options(self) -> AppOptions {
        let mut options = AppOptions::new(&self.from);
        options.state_dir = self.state_dir;
        options.variables = self.variables.into_iter().collect();
        options.limits = self.limits.limits();
        options.durability = self.durability;
        options.cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.or_else(runner::default_cache_dir)
        };
        options.runtime_config = self.runtime_config_file;
        options.key_values = self.key_values;
        options
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.build {
        build(&args.app.from, &[])?;
    }
    let options = args.app.options();
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(async {
        let running = runner::start(&options, args.listen).await?;
        println!("Serving {}", running.url());
        println!("Available Routes:");
        for route in running.routes() {
            println!("  {}", describe(route));
        }
        if !running.jobs().is_empty() {
            println!("Periodic Jobs:");
            for job in running.jobs() {
                println!("  {}", describe_job(job));
            }
        }
        shutdown_signal().await;
        tracing::info!(
            "shutting down: no new connections; letting open requests finish (up to {:?}; \
             signal again to exit at once)",
            options.limits.shutdown_grace
        );
        tokio::select! {
            () = running.stop() => tracing::info!("stopped"),
            () = shutdown_signal() => {
                tracing::warn!("second signal: exiting now, dropping open requests");
                std::process::exit(130);
            }
        }
        anyhow::Ok(())
    })
}

/// `runner cron run`: loads the app (without serving it) and runs one job once.
fn cron_run(args: CronRunArgs) -> anyhow::Result<()> {
    let options = args.app.options();
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(async {
        let app = runner::App::load(&options).await?;
        app.run_job(&args.component).await?;
        println!("{}: the job ran and returned Ok", args.component);
        anyhow::Ok(())
    })
}

/// `component: expression (next run at ... UTC)`.
fn describe_job(job: &ScheduledJob) -> String {
    let next = match job.next_run {
        Some(time) => chrono::DateTime::<chrono::Utc>::from(time)
            .format("next run %Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        None => "no next run".to_string(),
    };
    format!("{}: {} ({next})", job.component, job.cron_expression)
}

/// A route as Spin prints it: `component: URL`, ` (wildcard)` for `/...`.
fn describe(route: &ServedRoute) -> String {
    let wildcard = if route.wildcard { " (wildcard)" } else { "" };
    format!("{}: {}{wildcard}", route.component, route.url)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
