//! The wasmtime engine (one per process, one configuration) and component loading (core
//! modules are made into components first, by `componentize`; components built for WASI
//! 0.3's release candidate get 0.3.0 names, by `wasi_rc`).
//!
//! Compiling a component is most of the cost of starting. Compiled code is cached twice: in
//! memory, keyed by the wasm's hash (tests start many apps in one process), and on disk in a
//! cache directory, as wasmtime's serialized form in a file named by the SHA-256 of the wasm
//! and a hash of the engine's compatibility settings. A rebuilt component or another engine
//! (wasmtime version, settings) therefore never loads stale code; and since wasmtime checks
//! the engine's settings again when it loads a file, a file that does not fit is compiled
//! afresh and replaced. Cache files are trusted as machine code: the directory must be
//! writable by this user only (the default, `$XDG_CACHE_HOME/runner` or `~/.cache/runner`,
//! is).

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The process-wide engine: component model with WASI 0.3 async, instances allocated as
/// `pooling` was told (pooled by default).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_component_model_async(true);
        // CPU accounting and preemption of spinning guests (see `guest_limits`).
        config.epoch_interruption(true);
        let engine = crate::pooling::make_engine(&config);
        crate::guest_limits::start_epoch_ticker(&engine);
        engine
    })
}

/// The default on-disk cache: `$XDG_CACHE_HOME/runner`, else `~/.cache/runner`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("runner"))
}

/// Reads the component at `path` and returns it compiled: from memory, from `cache_dir`, or
/// compiled now (and then stored in both).
pub fn load_component(path: &Path, cache_dir: Option<&Path>) -> anyhow::Result<Component> {
    static COMPILED: OnceLock<Mutex<HashMap<[u8; 32], Component>>> = OnceLock::new();
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    if wasmparser::Parser::is_core_wasm(&bytes) {
        // A module is compiled as the component it becomes: that depends on the adapter too.
        hasher.update(crate::componentize::ADAPTER);
    }
    let release_candidate = crate::wasi_rc::uses_release_candidate(&bytes);
    if release_candidate {
        // Compiled as renamed: a change to the renaming must not load stale code.
        hasher.update(crate::wasi_rc::RENAMING);
    }
    hasher.update(&bytes);
    let digest: [u8; 32] = hasher.finalize().into();
    let memory = COMPILED.get_or_init(Default::default);
    if let Some(component) = memory
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&digest)
    {
        return Ok(component.clone());
    }
    let cached = cache_dir.map(|dir| dir.join(cache_file_name(&digest)));
    let component = match cached.as_deref().and_then(load_cached) {
        Some(component) => component,
        None => {
            let bytes = crate::componentize::componentize(&bytes)?;
            let bytes = match release_candidate {
                true => std::borrow::Cow::Owned(crate::wasi_rc::as_final_version(&bytes)?),
                false => bytes,
            };
            let component = Component::new(engine(), &bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("{} is not a valid WebAssembly component", path.display())
                })?;
            if let Some(file) = &cached {
                store_cached(&component, file);
            }
            component
        }
    };
    memory
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(digest, component.clone());
    Ok(component)
}

/// `<sha256 of the wasm>-<engine compatibility hash>.cwasm`.
fn cache_file_name(digest: &[u8; 32]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine().precompile_compatibility_hash().hash(&mut hasher);
    let wasm: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{wasm}-{:016x}.cwasm", hasher.finish())
}

fn load_cached(file: &Path) -> Option<Component> {
    if !file.is_file() {
        return None;
    }
    // SAFETY: the file was written by `store_cached` (serialized by this engine's wasmtime)
    // into a directory only this user can write; wasmtime checks that it was compiled for
    // this engine's version and settings before using it.
    match unsafe { Component::deserialize_file(engine(), file) } {
        Ok(component) => {
            tracing::debug!("compiled component loaded from {}", file.display());
            Some(component)
        }
        Err(e) => {
            tracing::warn!(
                "compile cache: {} cannot be used ({e}); compiling again",
                file.display()
            );
            None
        }
    }
}

/// Writes the serialized component next to its final name, then renames it into place, so a
/// reader never sees half a file. Failing to cache is not an error: it is only slower.
fn store_cached(component: &Component, file: &Path) {
    let write = || -> anyhow::Result<()> {
        let dir = file.parent().context("cache file has a directory")?;
        std::fs::create_dir_all(dir)?;
        let serialized = component.serialize().map_err(anyhow::Error::from)?;
        let partial = dir.join(format!(
            ".{}.{}.partial",
            file.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("component"),
            std::process::id()
        ));
        std::fs::write(&partial, serialized)?;
        std::fs::rename(&partial, file)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!("compile cache: cannot write {}: {e:#}", file.display());
    }
}
