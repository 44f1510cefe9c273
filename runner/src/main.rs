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
    /// Address to listen on: `IP:PORT` or `HOST:PORT` (`localhost:3000`). [spin up: the same]
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000",
          value_parser = parse_listen_addr)]
    listen: SocketAddr,
    /// If the port is taken, try the next ones (up to 100). [spin up: the same]
    #[arg(long)]
    find_free_port: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key). [spin up: the same]
    #[arg(long, env = "SPIN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert. [spin up: the same]
    #[arg(long, env = "SPIN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve only these components' triggers (repeatable). [spin up: the same]
    #[arg(short = 'c', long = "component-id")]
    components: Vec<String>,
    /// Build the components before serving. [spin up: the same]
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
    /// The manifest, or a directory containing spin.toml. [spin up: the same; no registry or
    /// OCI sources]
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Set an application variable (repeatable): --variable name=value, or name=@file for a
    /// file's contents. [spin up: the same, less @file.json/@file.toml maps]
    #[arg(long = "variable", value_name = "KEY=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Directory for the app's state (default: the runtime config's `state_dir`, else .spin
    /// beside the manifest; "": in memory). [spin up: the same]
    #[arg(long, value_parser = any_path)]
    state_dir: Option<PathBuf>,
    /// Spin runtime config file (stores, databases, variables providers, state_dir, log_dir);
    /// also read from SPIN_RUNTIME_CONFIG_FILE. [spin up: the same]
    #[arg(long, env = "RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Set a key in the default key-value store before starting (repeatable): --key-value k=v.
    /// [spin up: the same]
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    key_values: Vec<(String, String)>,
    /// Run a statement against the default SQLite database before starting (repeatable;
    /// @file runs a file's statements). [spin up: the same]
    #[arg(long = "sqlite", value_name = "STATEMENT")]
    sqlite_statements: Vec<String>,
    /// Set an environment variable for every component (repeatable): -e KEY=VALUE.
    /// [spin up: the same]
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    env: Vec<(String, String)>,
    /// Also write each component's stdout and stderr to DIR/<component>_stdout.txt and
    /// _stderr.txt. [spin up: the same, but spin up writes them under .spin/logs by default]
    #[arg(short = 'L', long = "log-dir", env = "SPIN_LOG_DIR")]
    log_dir: Option<PathBuf>,
    /// When a key-value write counts as done: `commit` (survives the runner being killed) or
    /// `fsync` (also on disk: survives power loss; commits are grouped). [spin up: none; it
    /// fsyncs every write]
    #[arg(long, default_value_t = Durability::default())]
    durability: Durability,
    /// Where compiled components and downloaded sources are cached (default:
    /// $XDG_CACHE_HOME/runner or ~/.cache/runner). [spin up: --cache-dir holds downloads,
    /// wasmtime's compile cache is configured by --cache FILE]
    #[arg(long, env = "RUNNER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every component afresh, without the on-disk cache (overrides --cache-dir).
    /// [spin up: --disable-cache]
    #[arg(long)]
    no_cache: bool,
    /// Allocate each instance's memory on demand instead of from wasmtime's instance pool
    /// (the pool is reserved at start, about 8 TiB of address space for its default 1,000
    /// instances; SPIN_MAX_INSTANCE_COUNT sets that number, and when every slot is taken new
    /// requests get 503). Without this flag the runner falls back to on-demand by itself where
    /// the pool cannot be reserved. A reused slot's memory is put back to the module's image
    /// page by page where Linux (6.7+) says which pages the last instance wrote, keeping up to
    /// 32 MiB of them mapped per slot (SPIN_WASMTIME_LINEAR_MEMORY_KEEP_RESIDENT, in bytes);
    /// RUNNER_PAGEMAP_SCAN=0 resets as Spin does (2 MiB kept, the rest unmapped). [spin up:
    /// the same flag; the same variables and defaults, except the page-by-page reset]
    #[arg(long)]
    disable_pooling: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// `runner up`'s limits; every default is `runner::Limits::default()`'s.
#[derive(Parser)]
#[command(next_help_heading = "Limits")]
struct LimitArgs {
    /// Maximum linear memory of one component instance, in bytes. [spin up: the same,
    /// SPIN_MAX_INSTANCE_MEMORY, unlimited by default]
    #[arg(long, default_value_t = Limits::default().max_instance_memory)]
    max_instance_memory: usize,
    /// CPU time a guest may use without a break before it is stopped (10s, 500ms, ...).
    /// [spin up: none]
    #[arg(long, default_value_t = DurationArg(Limits::default().max_request_cpu))]
    max_request_cpu: DurationArg,
    /// Wall-clock time for a whole request, body included. [spin up: --request-timeout,
    /// none by default]
    #[arg(long, default_value_t = DurationArg(Limits::default().max_request_duration))]
    max_request_duration: DurationArg,
    /// Requests one instance serves at once (1: a trap can only fail its own request).
    /// [spin up: the same name, 16 by default]
    #[arg(long, default_value_t = Limits::default().max_instance_concurrent_reuse_count,
          value_parser = at_least_one)]
    max_instance_concurrent_reuse_count: usize,
    /// Requests one instance serves before it is replaced. [spin up: the same name, 128 by
    /// default]
    #[arg(long, default_value_t = Limits::default().max_instance_reuse_count,
          value_parser = at_least_one)]
    max_instance_reuse_count: usize,
    /// Largest request body in bytes; larger requests get 413. [spin up: none]
    #[arg(long, default_value_t = Limits::default().max_request_body)]
    max_request_body: u64,
    /// Time a client has to send a request's headers (and to finish a TLS handshake).
    /// [spin up: none]
    #[arg(long, default_value_t = DurationArg(Limits::default().header_read_timeout))]
    header_read_timeout: DurationArg,
    /// Connections served at once; past it new connections get 503. [spin up: none]
    #[arg(long, default_value_t = Limits::default().max_connections, value_parser = at_least_one)]
    max_connections: usize,
    /// How long shutdown (SIGINT/SIGTERM) lets open requests finish; a second signal exits at
    /// once. [spin up: none; it drops open requests]
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

