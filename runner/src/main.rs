//! The `runner` command line: `runner up` serves a Spin app like `spin up`; `runner build`
//! runs its build commands like `spin build`. Flags mirror Spin's.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use runner::AppOptions;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    Up(UpArgs),
    /// Run the components' build commands (like `spin build`).
    Build(BuildArgs),
}

#[derive(Parser)]
struct UpArgs {
    /// The manifest, or a directory containing spin.toml.
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Build the components before serving.
    #[arg(long)]
    build: bool,
    /// Set an application variable (repeatable): --variable name=value.
    #[arg(long = "variable", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    variables: Vec<(String, String)>,
    /// Directory for the app's state (default: .spin beside the manifest).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Spin runtime config file (where key-value stores live, e.g. Redis).
    #[arg(long, env = "SPIN_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Set a key in the default key-value store before serving (repeatable): --key-value k=v.
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    key_values: Vec<(String, String)>,
    /// Maximum linear memory of one component instance, in bytes.
    #[arg(long, default_value_t = runner::app::DEFAULT_MAX_INSTANCE_MEMORY)]
    max_instance_memory: usize,
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
        .init();
    let result = match Cli::parse().command {
        Command::Up(args) => up(args),
        Command::Build(args) => build(&args.from, &args.components),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn build(from: &std::path::Path, only: &[String]) -> anyhow::Result<()> {
    let options = AppOptions::new(from);
    let manifest = runner::manifest::Manifest::load(&options.manifest_file())?;
    runner::build_step::build(&manifest, only)
}

fn up(args: UpArgs) -> anyhow::Result<()> {
    if args.build {
        build(&args.from, &[])?;
    }
    let mut options = AppOptions::new(&args.from);
    options.state_dir = args.state_dir;
    options.variables = args.variables.into_iter().collect();
    options.max_instance_memory = args.max_instance_memory;
    options.runtime_config = args.runtime_config_file;
    options.key_values = args.key_values;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(async {
        let running = runner::start(&options, args.listen).await?;
        println!("Serving {}", running.url());
        println!("Available Routes:");
        for route in running.routes() {
            println!("  {route}");
        }
        running
            .run_until(async {
                shutdown_signal().await;
                tracing::info!("shutting down: letting open requests finish");
            })
            .await;
        anyhow::Ok(())
    })
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
