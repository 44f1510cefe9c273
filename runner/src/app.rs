//! A loaded application: the manifest resolved against its variables and its key-value
//! stores (the runtime config's, or SQLite in the state directory), and every component
//! compiled and linked into a `ComponentConfig`, ready for `instances` to serve. A component
//! that cannot be configured is refused with `file: component.<id>.<key>: reason`. An app
//! under test is loaded the same way, with the `Seams` its test put in place.

use crate::allowed_hosts::{AllowList, AllowedHost};
use crate::component::ComponentConfig;
use crate::config_error::ConfigError;
use crate::cron::JobError;
use crate::cron::bindings::SpinCronPre;
use crate::engine;
use crate::files::MountedFiles;
use crate::host::HostState;
use crate::host::key_value::KeyValueCtx;
use crate::host::logging::{ComponentLog, LogFiles};
use crate::host::mysql::MysqlPools;
use crate::host::postgres::{PgPools, PostgresCtx};
use crate::host::redis::RedisServers;
use crate::host::sqlite::SqliteCtx;
use crate::instances::Components;
use crate::kv::Stores;
use crate::kv::sqlite::Durability;
use crate::limits::Limits;
use crate::manifest::{ComponentDecl, ComponentSource, Manifest};
use crate::redis_trigger::{RedisHandlerPre, Subscription};
use crate::runtime_config::{DatabaseConfig, RuntimeConfig, resolve_labels};
use crate::seams::Seams;
use crate::sql::{Database, Databases};
use crate::variable_providers::Provider;
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
    /// Serve over TLS with this certificate and key (`--tls-cert`, `--tls-key`).
    pub tls: Option<TlsFiles>,
    /// Also write each component's stdout and stderr to `<dir>/<component>_stdout.txt` and
    /// `_stderr.txt` (`--log-dir`).
    pub log_dir: Option<std::path::PathBuf>,
    /// Serve only these components' triggers (`-c`); empty: all.
    pub components: Vec<String>,
    /// Environment variables every component gets, after its manifest's (`--env`).
    pub env: Vec<(String, String)>,
    /// Statements run against the `default` SQLite database before serving (`--sqlite`;
    /// `@file` runs a file's statements).
    pub sqlite_statements: Vec<String>,
}

/// A PEM certificate chain and its PEM private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
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
            tls: None,
            log_dir: None,
            components: Vec::new(),
            env: Vec::new(),
            sqlite_statements: Vec::new(),
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
    pub(crate) stores: Stores,
    pub(crate) databases: Databases,
    pub(crate) seams: Seams,
    pub(crate) tls: Option<TlsFiles>,
    /// What the Redis triggers subscribe to.
    pub(crate) subscriptions: Vec<Subscription>,
    /// Components' `files`, copied for their mounts (removed with the app).
    _files: Option<MountedFiles>,
}

impl App {
    /// Loads the manifest, opens the stores and compiles and links every component.
    pub async fn load(options: &AppOptions) -> anyhow::Result<Self> {
        Self::load_with(options, Seams::default()).await
    }

