//! The wasmtime engine (one per process, one configuration) and component loading.
//!
//! Compiled components are kept in memory keyed by a hash of the wasm bytes, so an app that
//! is loaded again in the same process (tests start many apps) compiles each component once,
//! and a rebuilt component is never served stale.

use anyhow::Context as _;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The process-wide engine: component model with WASI 0.3 async.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_component_model_async(true);
        Engine::new(&config).expect("the runner's wasmtime configuration is valid")
    })
}

/// Reads and compiles the component at `path` (or reuses an identical one compiled before).
pub fn load_component(path: &Path) -> anyhow::Result<Component> {
    static COMPILED: OnceLock<Mutex<HashMap<u64, Component>>> = OnceLock::new();
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let key = hasher.finish();
    let cache = COMPILED.get_or_init(Default::default);
    if let Some(component) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(component.clone());
    }
    let component = Component::new(engine(), &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{} is not a valid WebAssembly component", path.display()))?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, component.clone());
    Ok(component)
}
