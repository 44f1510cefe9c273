//! A loaded application: the manifest resolved against its variables and its key-value
//! stores (the runtime config's, or SQLite in the state directory), and every component
//! compiled and linked into a `ComponentConfig`, ready for `instances` to serve. A component
//! that cannot be configured is refused with `file: component.<id>.<key>: reason`.

use crate::allowed_hosts::{AllowList, AllowedHost};
use crate::config_error::ConfigError;
use crate::engine;
use crate::host::HostState;
use crate::host::key_value::KeyValueCtx;
use crate::instances::{ComponentConfig, Components};
use crate::kv::Stores;
use crate::kv::sqlite::Durability;
use crate::limits::Limits;
use crate::manifest::{ComponentDecl, Manifest};
use crate::runtime_config::RuntimeConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi_http::handler::ProxyPre;

/// What `App::load` needs besides the manifest.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// `spin.toml`, or a directory containing it.
    pub manifest: std::path::PathBuf,
    /// Where the default key-value store lives; `.spin/` beside the manifest if unset.
    pub state_dir: Option<std::path::PathBuf>,
    /// `--variable name=value` values.
    pub variables: BTreeMap<String, String>,
    /// Whether `SPIN_VARIABLE_*` environment variables are read.
    pub read_env_variables: bool,
    /// What guests and clients may use (memory, CPU, time, body size, connections).
    pub limits: Limits,
    /// Spin runtime config file: where key-value stores live (`--runtime-config-file`).
    pub runtime_config: Option<std::path::PathBuf>,
    /// `--key-value key=value`: entries set in the `default` store before serving.
    pub key_values: Vec<(String, String)>,
    /// When a SQLite write counts as done (`--durability`).
    pub durability: Durability,
    /// Where compiled components are cached on disk (`--cache-dir`); `None`: memory only.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl AppOptions {
    pub fn new(manifest: impl Into<std::path::PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            state_dir: None,
            variables: BTreeMap::new(),
            read_env_variables: true,
            limits: Limits::default(),
            runtime_config: None,
            key_values: Vec::new(),
            durability: Durability::default(),
            cache_dir: None,
        }
    }

    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.insert(name.to_string(), value.into());
        self
    }

    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The manifest file these options name.
    pub fn manifest_file(&self) -> std::path::PathBuf {
        if self.manifest.is_dir() {
            self.manifest.join("spin.toml")
        } else {
            self.manifest.clone()
        }
    }
}

/// A loaded app, ready to serve.
pub struct App {
    pub(crate) manifest: Manifest,
    pub(crate) components: Arc<Components>,
    pub(crate) limits: Arc<Limits>,
}

impl App {
    /// Loads the manifest, opens the stores and compiles and links every component.
    pub async fn load(options: &AppOptions) -> anyhow::Result<Self> {
        let manifest = Manifest::load(&options.manifest_file())?;
        let values = crate::variables::resolve(
            &manifest.path,
            &manifest.variables,
            &options.variables,
            |name| {
                options
                    .read_env_variables
                    .then(|| std::env::var(name).ok())
                    .flatten()
            },
        )?;

        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        let runtime_config = match &options.runtime_config {
            Some(file) => RuntimeConfig::load(file, &state_dir)?,
            None => RuntimeConfig::default(),
        };
        let stores = crate::kv::open::open_stores(
            &manifest,
            &state_dir,
            &runtime_config,
            options.durability,
        )
        .await?;
        crate::kv::open::seed_default_store(&stores, &options.key_values).await?;

        let limits = Arc::new(options.limits.clone());
        let component_limits = limits.clone();
        let cache_dir = options.cache_dir.clone();
        let (manifest, components) = tokio::task::spawn_blocking(move || {
            let loaded = Loaded {
                values: &values,
                stores: &stores,
                limits: &component_limits,
                cache_dir: cache_dir.as_deref(),
            };
            let components = compile_components(&manifest, &loaded)?;
            anyhow::Ok((manifest, components))
        })
        .await??;
        Ok(Self {
            manifest,
            components,
            limits,
        })
    }
}

/// What every component is configured from, besides its own declaration.
struct Loaded<'a> {
    values: &'a BTreeMap<String, String>,
    stores: &'a Stores,
    limits: &'a Arc<Limits>,
    cache_dir: Option<&'a std::path::Path>,
}

/// Compiles and links every component (CPU-bound: run it off the async workers).
fn compile_components(manifest: &Manifest, loaded: &Loaded) -> anyhow::Result<Arc<Components>> {
    let linker = crate::host::linker(engine::engine())?;
    let mut configs = Vec::new();
    for decl in manifest.components.values() {
        configs.push(configure(manifest, decl, loaded, &linker)?);
    }
    Ok(crate::instances::serve_components(configs))
}

/// Resolves one component's allow-list and variables, compiles it and links it.
fn configure(
    manifest: &Manifest,
    decl: &ComponentDecl,
    loaded: &Loaded,
    linker: &Linker<HostState>,
) -> Result<ComponentConfig, ConfigError> {
    let values = loaded.values;
    let err = |field: &str, reason: String| {
        manifest.error(format!("component.{}.{field}", decl.id), reason)
    };
    let mut allowed = Vec::new();
    for (index, template) in decl.allowed_outbound_hosts.iter().enumerate() {
        let field = format!("allowed_outbound_hosts[{index}]");
        let entry = template.render(values).map_err(|r| err(&field, r))?;
        allowed.push(AllowedHost::parse(&entry).map_err(|r| err(&field, r))?);
    }
    let mut variables = BTreeMap::new();
    for (name, template) in &decl.variables {
        let value = template
            .render(values)
            .map_err(|r| err(&format!("variables.{name}"), r))?;
        variables.insert(name.clone(), value);
    }
    if !decl.source.is_file() {
        return Err(err(
            "source",
            format!(
                "{} does not exist (build it with `runner build`, or serve with `runner up --build`)",
                decl.source.display()
            ),
        ));
    }
    let component = engine::load_component(&decl.source, loaded.cache_dir)
        .map_err(|e| err("source", format!("{e:#}")))?;
    let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
        manifest.error(
            format!("component.{}", decl.id),
            format!("cannot be linked by this runner: {e:#}"),
        )
    })?;
    let pre = wasmtime_wasi_http::p3::bindings::ServicePre::new(instance_pre).map_err(|e| {
        manifest.error(
            format!("component.{}", decl.id),
            format!(
                "does not export `wasi:http/handler@0.3.0` (is it a spin-sdk 7 HTTP component?): {e:#}"
            ),
        )
    })?;
    Ok(ComponentConfig {
        id: decl.id.as_str().into(),
        pre: ProxyPre::P3(pre),
        environment: decl
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        allowed: Arc::new(AllowList::new(allowed)),
        key_value: Arc::new(KeyValueCtx {
            granted: decl.key_value_stores.iter().cloned().collect(),
            stores: loaded.stores.clone(),
        }),
        variables: Arc::new(variables),
        limits: loaded.limits.clone(),
    })
}
