//! Outbound HTTP from guests, for both generations of `wasi:http` (`p3`: the 0.3 `client`;
//! `p2`: the 0.2 `outgoing-handler`): every request is checked against the component's
//! `allowed_outbound_hosts` before anything connects (`Route::of`). Requests to
//! `<component>.spin.internal` never touch a socket: they go straight to that component's
//! handler in this process (Spin's service chaining), through the `Dispatch` trait the app's
//! components implement, so this module never depends on how they are served. Everything
//! else uses wasmtime's default HTTP client. A 0.2 component may call a 0.3 one and back.

mod drain_unread;
mod p2;
mod p3;

use crate::allowed_hosts::AllowList;
use std::sync::{Arc, Weak};
use wasmtime_wasi_http::handler;

/// Host part of `*.spin.internal` URLs.
const INTERNAL_SUFFIX: &str = ".spin.internal";

/// "Send this request to component `id`": the one way into a component, for the router and
/// for service chaining alike.
#[async_trait::async_trait]
pub trait Dispatch: Send + Sync {
    async fn dispatch(
        &self,
        component: &str,
        request: handler::Request,
    ) -> Result<handler::Response, DispatchError>;
}

/// Why a dispatched request got no response.
#[derive(Debug)]
pub enum DispatchError {
    /// The app has no component by that name (or none with an HTTP handler).
    NoSuchComponent,
    /// The guest failed (trap, limit, deadline); the cause is logged with the component.
    Failed(wasmtime::Error),
}

pub struct OutboundHttp {
    pub component: Arc<str>,
    pub allowed: Arc<AllowList>,
    /// The app's components (weak: they own the instances that own this).
    pub components: Weak<dyn Dispatch>,
}

/// Where an outbound request goes.
enum Route {
    /// Refused by `allowed_outbound_hosts`.
    Denied,
    /// To the app's component of this name, in-process.
    Internal(String),
    /// Out through a socket.
    Network,
}

impl OutboundHttp {
    fn route(&self, scheme: &str, uri: &http::Uri) -> Route {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        if !self.allowed.allows(scheme, &host, uri.port_u16()) {
            tracing::warn!(
                component = &*self.component,
                "outbound request to {scheme}://{} denied: not in allowed_outbound_hosts",
                uri.authority().map(|a| a.as_str()).unwrap_or_default()
            );
            return Route::Denied;
        }
        match host.strip_suffix(INTERNAL_SUFFIX) {
            Some(target) => Route::Internal(target.to_string()),
            None => Route::Network,
        }
    }
}

/// Hands a request to component `target` of this app; failures are logged here and come
/// back as `None` (no such component) or `Some(reason)` for the caller's error code.
async fn dispatch_internal(
    components: Weak<dyn Dispatch>,
    target: &str,
    request: handler::Request,
) -> Result<handler::Response, InternalFailure> {
    let Some(components) = components.upgrade() else {
        return Err(InternalFailure::Closed);
    };
    components
        .dispatch(target, request)
        .await
        .map_err(|e| match e {
            DispatchError::NoSuchComponent => {
                tracing::warn!("service chaining: no component named `{target}`");
                InternalFailure::NoSuchComponent
            }
            DispatchError::Failed(e) => {
                tracing::warn!("service chaining to `{target}` failed: {e:#}");
                InternalFailure::Failed(format!("component `{target}` failed"))
            }
        })
}

/// Why service chaining failed, for each `wasi:http` version's error code.
enum InternalFailure {
    /// The app is shutting down.
    Closed,
    NoSuchComponent,
    Failed(String),
}
