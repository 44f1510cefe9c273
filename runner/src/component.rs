//! One loaded component: what it exports (a `wasi:http` handler, a cron handler, or both),
//! what it may use (environment, outbound hosts, stores, variables) and its limits, fixed at
//! load time; and how a store for one of its instances is made, the same way for an HTTP
//! instance and for a periodic job's run.

use crate::allowed_hosts::{AllowList, SocketUse};
use crate::clock::VirtualClock;
use crate::cron::bindings::SpinCronPre;
use crate::engine;
use crate::guest_limits::{self, CpuBudget, MemoryCap};
use crate::host::HostState;
use crate::host::clocks::Readings;
use crate::host::key_value::KeyValueCtx;
use crate::host::logging::{ComponentLog, Output};
use crate::host::mysql::MysqlPools;
use crate::host::outbound::{Dispatch, Network, OutboundHttp};
use crate::host::postgres::PostgresCtx;
use crate::host::redis::RedisServers;
use crate::host::sqlite::SqliteCtx;
use crate::limits::Limits;
use crate::redis_trigger::RedisHandlerPre;
use crate::request_trace::RequestTrace;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use wasmtime::Store;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::handler::ProxyPre;

/// Per-component settings, fixed at load time.
pub struct ComponentConfig {
    pub id: Arc<str>,
    /// Its HTTP handler, if it exports one (`wasi:http` 0.3, or 0.2).
    pub http: Option<ProxyPre<HostState>>,
    /// Its cron handler (`spin:cron`'s `handle-cron-event`), if it exports one.
    pub cron: Option<SpinCronPre<HostState>>,
    pub environment: Vec<(String, String)>,
    pub allowed: Arc<AllowList>,
    pub key_value: Arc<KeyValueCtx>,
    pub sqlite: Arc<SqliteCtx>,
    /// The app's outbound Redis connections (one set for the whole app).
    pub redis: Arc<RedisServers>,
    /// Its Redis trigger handler (`handle-message`), if it exports one.
    pub redis_handler: Option<RedisHandlerPre>,
    pub postgres: Arc<PostgresCtx>,
    /// The app's MySQL pools, shared by all its components.
    pub mysql: Arc<MysqlPools>,
    pub variables: Arc<BTreeMap<String, String>>,
    pub limits: Arc<Limits>,
    /// Its `files`, mounted read-only at the guest's `/`.
    pub files: Option<std::path::PathBuf>,
    /// Where its guests' output and the runner's lines about it go.
    pub log: ComponentLog,
    /// The clock its guests see, when a test replaced the real one.
    pub clock: Option<Arc<VirtualClock>>,
    /// Where its outbound HTTP goes, when a test replaced the real network.
    pub network: Option<Arc<dyn Network>>,
}

impl ComponentConfig {
    /// A fresh store for one instance: WASI with stdout/stderr to the component's log (and
    /// its clocks on the test's clock, if any), the component's capabilities, its memory cap
    /// and CPU budget. `components` is how its
    /// outbound requests reach the app's other components.
    pub fn new_store(&self, components: Weak<dyn Dispatch>) -> Store<HostState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(self.log.guest(Output::Stdout))
            .stderr(self.log.guest(Output::Stderr))
            .envs(&self.environment)
            .allow_ip_name_lookup(false);
        if let Some(files) = &self.files
            && let Err(e) = wasi.preopened_dir(files, "/", DirPerms::READ, FilePerms::READ)
        {
            self.log.error(format_args!(
                "its files ({}) cannot be mounted: {e}",
                files.display()
            ));
        }
        if let Some(clock) = &self.clock {
            wasi.wall_clock(Readings(clock.clone()))
                .monotonic_clock(Readings(clock.clone()));
        }
        let (allowed, log) = (self.allowed.clone(), self.log.clone());
        wasi.socket_addr_check(move |addr, usage| {
            let usage = match usage {
                SocketAddrUse::TcpConnect => SocketUse::TcpConnect,
                SocketAddrUse::TcpBind => SocketUse::TcpBind,
                SocketAddrUse::UdpBind => SocketUse::UdpBindEphemeral,
                SocketAddrUse::UdpConnect | SocketAddrUse::UdpOutgoingDatagram => {
                    SocketUse::UdpSend
                }
            };
            let allowed = allowed.allows_socket(addr, usage);
            if !allowed {
                log.warn(format_args!(
                    "socket {usage:?} to {addr} denied: not in allowed_outbound_hosts"
                ));
            }
            Box::pin(std::future::ready(allowed))
        });
        let trace = RequestTrace::default();
        let state = HostState {
            table: Default::default(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp {
                log: self.log.clone(),
                allowed: self.allowed.clone(),
                components,
                network: self.network.clone(),
                trace: trace.clone(),
            },
            key_value: self.key_value.clone(),
            sqlite: self.sqlite.clone(),
            redis: self.redis.clone(),
            postgres: self.postgres.clone(),
            mysql: self.mysql.clone(),
            variables: self.variables.clone(),
            clock: self.clock.clone(),
            trace,
            memory: MemoryCap::new(self.log.clone(), self.limits.max_instance_memory),
            cpu: CpuBudget::new(self.log.clone(), self.limits.max_request_cpu),
        };
        let mut store = Store::new(engine::engine(), state);
        store.limiter(|state| &mut state.memory);
        guest_limits::watch_cpu(&mut store);
        store
    }
}
