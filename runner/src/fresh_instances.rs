//! Serving a WASI 0.2 component's requests: a fresh instance for every request, as under Spin,
//! made and called directly from the request's own task. No worker, queue or idle timer stands
//! between the request and its instance, because a WASI 0.2 instance is never shared or reused
//! (its export is synchronous, and SDKs such as JavaScript's cannot serve a second request in
//! one instance).
//!
//! The guest's call runs in a task of its own, so that it can go on writing the body after it
//! has set the answer; the caller gets the answer as soon as it is set. The call is bounded by
//! `--max-request-duration` from the request's start, answer and body alike; the CPU budget
//! (`--max-request-cpu`) and the memory cap are the store's own. While the instance lives, it
//! counts as work in flight, which a graceful shutdown waits for. A full instance pool is waited
//! out as for shared instances (`PoolWait`).

use crate::component::ComponentConfig;
use crate::host::HostState;
use crate::host::outbound::Dispatch;
use crate::in_flight::InFlight;
use crate::instances::{InstanceEnd, Isolation, report_instance_end};
use crate::pooling::PoolWait;
use crate::telemetry;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::oneshot;
use tracing::Instrument;
use wasmtime::Store;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p2::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What the guest handed to `response-outparam.set`.
type Answer = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

/// The message wasmtime's own handler gives a guest that returns without an answer.
const NO_ANSWER: &str = "guest never invoked `response-outparam::set` method";

/// One WASI 0.2 component's requests.
pub struct FreshInstances {
    config: Arc<ComponentConfig>,
    pre: ProxyPre<HostState>,
    components: Weak<dyn Dispatch>,
    next_instance: AtomicU64,
    isolation: Arc<Isolation>,
    stopping: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
}

impl FreshInstances {
    pub fn new(
        config: Arc<ComponentConfig>,
        pre: ProxyPre<HostState>,
        components: Weak<dyn Dispatch>,
        stopping: Arc<AtomicBool>,
        in_flight: Arc<InFlight>,
    ) -> Self {
        Self {
            config,
            pre,
            components,
            next_instance: AtomicU64::new(0),
            isolation: Arc::default(),
            stopping,
            in_flight,
        }
    }

    pub fn config(&self) -> &Arc<ComponentConfig> {
        &self.config
    }

    /// Serves `request` from a new instance. Errors are what `Components::handle` reports:
    /// a full pool (`pooling::is_pool_full`), `handler::ExpirationError` when no answer came
    /// within `--max-request-duration`, or the guest's own failure.
    pub async fn handle(&self, request: handler::Request) -> wasmtime::Result<handler::Response> {
        let busy = self.in_flight.enter();
        let started = Instant::now();
        let (mut store, proxy) = self.instantiate_when_a_slot_frees().await?;
        let instance = self.next_instance.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = &*self.config.id, instance, "new instance");
        telemetry::record_instance(&self.config.id);
        store.data_mut().cpu.refill();
        if telemetry::enabled() {
            store.data_mut().trace.started(tracing::Span::current());
        }

        let answered = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel::<Answer>();
        let (incoming, outparam) = {
            let mut http = store.data_mut().http();
            let incoming = http.new_incoming_request(Scheme::Http, request)?;
            let answered = answered.clone();
            let outparam = http.new_response_outparam_from_callback(move |answer| {
                answered.store(true, Ordering::Relaxed);
                _ = tx.send(answer);
            })?;
            (incoming, outparam)
        };

        let deadline =
            tokio::time::Instant::from_std(started) + self.config.limits.max_request_duration;
        let end = InstanceEnd {
            config: self.config.clone(),
            instance,
            isolation: self.isolation.clone(),
            stopping: self.stopping.clone(),
        };
        let guest = tokio::spawn(
            async move {
                let call = proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam);
                let (result, expired) = match tokio::time::timeout_at(deadline, call).await {
                    Ok(result) => (result, false),
                    Err(_) => (Err(wasmtime::format_err!("guest timed out")), true),
                };
                let after_answer = answered.load(Ordering::Relaxed);
                report_instance_end(&end, &result, after_answer, after_answer && expired);
                drop(store);
                drop(busy);
                // Both deadlines are the same instant: the caller may see the answer channel
                // close before its own timer fires, and must still report an expiry.
                match expired && !after_answer {
                    true => Err(handler::ExpirationError.into()),
                    false => result,
                }
            }
            .in_current_span(),
        );

        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(Ok(response))) => {
                Ok(response.map(|body| body.map_err(wasmtime::Error::from).boxed_unsync()))
            }
            Ok(Ok(Err(code))) => Err(wasmtime::Error::from(code)),
            // The guest returned, trapped or ran out of a limit without answering.
            Ok(Err(_)) => match guest.await {
                Ok(Err(failure)) => Err(failure),
                _ => Err(wasmtime::format_err!("{NO_ANSWER}")),
            },
            Err(_) => Err(handler::ExpirationError.into()),
        }
    }

    /// A new instance, waiting for a slot while the instance pool is full (`PoolWait`).
    async fn instantiate_when_a_slot_frees(&self) -> wasmtime::Result<(Store<HostState>, Proxy)> {
        let mut wait = PoolWait::new();
        loop {
            let mut store = self.config.new_store(self.components.clone());
            let error = match self.pre.instantiate_async(&mut store).await {
                Ok(proxy) => return Ok((store, proxy)),
                Err(error) => error,
            };
            drop(store);
            if !wait.retry(&error).await {
                return Err(error);
            }
        }
    }
}
