//! Serving a component's requests from its instances. A WASI 0.2 component gets a fresh
//! instance for every request, made in the request's own task (`fresh_instances`). A WASI 0.3
//! component's instances are shared: a `wasmtime_wasi_http` `ProxyHandler` per component owns
//! them (creation, reuse for up to
//! `Limits::max_instance_reuse_count` requests, `Limits::max_instance_concurrent_reuse_count`
//! at once, disposal after `IDLE_INSTANCE_TIMEOUT` idle or once a request outlives
//! `Limits::max_request_duration`); this module says when a worker accepts or ends, and how
//! the end of any instance is reported.
//!
//! Work after the answer: a WASI 0.3 guest may keep running tasks it spawned after its
//! response headers went out (streaming a body, or work of its own: `PostReturn`). Its
//! instance then stays alive until those tasks end, bounded by `--max-request-duration`
//! counted from the start of its last request, and counts as work in flight, which a graceful
//! shutdown waits for. It keeps taking requests meanwhile (test1's sleeping answers are such
//! tasks; an instance per sleeping request would cost memory); a task that traps fails its
//! instance like a trap during a request does, and trips the same isolation.

use crate::component::ComponentConfig;
use crate::fresh_instances::FreshInstances;
use crate::host::HostState;
use crate::host::logging::ComponentLog;
use crate::host::outbound::{Dispatch, DispatchError};
use crate::in_flight::{Busy, InFlight};
use crate::pooling::PoolWait;
use crate::telemetry;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
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
    until: Mutex<Option<Instant>>,
}

impl Isolation {
    pub fn trip(&self, log: &ComponentLog) {
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|t| t < Instant::now()) {
            log.warn(format_args!(
                "an instance failed: serving one request per instance for {ISOLATION_AFTER_FAILURE:?}"
            ));
        }
        *until = Some(Instant::now() + ISOLATION_AFTER_FAILURE);
    }

    fn active(&self) -> bool {
        let until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| t > Instant::now())
    }
}

/// The `ProxyHandler` state of one WASI 0.3 component: how to make a new instance of it.
pub struct ComponentState {
    config: Arc<ComponentConfig>,
    components: Weak<dyn Dispatch>,
    next_instance: AtomicU64,
    isolation: Arc<Isolation>,
    stopping: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
    /// With telemetry on: the span of each request being handled, by request id.
    traces: Arc<Mutex<HashMap<u64, tracing::Span>>>,
}

pub type ComponentHandler = ProxyHandler<ComponentState>;

/// How one HTTP component's requests reach its instances.
enum HttpHandler {
    /// WASI 0.3: shared instances, owned by wasmtime's `ProxyHandler`.
    Shared(ComponentHandler),
    /// WASI 0.2: a fresh instance per request.
    Fresh(FreshInstances),
}

impl HttpHandler {
    fn config(&self) -> &Arc<ComponentConfig> {
        match self {
            HttpHandler::Shared(handler) => &handler.state().config,
            HttpHandler::Fresh(fresh) => fresh.config(),
        }
    }

    async fn handle(
        &self,
        request_id: u64,
        request: handler::Request,
    ) -> wasmtime::Result<handler::Response> {
        match self {
            HttpHandler::Shared(handler) => {
                handle_when_a_slot_frees(handler, request_id, request).await
            }
            HttpHandler::Fresh(fresh) => fresh.handle(request).await,
        }
    }
}

/// All components of the app, by id.
pub struct Components {
    configs: HashMap<String, Arc<ComponentConfig>>,
    /// The components that export an HTTP handler.
    handlers: HashMap<String, HttpHandler>,
    next_request: AtomicU64,
    /// Set once the app is shutting down: instances dropped from then on did not fail.
    stopping: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
}

