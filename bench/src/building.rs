//! Builds what the bench runs: the runner and the native server (`cargo build --release`),
//! then the WebAssembly components of the app and of the probe app (`runner build`, which adds
//! the wasm target itself).

use crate::paths::Paths;
use crate::process::run_visible;
use std::ffi::OsString;
use tokio::process::Command;

pub async fn build_all(paths: &Paths) -> anyhow::Result<()> {
    // `cargo run` tells its child which cargo it is.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cargo_build = Command::new(cargo);
    cargo_build
        .args(["build", "--release", "-p", "runner", "-p", "bench"])
        .current_dir(&paths.root);
    run_visible(&mut cargo_build).await?;

    for manifest in [&paths.manifest, &paths.probe_manifest] {
        let mut components = Command::new(paths.runner());
        components
            .arg("build")
            .arg("-f")
            .arg(manifest)
            .current_dir(&paths.root);
        run_visible(&mut components).await?;
    }
    Ok(())
}