    /// `load`, with the world around the app replaced where `seams` says.
    pub(crate) async fn load_with(options: &AppOptions, seams: Seams) -> anyhow::Result<Self> {
        let manifest = Manifest::load(&options.manifest_file())?.only(&options.components)?;
        // An empty state directory keeps key-value stores in memory, as in Spin.
        let mut state_dir = match (&options.state_dir, seams.private_state) {
            (_, true) => std::path::PathBuf::new(),
            (Some(dir), false) => dir.clone(),
            (None, false) => manifest.dir.join(".spin"),
        };
        let mut runtime_config = match &options.runtime_config {
            Some(file) => RuntimeConfig::load(file, &state_dir)?,
            None => RuntimeConfig::default(),
        };
        if let (Some(file), Some(dir), None, false) = (
            &options.runtime_config,
            runtime_config.state_dir.clone(),
            &options.state_dir,
            seams.private_state,
        ) {
            // The runtime config's own `state_dir` places the stores it leaves to default.
            state_dir = dir;
            runtime_config = RuntimeConfig::load(file, &state_dir)?;
        }
        let built_in = match options.read_env_variables {
            true => Some(Provider::built_in(&manifest.dir, true)?),
            false => None,
        };
        let values = crate::variables::resolve(
            &manifest.path,
            &manifest.variables,
            &options.variables,
            |name| {
                runtime_config
                    .variables_providers
                    .iter()
                    .chain(&built_in)
                    .find_map(|provider| provider.get(name))
            },
        )?;

        let stores = crate::kv::open::open_stores(
            &manifest,
            &state_dir,
            &runtime_config,
            options.durability,
        )
        .await?;
        crate::kv::open::seed_default_store(&stores, &options.key_values).await?;

        let sources = fetch_sources(&manifest, options.cache_dir.as_deref()).await?;
        let limits = Arc::new(options.limits.clone());
        let component_limits = limits.clone();
        let cache_dir = options.cache_dir.clone();
        let log_dir = options.log_dir.clone().or(runtime_config.log_dir.clone());
        let extra_env = options.env.clone();
        let sqlite_statements = options.sqlite_statements.clone();
        let redis_servers = Arc::new(RedisServers::default());
        let subscriptions = crate::redis_trigger::subscriptions(&manifest, &values)?;
        let component_stores = stores.clone();
        let component_seams = seams.clone();
        let pg_pools = PgPools::new();
        let mysql = Arc::new(MysqlPools::default());
        let (manifest, components, databases, files) = tokio::task::spawn_blocking(move || {
            let files = crate::files::mount_all(&manifest)?;
            let databases = open_databases(
                &manifest,
                &state_dir,
                &runtime_config,
                component_seams.private_state,
            )?;
            run_sqlite_statements(&databases, &sqlite_statements)?;
            let loaded = Loaded {
                values: &values,
                stores: &component_stores,
                databases: &databases,
                mysql: &mysql,
                limits: &component_limits,
                cache_dir: cache_dir.as_deref(),
                seams: &component_seams,
                sources: &sources,
                files: files.as_ref(),
                log_dir: log_dir.as_deref(),
                extra_env: &extra_env,
                redis: &redis_servers,
                pg_pools: &pg_pools,
            };
            let components = compile_components(&manifest, &loaded)?;
            anyhow::Ok((manifest, components, databases, files))
        })
        .await??;
        Ok(Self {
            manifest,
            components,
            limits,
            stores,
            databases,
            seams,
            tls: options.tls.clone(),
            subscriptions,
            _files: files,
        })
    }

    /// Runs the periodic job of `component` once, now, as the scheduler would (a fresh
    /// instance, the request limits), but without claiming a tick. "Now" is the guests'
    /// clock: the test's, for an app under test.
    pub async fn run_job(&self, component: &str) -> Result<(), JobError> {
        let now = match &self.seams.clock {
            Some(clock) => clock.now(),
            None => std::time::SystemTime::now(),
        };
        self.run_job_at(component, now).await
    }

    /// Runs the periodic job of `component` once for the tick at `tick` (what the job sees
    /// in its event's metadata, in whole seconds since the epoch).
    pub async fn run_job_at(
        &self,
        component: &str,
        tick: std::time::SystemTime,
    ) -> Result<(), JobError> {
        let config = self
            .components
            .config(component)
            .ok_or_else(|| JobError::NoSuchComponent(component.to_string()))?;
        let timestamp = tick
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let _busy = self.components.in_flight().enter();
        crate::cron::run_once(
            config,
            self.components.dispatcher(),
            timestamp,
            self.limits.max_request_duration,
        )
        .await
    }
}

/// What every component is configured from, besides its own declaration.
struct Loaded<'a> {
    values: &'a BTreeMap<String, String>,
    stores: &'a Stores,
    databases: &'a Databases,
    /// MySQL pools by address, made as guests open them, shared by every component.
    mysql: &'a Arc<MysqlPools>,
    limits: &'a Arc<Limits>,
    cache_dir: Option<&'a std::path::Path>,
    seams: &'a Seams,
    /// Each component's wasm file (remote sources downloaded).
    sources: &'a BTreeMap<String, std::path::PathBuf>,
    /// The components' mounted `files`, if any has some.
    files: Option<&'a MountedFiles>,
    /// `--log-dir`.
    log_dir: Option<&'a std::path::Path>,
    /// `--env`: added to every component's environment.
    extra_env: &'a [(String, String)],
    /// The app's outbound Redis connections.
    redis: &'a Arc<RedisServers>,
    /// The app's PostgreSQL connection pools, shared by all its components.
    pg_pools: &'a Arc<PgPools>,
}

