//! Serving a component's requests from its instances: a `wasmtime_wasi_http` `ProxyHandler`
//! per component owns them (creation, reuse for up to `Limits::max_instance_reuse_count` requests,
//! `Limits::max_instance_concurrent_reuse_count` at once, disposal after `IDLE_INSTANCE_TIMEOUT`
//! idle or once a request outlives `Limits::max_request_duration`); this module says how a new
//! instance is made (its WASI context, capabilities and limits) and when a worker accepts or
//! ends.

use crate::allowed_hosts::AllowList;
use crate::engine;
use crate::guest_limits::{self, CpuBudget, MemoryCap};
use crate::host::HostState;
use crate::host::key_value::KeyValueCtx;
use crate::host::logging::{GuestLog, Output};
use crate::host::outbound::{Dispatch, DispatchError, OutboundHttp};
use crate::limits::Limits;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::handler::{
    self, HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, ViewFn, WorkerExpiration,
    WorkerState, WorkerStatus,
};

/// How long an idle instance is kept for reuse.
const IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);
/// After one of a component's instances fails (trap, limit, timeout), how long its instances
/// serve one request at a time, so a misbehaving route cannot take other requests down with it.
const ISOLATION_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Whether a component is in one-request-per-instance mode after a failure.
#[derive(Default)]
pub struct Isolation {
    until: std::sync::Mutex<Option<Instant>>,
}

impl Isolation {
    fn trip(&self, component: &str) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|t| t < Instant::now()) {
            tracing::warn!(
                component,
                "an instance failed: serving one request per instance for {ISOLATION_AFTER_FAILURE:?}"
            );
        }
        *until = Some(Instant::now() + ISOLATION_AFTER_FAILURE);
    }

    fn active(&self) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| t > Instant::now())
    }
}

/// Per-component settings, fixed at load time.
pub struct ComponentConfig {
    pub id: Arc<str>,
    pub pre: ProxyPre<HostState>,
    pub environment: Vec<(String, String)>,
    pub allowed: Arc<AllowList>,
    pub key_value: Arc<KeyValueCtx>,
    pub variables: Arc<BTreeMap<String, String>>,
    pub limits: Arc<Limits>,
}

/// The `ProxyHandler` state of one component: how to make a new instance of it.
pub struct ComponentState {
    config: ComponentConfig,
    components: Weak<dyn Dispatch>,
    next_instance: AtomicU64,
    isolation: Arc<Isolation>,
    stopping: Arc<AtomicBool>,
}

pub type ComponentHandler = ProxyHandler<ComponentState>;

/// All components of the app, by id.
pub struct Components {
    handlers: HashMap<String, ComponentHandler>,
    next_request: AtomicU64,
    /// Set once the app is shutting down: instances dropped from then on did not fail.
    stopping: Arc<AtomicBool>,
}

