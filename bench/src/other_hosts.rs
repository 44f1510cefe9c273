//! The other WebAssembly hosts measured beside the runner, when they can be had:
//! `wasmtime serve` 47 (installed with `cargo install` into `target/bench/wasmtime-cli`, once;
//! later runs reuse it) and Spin (the binary `SPIN=path` names). Each is either a path or the
//! reason it is skipped, which the report shows loudly.

use crate::paths::Paths;
use crate::process::{run_captured, run_visible};
use std::path::PathBuf;
use tokio::process::Command;

const WASMTIME_VERSION: &str = "47.0.2";

/// `wasmtime` 47.0.2, installed into the bench's own directory when missing.
pub async fn wasmtime(paths: &Paths) -> Result<PathBuf, String> {
    let root = paths.bench.join("wasmtime-cli");
    let binary = root.join("bin/wasmtime");
    if version_matches(&binary).await {
        return Ok(binary);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut install = Command::new(cargo);
    install
        .args([
            "install",
            "wasmtime-cli",
            "--locked",
            "--version",
            WASMTIME_VERSION,
        ])
        .arg("--root")
        .arg(&root);
    eprintln!(
        "==> installing wasmtime {WASMTIME_VERSION} for `wasmtime serve` (once; cached in {})",
        root.display()
    );
    match run_visible(&mut install).await {
        Ok(()) if version_matches(&binary).await => Ok(binary),
        Ok(()) => Err(format!(
            "cargo install did not leave wasmtime {WASMTIME_VERSION} at {}",
            binary.display()
        )),
        Err(e) => Err(format!(
            "cannot install wasmtime-cli {WASMTIME_VERSION}: {e:#}"
        )),
    }
}

async fn version_matches(binary: &PathBuf) -> bool {
    binary.is_file()
        && run_captured(Command::new(binary).arg("--version"))
            .await
            .is_ok_and(|out| out.contains(WASMTIME_VERSION))
}

/// Spin, if `SPIN` names it.
pub async fn spin() -> Result<PathBuf, String> {
    let Some(path) = std::env::var_os("SPIN").map(PathBuf::from) else {
        return Err("no Spin: set SPIN=/path/to/spin to measure it".into());
    };
    match run_captured(Command::new(&path).arg("--version")).await {
        Ok(_) => Ok(path),
        Err(e) => Err(format!("SPIN={} does not run: {e:#}", path.display())),
    }
}

/// `spin --version` or `wasmtime --version`, for the report.
pub async fn version(binary: &Result<PathBuf, String>) -> Option<String> {
    let binary = binary.as_ref().ok()?;
    run_captured(Command::new(binary).arg("--version"))
        .await
        .ok()
        .map(|out| out.trim().to_string())
}
