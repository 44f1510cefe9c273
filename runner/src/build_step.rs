//! `runner build`: runs each component's `[component.x.build]` commands, like `spin build`.
//! Rust components need the `wasm32-wasip2` target; when it is missing it is installed with
//! `rustup target add` (and the user is told), since a toolchain file alone installs nothing
//! where `RUSTUP_AUTO_INSTALL=0`.

use crate::manifest::Manifest;
use anyhow::{Context as _, bail};
use std::path::Path;
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Builds every component that declares a build (or only those in `only`, if given).
pub fn build(manifest: &Manifest, only: &[String]) -> anyhow::Result<()> {
    for id in only {
        if !manifest.components.contains_key(id) {
            bail!("{}: no component `{id}`", manifest.path.display());
        }
    }
    let selected: Vec<_> = manifest
        .components
        .values()
        .filter(|c| only.is_empty() || only.contains(&c.id))
        .collect();
    let needs_target = selected
        .iter()
        .filter_map(|c| c.build.as_ref())
        .any(|b| b.command.iter().any(|c| c.contains(WASM_TARGET)));
    if needs_target {
        ensure_rust_target(WASM_TARGET)?;
    }
    for component in selected {
        let Some(build) = &component.build else {
            println!("{}: no build command, skipped", component.id);
            continue;
        };
        for command in &build.command {
            println!("Building component {} with `{command}`", component.id);
            run(command, &build.workdir)
                .with_context(|| format!("building component `{}`", component.id))?;
        }
    }
    println!("Finished building all Spin components");
    Ok(())
}

fn run(command: &str, workdir: &Path) -> anyhow::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .status()
        .with_context(|| format!("starting `{command}` in {}", workdir.display()))?;
    if !status.success() {
        bail!("`{command}` failed ({status})");
    }
    Ok(())
}

/// Whether rustc can build for `target`, judged by the target's std in the sysroot.
fn target_installed(target: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(output) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .is_dir()
}

/// Installs the Rust target `target` (e.g. `wasm32-wasip2`) with rustup when it is missing,
/// saying so.
pub fn ensure_rust_target(target: &str) -> anyhow::Result<()> {
    if target_installed(target) {
        return Ok(());
    }
    println!(
        "The Rust target {target} is missing; installing it with `rustup target add {target}`"
    );
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .with_context(|| {
            format!("running rustup (install the target by hand: `rustup target add {target}`)")
        })?;
    if !status.success() || !target_installed(target) {
        bail!("could not install the {target} target ({status}); run `rustup target add {target}`");
    }
    Ok(())
}