/// `name=value`, or `name=@file` for the contents of `file`.
fn parse_variable(s: &str) -> Result<(String, String), String> {
    let (name, value) = parse_key_value(s)?;
    match value.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)
            .map(|contents| (name, contents))
            .map_err(|e| format!("--variable {s}: {file}: {e}")),
        None => Ok((name, value)),
    }
}

/// `IP:PORT`, or `HOST:PORT` resolved (127.0.0.1 preferred, as Spin does).
fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("`{s}` is not an address to listen on: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST)
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

fn main() {
    let cli = Cli::parse();
    let telemetry = match init_logging(&cli) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(1);
        }
    };
    let result = match cli.command {
        Command::Up(args) => up(*args),
        Command::Build(args) => build(&args.from, &args.components),
        Command::Cron(CronCommand::Run(args)) => cron_run(*args),
    };
    // Exporters flush what they hold before the process ends.
    drop(telemetry);
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

/// The console log (RUST_LOG; the request log `runner::request` is off unless it asks for
/// it) and, when the OTEL_EXPORTER_OTLP_* variables ask for it, OpenTelemetry export.
fn init_logging(cli: &Cli) -> anyhow::Result<Option<runner::telemetry::Telemetry>> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| "info,runner::request=off,wasmtime=warn,cranelift=warn".into());
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let registry = tracing_subscriber::registry().with(console);
    if !runner::telemetry::requested() {
        registry.init();
        return Ok(None);
    }
    let (telemetry, layer) = runner::telemetry::start(&service_name(cli))?;
    registry.with(layer).init();
    Ok(Some(telemetry))
}

/// The service OpenTelemetry names: the app's name (OTEL_SERVICE_NAME overrides it).
fn service_name(cli: &Cli) -> String {
    let from = match &cli.command {
        Command::Up(args) => &args.app.from,
        Command::Cron(CronCommand::Run(args)) => &args.app.from,
        Command::Build(args) => &args.from,
    };
    runner::Manifest::load(&AppOptions::new(from).manifest_file())
        .map(|m| m.name)
        .unwrap_or_else(|_| "runner".into())
}

fn build(from: &std::path::Path, only: &[String]) -> anyhow::Result<()> {
    let options = AppOptions::new(from);
    let manifest = runner::Manifest::load(&options.manifest_file())?;
    runner::build(&manifest, only)
}

impl AppArgs {
    fn options(self) -> AppOptions {
        // The engine is made once per process, when the first app loads: choose now.
        let allocation = match self.disable_pooling {
            true => runner::InstanceAllocation::OnDemand,
            false => runner::InstanceAllocation::default(),
        };
        runner::choose_instance_allocation(allocation)
            .expect("the instance allocation is chosen before any app loads");
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
        // Spin reads RUNTIME_CONFIG_FILE; earlier versions of this runner read this name.
        options.runtime_config = self
            .runtime_config_file
            .or_else(|| std::env::var_os("SPIN_RUNTIME_CONFIG_FILE").map(PathBuf::from));
        options.key_values = self.key_values;
        options.sqlite_statements = self.sqlite_statements;
        options.env = self.env;
        options.log_dir = self.log_dir;
        options
    }
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.build {
        build(&args.app.from, &args.components)?;
    }
    let mut options = args.app.options();
    options.components = args.components;
    options.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(runner::TlsFiles { cert, key }),
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(async {
        let listen = match args.find_free_port {
            true => free_port_from(args.listen)?,
            false => args.listen,
        };
        let running = runner::start(&options, listen).await?;
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
        let channels = running.redis_channels();
        if !channels.is_empty() {
            println!("Redis Channels:");
            for (address, channel, component) in channels {
                println!("  {component}: {address} `{channel}`");
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

/// `--find-free-port`: `addr`, or the first of the next 100 ports that is free.
fn free_port_from(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    for offset in 0..=100u16 {
        let candidate = SocketAddr::new(addr.ip(), addr.port().saturating_add(offset));
        if std::net::TcpListener::bind(candidate).is_ok() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "--find-free-port: ports {} to {} are all taken",
        addr.port(),
        addr.port().saturating_add(100)
    )
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