impl Components {
    /// The app is shutting down (its open requests have finished or been given up).
    pub fn shutting_down(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Runs one request through component `id`; a guest failure is logged with the component.
    pub async fn handle(
        &self,
        id: &str,
        request: handler::Request,
    ) -> Result<handler::Response, DispatchError> {
        let handler = self
            .handlers
            .get(id)
            .ok_or(DispatchError::NoSuchComponent)?;
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        handler.handle(request_id, request).await.map_err(|e| {
            if e.is::<handler::ExpirationError>() {
                tracing::error!(
                    component = id,
                    request = request_id,
                    "request failed: no answer within {:?} (--max-request-duration)",
                    handler.state().config.limits.max_request_duration
                );
            } else {
                tracing::error!(
                    component = id,
                    request = request_id,
                    "request failed: {e:#}"
                );
            }
            DispatchError::Failed(e)
        })
    }
}

#[async_trait::async_trait]
impl Dispatch for Components {
    async fn dispatch(
        &self,
        component: &str,
        request: handler::Request,
    ) -> Result<handler::Response, DispatchError> {
        self.handle(component, request).await
    }
}

/// Wraps each configured component in its `ProxyHandler`; components can reach each other
/// (service chaining) through the weak link each one keeps to the whole set.
pub fn serve_components(configs: Vec<ComponentConfig>) -> Arc<Components> {
    let stopping = Arc::new(AtomicBool::new(false));
    Arc::new_cyclic(|weak: &Weak<Components>| Components {
        handlers: configs
            .into_iter()
            .map(|config| {
                let id = config.id.to_string();
                let state = ComponentState {
                    config,
                    components: weak.clone() as Weak<dyn Dispatch>,
                    next_instance: AtomicU64::new(0),
                    isolation: Default::default(),
                    stopping: stopping.clone(),
                };
                (id, ProxyHandler::new(state))
            })
            .collect(),
        next_request: AtomicU64::new(0),
        stopping,
    })
}

impl HandlerState for ComponentState {
    type StoreData = HostState;
    type WorkerExpiration = IdleExpiration;
    type WorkerState = InstanceWorker;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<Instance<HostState, IdleExpiration, InstanceWorker>> {
        let config = &self.config;
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(GuestLog::new(&config.id, Output::Stdout))
            .stderr(GuestLog::new(&config.id, Output::Stderr))
            .envs(&config.environment);
        let state = HostState {
            table: Default::default(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp {
                component: config.id.clone(),
                allowed: config.allowed.clone(),
                components: self.components.clone(),
            },
            key_value: config.key_value.clone(),
            variables: config.variables.clone(),
            memory: MemoryCap::new(config.id.clone(), config.limits.max_instance_memory),
            cpu: CpuBudget::new(config.id.clone(), config.limits.max_request_cpu),
        };
        let mut store = Store::new(engine::engine(), state);
        store.limiter(|state| &mut state.memory);
        guest_limits::watch_cpu(&mut store);
        let proxy = config.pre.instantiate_async(&mut store).await?;
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = &*config.id, instance, "new instance");
        Ok(Instance {
            store,
            proxy,
            view: ViewFn::P3(wasmtime_wasi_http::p3::WasiHttpView::http),
            expiration: IdleExpiration {
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
                max_request_duration: config.limits.max_request_duration,
            },
            state: InstanceWorker {
                component: config.id.clone(),
                instance,
                limits: config.limits.clone(),
                isolation: self.isolation.clone(),
                stopping: self.stopping.clone(),
            },
        })
    }
}

/// Ends an instance once it has been idle for `IDLE_INSTANCE_TIMEOUT`, or busy for longer than
/// a request may take (the guest is stuck; `on_request_start`'s deadline cannot fire then).
pub struct IdleExpiration {
    sleep: Pin<Box<tokio::time::Sleep>>,
    max_request_duration: Duration,
}

impl WorkerExpiration for IdleExpiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let allowed = match status {
            WorkerStatus::Idle => IDLE_INSTANCE_TIMEOUT,
            WorkerStatus::Requests | WorkerStatus::PostReturn => {
                self.max_request_duration + IDLE_INSTANCE_TIMEOUT
            }
        };
        let deadline = tokio::time::Instant::from_std(start + allowed);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// Per-instance bookkeeping for the `ProxyHandler` worker.
pub struct InstanceWorker {
    component: Arc<str>,
    instance: u64,
    limits: Arc<Limits>,
    isolation: Arc<Isolation>,
    stopping: Arc<AtomicBool>,
}

impl WorkerState for InstanceWorker {
    type StoreData = HostState;
    type RequestId = u64;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.limits.max_instance_reuse_count {
            ShouldAccept::Never
        } else if concurrent >= self.limits.max_instance_concurrent_reuse_count
            || (concurrent >= 1 && self.isolation.active())
        {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, HostState>,
        _request: u64,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        store.data_mut().cpu.refill();
        Box::pin(tokio::time::sleep(self.limits.max_request_duration))
    }

    fn drop(&self, store: Store<HostState>, result: wasmtime::Result<()>) {
        if self.stopping.load(Ordering::Relaxed) {
            // Workers still alive when the runtime ends are dropped unfinished, which
            // wasmtime reports as a panic; at shutdown that is no failure of the guest.
            drop(store);
            return;
        }
        if let Err(e) = result {
            // The cause on one line (the full chain, with the guest's backtrace, at debug).
            tracing::error!(
                component = &*self.component,
                instance = self.instance,
                "instance failed: {}",
                e.root_cause()
            );
            tracing::debug!(
                component = &*self.component,
                "instance failure in full: {e:?}"
            );
            self.isolation.trip(&self.component);
        }
        drop(store);
    }
}
