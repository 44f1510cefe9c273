//! Serving a component's requests from its instances: a `wasmtime_wasi_http` `ProxyHandler`
//! per component owns them (creation, reuse for up to `MAX_REQUESTS_PER_INSTANCE` requests,
//! `MAX_CONCURRENT_PER_INSTANCE` at once, disposal after `IDLE_INSTANCE_TIMEOUT` idle); this
//! module says how a new instance is made (its WASI context, capabilities and limits) and
//! when a worker accepts or ends.

use crate::allowed_hosts::AllowList;
use crate::engine;
use crate::host::HostState;
use crate::host::key_value::KeyValueCtx;
use crate::host::logging::{GuestLog, Output};
use crate::host::outbound::OutboundHttp;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::handler::{
    self, HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept, ViewFn, WorkerExpiration,
    WorkerState, WorkerStatus,
};

/// Requests one instance serves before it is replaced (as `wasmtime serve` does for WASI 0.3).
const MAX_REQUESTS_PER_INSTANCE: usize = 128;
/// Requests one instance serves at the same time.
const MAX_CONCURRENT_PER_INSTANCE: usize = 16;
/// How long an idle instance is kept for reuse.
const IDLE_INSTANCE_TIMEOUT: Duration = Duration::from_secs(1);

/// Per-component settings, fixed at load time.
pub struct ComponentConfig {
    pub id: Arc<str>,
    pub pre: ProxyPre<HostState>,
    pub environment: Vec<(String, String)>,
    pub allowed: Arc<AllowList>,
    pub key_value: Arc<KeyValueCtx>,
    pub variables: Arc<BTreeMap<String, String>>,
    pub max_memory: usize,
}

/// The `ProxyHandler` state of one component: how to make a new instance of it.
pub struct ComponentState {
    config: ComponentConfig,
    components: Weak<Components>,
    next_instance: AtomicU64,
}

pub type ComponentHandler = ProxyHandler<ComponentState>;

/// All components of the app, by id.
pub struct Components {
    handlers: HashMap<String, ComponentHandler>,
    next_request: AtomicU64,
}

impl Components {
    pub fn handler(&self, id: &str) -> Option<&ComponentHandler> {
        self.handlers.get(id)
    }

    /// Runs one request through component `id`; a guest failure is logged with the component.
    pub async fn handle(
        &self,
        id: &str,
        handler: &ComponentHandler,
        request: handler::Request,
    ) -> wasmtime::Result<handler::Response> {
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let result = handler.handle(request_id, request).await;
        if let Err(e) = &result {
            tracing::error!(
                component = id,
                request = request_id,
                "request failed: {e:#}"
            );
        }
        result
    }
}

/// Wraps each configured component in its `ProxyHandler`; components can reach each other
/// (service chaining) through the weak link each one keeps to the whole set.
pub fn serve_components(configs: Vec<ComponentConfig>) -> Arc<Components> {
    Arc::new_cyclic(|weak: &Weak<Components>| Components {
        handlers: configs
            .into_iter()
            .map(|config| {
                let id = config.id.to_string();
                let state = ComponentState {
                    config,
                    components: weak.clone(),
                    next_instance: AtomicU64::new(0),
                };
                (id, ProxyHandler::new(state))
            })
            .collect(),
        next_request: AtomicU64::new(0),
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
            limits: StoreLimitsBuilder::new()
                .memory_size(config.max_memory)
                .instances(64)
                .build(),
        };
        let mut store = Store::new(engine::engine(), state);
        store.limiter(|state| &mut state.limits);
        let proxy = config.pre.instantiate_async(&mut store).await?;
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = &*config.id, instance, "new instance");
        Ok(Instance {
            store,
            proxy,
            view: ViewFn::P3(wasmtime_wasi_http::p3::WasiHttpView::http),
            expiration: IdleExpiration {
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: InstanceWorker {
                component: config.id.clone(),
                instance,
            },
        })
    }
}

/// Ends an instance once it has been idle for `IDLE_INSTANCE_TIMEOUT`.
pub struct IdleExpiration {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for IdleExpiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        if status != WorkerStatus::Idle {
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(start + IDLE_INSTANCE_TIMEOUT);
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
}

impl WorkerState for InstanceWorker {
    type StoreData = HostState;
    type RequestId = u64;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= MAX_REQUESTS_PER_INSTANCE {
            ShouldAccept::Never
        } else if concurrent >= MAX_CONCURRENT_PER_INSTANCE {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, HostState>,
        _request: u64,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(std::future::pending())
    }

    fn drop(&self, store: Store<HostState>, result: wasmtime::Result<()>) {
        if let Err(e) = result {
            tracing::error!(
                component = &*self.component,
                instance = self.instance,
                "instance failed: {e:#}"
            );
        }
        drop(store);
    }
}