/// Each component's wasm file: its path, or, for a remote source, the download in the cache
/// (`cache_dir`, else the default compile cache directory, else the temporary directory).
async fn fetch_sources(
    manifest: &Manifest,
    cache_dir: Option<&std::path::Path>,
) -> Result<BTreeMap<String, std::path::PathBuf>, ConfigError> {
    let downloads = cache_dir
        .map(std::path::Path::to_path_buf)
        .or_else(engine::default_cache_dir)
        .unwrap_or_else(|| std::env::temp_dir().join("runner"));
    let mut sources = BTreeMap::new();
    for decl in manifest.components.values() {
        let path = match &decl.source {
            ComponentSource::File(path) => path.clone(),
            ComponentSource::Remote { url, sha256 } => {
                crate::remote_source::fetch(url, sha256, &downloads)
                    .await
                    .map_err(|reason| {
                        manifest.error(format!("component.{}.source", decl.id), reason)
                    })?
            }
        };
        sources.insert(decl.id.clone(), path);
    }
    Ok(sources)
}

/// Compiles and links every component (CPU-bound: run it off the async workers).
fn compile_components(manifest: &Manifest, loaded: &Loaded) -> anyhow::Result<Arc<Components>> {
    let linker = crate::host::linker(engine::engine(), loaded.seams.clock.is_some())?;
    let mut configs = Vec::new();
    for decl in manifest.components.values() {
        let config = configure(manifest, decl, loaded, &linker)?;
        check_exports(manifest, &config)?;
        configs.push(config);
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
    let source = &loaded.sources[&decl.id];
    if !source.is_file() {
        return Err(err(
            "source",
            format!(
                "{} does not exist (build it with `runner build`, or serve with `runner up --build`)",
                source.display()
            ),
        ));
    }
    let component = engine::load_component(source, loaded.cache_dir)
        .map_err(|e| err("source", format!("{e:#}")))?;
    let component_key = format!("component.{}", decl.id);
    let unhosted = crate::unhosted::unhosted_imports(&component);
    let stubbed;
    let linker = if unhosted.is_empty() {
        linker
    } else if crate::unhosted::is_whole_world(&component) {
        tracing::warn!(
            component = decl.id.as_str(),
            "it imports a whole SDK world; these are not hosted here and fail if called: {}",
            crate::unhosted::listing(&unhosted)
        );
        let mut with_stubs = linker.clone();
        crate::unhosted::link_stubs(&mut with_stubs, &component, &unhosted)
            .map_err(|e| manifest.error(&component_key, format!("{e:#}")))?;
        stubbed = with_stubs;
        &stubbed
    } else {
        return Err(manifest.error(component_key, crate::unhosted::refusal(&unhosted)));
    };
    let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
        manifest.error(
            &component_key,
            format!("cannot be linked by this runner: {e:#}"),
        )
    })?;
    // A component answers HTTP through `wasi:http` 0.3 (spin-sdk 7), or 0.2 (earlier SDKs),
    // and may run as a periodic job.
    let http = match wasmtime_wasi_http::p3::bindings::ServicePre::new(instance_pre.clone()) {
        Ok(pre) => Some(ProxyPre::P3(pre)),
        Err(_) => wasmtime_wasi_http::p2::bindings::ProxyPre::new(instance_pre.clone())
            .ok()
            .map(ProxyPre::P2),
    };
    let redis_handler = RedisHandlerPre::new(&instance_pre);
    let cron = SpinCronPre::new(instance_pre).ok();
    let granted_databases: std::collections::HashSet<String> =
        decl.sqlite_databases.iter().cloned().collect();
    let allowed = Arc::new(AllowList::new(allowed));
    let log = component_log(decl, loaded)?;
    let postgres = Arc::new(PostgresCtx {
        allowed: allowed.clone(),
        pools: loaded.pg_pools.clone(),
        log: log.clone(),
    });
    Ok(ComponentConfig {
        id: decl.id.as_str().into(),
        http,
        cron,
        environment: decl
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(loaded.extra_env.iter().cloned())
            .collect(),
        allowed,
        key_value: Arc::new(KeyValueCtx {
            granted: decl.key_value_stores.iter().cloned().collect(),
            stores: loaded.stores.clone(),
        }),
        sqlite: Arc::new(SqliteCtx {
            granted: granted_databases,
            databases: loaded.databases.clone(),
        }),
        redis: loaded.redis.clone(),
        redis_handler,
        postgres,
        mysql: loaded.mysql.clone(),
        variables: Arc::new(variables),
        limits: loaded.limits.clone(),
        files: loaded
            .files
            .and_then(|files| files.mount(&decl.id))
            .map(std::path::Path::to_path_buf),
        log,
        clock: loaded.seams.clock.clone(),
        network: loaded.seams.network.clone(),
    })
}