impl Components {
    /// The app is shutting down (its open requests have finished or been given up).
    pub fn shutting_down(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn config(&self, id: &str) -> Option<&Arc<ComponentConfig>> {
        self.configs.get(id)
    }

    /// Instances still working and job runs in flight (what a graceful shutdown waits for).
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// How this app's components reach each other.
    pub fn dispatcher(self: &Arc<Self>) -> Weak<dyn Dispatch> {
        Arc::downgrade(self) as Weak<dyn Dispatch>
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
        let result = match telemetry::enabled() {
            false => handler.handle(request_id, request).await,
            true => traced(handler, id, request_id, request).await,
        };
        result.map_err(|e| {
            let config = handler.config();
            if crate::pooling::is_pool_full(&e) {
                config.log.warn(format_args!(
                    "request {request_id} answered 503: {e} (the instance pool is full; \
                     SPIN_MAX_INSTANCE_COUNT sizes it, --disable-pooling removes the cap)"
                ));
            } else if e.is::<handler::ExpirationError>() {
                config.log.error(format_args!(
                    "request {request_id} failed: no answer within {:?} (--max-request-duration)",
                    config.limits.max_request_duration
                ));
            } else {
                config
                    .log
                    .error(format_args!("request {request_id} failed: {e:#}"));
            }
            DispatchError::Failed(e)
        })
    }
}

/// The name of the route a request matched (`http.route`), put on the request by the router.
#[derive(Clone)]
pub struct MatchedRoute(pub String);

/// Runs `request` in a server span (continuing the trace of its `traceparent`), which the
/// instance's guest calls are children of; records it in the request metrics.
async fn traced(
    handler: &HttpHandler,
    component: &str,
    request_id: u64,
    request: handler::Request,
) -> wasmtime::Result<handler::Response> {
    use tracing::Instrument;
    let route = request
        .extensions()
        .get::<MatchedRoute>()
        .map_or("/...", |r| r.0.as_str())
        .to_string();
    let method = request.method().clone();
    let span = tracing::trace_span!(
        target: telemetry::TARGET,
        "request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        url.path = request.uri().path(),
        component,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    telemetry::continue_trace(&span, request.headers());
    // A shared instance finds its request's span by id; a fresh one takes the current span.
    let traces = match handler {
        HttpHandler::Shared(handler) => Some(&handler.state().traces),
        HttpHandler::Fresh(_) => None,
    };
    if let Some(traces) = traces {
        lock(traces).insert(request_id, span.clone());
    }
    let started = Instant::now();
    let result = handler
        .handle(request_id, request)
        .instrument(span.clone())
        .await;
    if let Some(traces) = traces {
        lock(traces).remove(&request_id);
    }
    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(_) => 500,
    };
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    telemetry::record_request(component, status, started.elapsed().as_secs_f64());
    result
}

/// `handler.handle`, retried while the instance pool is full (the handler hands the request
/// back with the instantiation error), as `PoolWait` allows.
async fn handle_when_a_slot_frees(
    handler: &ComponentHandler,
    request_id: u64,
    request: handler::Request,
) -> wasmtime::Result<handler::Response> {
    let mut wait = PoolWait::new();
    let mut request = request;
    loop {
        let error = match handler.handle(request_id, request).await {
            Ok(response) => return Ok(response),
            Err(error) => error,
        };
        if !wait.retry(&error).await {
            return Err(error);
        }
        request = match error.downcast::<handler::InstantiationError<u64>>() {
            Ok(failed) => failed
                .request
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
            Err(error) => return Err(error),
        };
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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

/// Gives each HTTP component its handler (fresh instances for WASI 0.2, a `ProxyHandler` for
/// WASI 0.3); components can reach each other (service chaining) through the weak link each
/// one keeps to the whole set.
pub fn serve_components(configs: Vec<ComponentConfig>) -> Arc<Components> {
    let stopping = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(InFlight::default());
    let configs: HashMap<String, Arc<ComponentConfig>> = configs
        .into_iter()
        .map(|config| (config.id.to_string(), Arc::new(config)))
        .collect();
    Arc::new_cyclic(|weak: &Weak<Components>| Components {
        handlers: configs
            .iter()
            .filter_map(|(id, config)| {
                let components = weak.clone() as Weak<dyn Dispatch>;
                let handler = match config.http.as_ref()? {
                    ProxyPre::P2(pre) => HttpHandler::Fresh(FreshInstances::new(
                        config.clone(),
                        pre.clone(),
                        components,
                        stopping.clone(),
                        in_flight.clone(),
                    )),
                    ProxyPre::P3(_) => HttpHandler::Shared(ProxyHandler::new(ComponentState {
                        config: config.clone(),
                        components,
                        next_instance: AtomicU64::new(0),
                        isolation: Default::default(),
                        stopping: stopping.clone(),
                        in_flight: in_flight.clone(),
                        traces: Arc::default(),
                    })),
                };
                Some((id.clone(), handler))
            })
            .collect(),
        configs,
        next_request: AtomicU64::new(0),
        stopping,
        in_flight,
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
        let pre = config.http.as_ref().ok_or_else(|| {
            wasmtime::format_err!("component `{}` has no HTTP handler", config.id)
        })?;
        let mut store = config.new_store(self.components.clone());
        let proxy = pre.instantiate_async(&mut store).await?;
        // Only WASI 0.3 components are served through a `ProxyHandler` (`serve_components`).
        let view = ViewFn::P3(wasmtime_wasi_http::p3::WasiHttpView::http);
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = &*config.id, instance, "new instance");
        telemetry::record_instance(&config.id);
        let activity = Arc::new(Activity {
            busy: Mutex::new(None),
            post_return: AtomicBool::new(false),
            post_return_expired: AtomicBool::new(false),
            last_request_start: Mutex::new(Instant::now()),
            in_flight: self.in_flight.clone(),
        });
        Ok(Instance {
            store,
            proxy,
            view,
            expiration: IdleExpiration {
                sleep: Box::pin(tokio::time::sleep(Duration::MAX)),
                max_request_duration: config.limits.max_request_duration,
                activity: activity.clone(),
            },
            state: InstanceWorker {
                config: config.clone(),
                traces: self.traces.clone(),
                instance,
                isolation: self.isolation.clone(),
                stopping: self.stopping.clone(),
                activity,
            },
        })
    }
}

/// What one instance is doing, shared by its expiration (which sees the worker's status) and
/// its worker state (which decides whether it takes more requests).
struct Activity {
    /// Held while the instance serves requests or runs tasks after its answers.
    busy: Mutex<Option<Busy>>,
    /// Its requests are answered but tasks they spawned still run (as last seen).
    post_return: AtomicBool,
    /// Those tasks ran past their deadline and the instance was ended for it.
    post_return_expired: AtomicBool,
    last_request_start: Mutex<Instant>,
    in_flight: Arc<InFlight>,
}

impl Activity {
    fn observe(&self, status: WorkerStatus) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        match status {
            WorkerStatus::Idle => *busy = None,
            WorkerStatus::Requests | WorkerStatus::PostReturn => {
                if busy.is_none() {
                    *busy = Some(self.in_flight.enter());
                }
            }
        }
        self.post_return
            .store(status == WorkerStatus::PostReturn, Ordering::Relaxed);
    }

    fn last_request_start(&self) -> Instant {
        *self
            .last_request_start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Ends an instance once it has been idle for `IDLE_INSTANCE_TIMEOUT`, or busy for longer than
/// a request may take (the guest is stuck; `on_request_start`'s deadline cannot fire then), or
/// running post-response tasks past its last request's deadline.
pub struct IdleExpiration {
    sleep: Pin<Box<tokio::time::Sleep>>,
    max_request_duration: Duration,
    activity: Arc<Activity>,
}

impl WorkerExpiration for IdleExpiration {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        self.activity.observe(status);
        let deadline = match status {
            WorkerStatus::Idle => start + IDLE_INSTANCE_TIMEOUT,
            WorkerStatus::Requests => start + self.max_request_duration + IDLE_INSTANCE_TIMEOUT,
            WorkerStatus::PostReturn => {
                self.activity.last_request_start() + self.max_request_duration
            }
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        let expired = self.sleep.as_mut().poll(cx);
        if expired.is_ready() && status == WorkerStatus::PostReturn {
            self.activity
                .post_return_expired
                .store(true, Ordering::Relaxed);
        }
        expired
    }
}

/// Per-instance bookkeeping for the `ProxyHandler` worker.
pub struct InstanceWorker {
    config: Arc<ComponentConfig>,
    traces: Arc<Mutex<HashMap<u64, tracing::Span>>>,
    instance: u64,
    isolation: Arc<Isolation>,
    stopping: Arc<AtomicBool>,
    activity: Arc<Activity>,
}

impl WorkerState for InstanceWorker {
    type StoreData = HostState;
    type RequestId = u64;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        let limits = &self.config.limits;
        if total >= limits.max_instance_reuse_count {
            ShouldAccept::Never
        } else if concurrent >= limits.max_instance_concurrent_reuse_count
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
        request: u64,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        store.data_mut().cpu.refill();
        if telemetry::enabled()
            && let Some(span) = lock(&self.traces).get(&request)
        {
            store.data_mut().trace.started(span.clone());
        }
        *self
            .activity
            .last_request_start
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Box::pin(tokio::time::sleep(self.config.limits.max_request_duration))
    }

    fn drop(&self, store: Store<HostState>, result: wasmtime::Result<()>) {
        tracing::debug!(
            component = &*self.config.id,
            instance = self.instance,
            failed = result.is_err(),
            "instance ended"
        );
        let end = InstanceEnd {
            config: self.config.clone(),
            instance: self.instance,
            isolation: self.isolation.clone(),
            stopping: self.stopping.clone(),
        };
        report_instance_end(
            &end,
            &result,
            self.activity.post_return.load(Ordering::Relaxed),
            self.activity.post_return_expired.load(Ordering::Relaxed),
        );
        drop(store);
    }
}

/// What is known of an instance when it ends, to report how it ended.
pub struct InstanceEnd {
    pub config: Arc<ComponentConfig>,
    pub instance: u64,
    pub isolation: Arc<Isolation>,
    pub stopping: Arc<AtomicBool>,
}

/// Logs an instance's failure with its component (on one line; the full chain, with the
/// guest's backtrace, at debug) and trips the component's isolation. `after_answer`: its
/// requests were answered and it failed in work it kept doing; `expired`: that work ran past
/// `--max-request-duration`. Instances still alive when the app shuts down end unfinished,
/// which is no failure of the guest.
pub fn report_instance_end(
    end: &InstanceEnd,
    result: &wasmtime::Result<()>,
    after_answer: bool,
    expired: bool,
) {
    let (component, log) = (&*end.config.id, &end.config.log);
    let Err(e) = result else { return };
    if end.stopping.load(Ordering::Relaxed) {
        return;
    }
    let instance = end.instance;
    if expired {
        log.error(format_args!(
            "work the guest kept doing after its answer did not finish within {:?} of \
             its request (--max-request-duration); stopped (instance {instance})",
            end.config.limits.max_request_duration,
        ));
    } else if after_answer {
        log.error(format_args!(
            "instance failed after its answer, in work it kept doing: {} (instance \
             {instance})",
            e.root_cause()
        ));
    } else {
        log.error(format_args!(
            "instance failed: {} (instance {instance})",
            e.root_cause()
        ));
    }
    tracing::debug!(component, "instance failure in full: {e:?}");
    end.isolation.trip(log);
}
