//! Small helpers for running tools: find a program on PATH, run a command with its output
//! shown, run one and capture its output.

use std::path::PathBuf;
use tokio::process::Command;

/// `program` on PATH, like `which`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Runs `command` with its output going to ours; fails unless it succeeds.
pub async fn run_visible(command: &mut Command) -> anyhow::Result<()> {
    let shown = describe(command);
    eprintln!("==> {shown}");
    let status = command
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    anyhow::ensure!(status.success(), "{shown}: {status}");
    Ok(())
}

/// Runs `command` and returns its stdout; fails (with its stderr) unless it succeeds.
pub async fn run_captured(command: &mut Command) -> anyhow::Result<String> {
    let shown = describe(command);
    let output = command
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{shown}: {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `program arg arg...`, for messages.
pub fn describe(command: &Command) -> String {
    let command = command.as_std();
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