/// Where `decl`'s output goes: the console (and a test's capture), and `--log-dir`'s files.
fn component_log(decl: &ComponentDecl, loaded: &Loaded) -> Result<ComponentLog, ConfigError> {
    let log = ComponentLog::new(decl.id.as_str().into(), loaded.seams.capture.clone());
    match loaded.log_dir {
        None => Ok(log),
        Some(dir) => {
            let files = LogFiles::open(dir, &decl.id).map_err(|e| {
                ConfigError::new(
                    dir,
                    "--log-dir",
                    format!("cannot write component logs: {e}"),
                )
            })?;
            Ok(log.with_files(files))
        }
    }
}

/// A component must export what its triggers call: an HTTP handler for a route, the cron
/// handler for a job, the Redis handler for a channel; and at least one of them.
fn check_exports(manifest: &Manifest, config: &ComponentConfig) -> Result<(), ConfigError> {
    const HTTP: &str =
        "an HTTP handler (`wasi:http/handler@0.3.0` or `wasi:http/incoming-handler@0.2.x`)";
    const CRON: &str = "`handle-cron-event` (spin:cron@3.0.0)";
    const REDIS: &str =
        "`handle-message` (`spin:redis/inbound-redis@3.0.0` or `fermyon:spin/inbound-redis`)";
    let id = &*config.id;
    let missing = |key: &str, export: &str, role: &str| {
        manifest.error(
            format!("{key}.component"),
            format!("component `{id}` does not export {export}, so it cannot {role}"),
        )
    };
    if let Some(route) = manifest.routes.iter().find(|r| r.component == id)
        && config.http.is_none()
    {
        return Err(missing(&route.key, HTTP, "serve a route"));
    }
    if let Some(job) = manifest.jobs.iter().find(|j| j.component == id)
        && config.cron.is_none()
    {
        return Err(missing(&job.key, CRON, "run as a periodic job"));
    }
    if let Some(trigger) = manifest.redis_triggers.iter().find(|t| t.component == id)
        && config.redis_handler.is_none()
    {
        return Err(missing(&trigger.key, REDIS, "handle Redis messages"));
    }
    if config.http.is_none() && config.cron.is_none() && config.redis_handler.is_none() {
        return Err(manifest.error(
            format!("component.{id}"),
            format!("exports none of {HTTP}, {CRON} or {REDIS}: this runner has nothing to call"),
        ));
    }
    Ok(())
}

/// `--sqlite`: each statement (or each `@file`'s statements) run in order against the
/// `default` database before anything is served, as `spin up` does.
fn run_sqlite_statements(databases: &Databases, statements: &[String]) -> anyhow::Result<()> {
    if statements.is_empty() {
        return Ok(());
    }
    let database = databases.get("default").ok_or_else(|| {
        anyhow::anyhow!("--sqlite: no component uses the `default` SQLite database")
    })?;
    for statement in statements {
        let sql = match statement.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("--sqlite @{file}: {e}"))?,
            None => statement.clone(),
        };
        database
            .execute_batch_now(&sql)
            .map_err(|e| anyhow::anyhow!("--sqlite {statement}: {e}"))?;
    }
    Ok(())
}

/// Opens every SQLite database a component names: as the runtime config says, or, for
/// `default` when it says nothing, `<state-dir>/sqlite_db.db` (as `spin up` does), or, with
/// `private_memory`, a database in memory of this app's own. Any other label the runtime
/// config does not define is an error.
fn open_databases(
    manifest: &Manifest,
    state_dir: &std::path::Path,
    runtime: &RuntimeConfig,
    private_memory: bool,
) -> anyhow::Result<Databases> {
    let named = manifest.labels_in("sqlite_databases", |decl| &decl.sqlite_databases);
    let resolved = resolve_labels(
        &manifest.path,
        named,
        &runtime.sqlite_databases,
        || DatabaseConfig {
            path: crate::sql::default_path(state_dir),
            allow_attach_file: false,
        },
        ("SQLite database", "sqlite_database"),
    )?;
    let mut databases = Databases::default();
    for (key, label, config) in resolved {
        let database = match config.path {
            None if private_memory => Database::open_private_memory(config.allow_attach_file),
            path => Database::open(path, config.allow_attach_file),
        }
        .map_err(|e| manifest.error(key, format!("{e:#}")))?;
        databases.insert(label.to_string(), database);
    }
    Ok(databases)
}
