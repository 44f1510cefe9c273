//! Outbound HTTP from guests, for both generations of `wasi:http` (`p3`: the 0.3 `client`;
//! `p2`: the 0.2 `outgoing-handler`): every request is checked against the component's
//! `allowed_outbound_hosts` before anything connects (`OutboundHttp::route`). Requests to
//! `<component>.spin.internal` never touch a socket: they go straight to that component's
//! handler in this process (Spin's service chaining), through the `Dispatch` trait the app's
//! components implement, so this module never depends on how they are served. Everything
//! else uses wasmtime's default HTTP client, unless a test put a `Network` of its own in its
//! place (`runner::testing`'s mocks), which then answers after the same allow-list check. A
//! 0.2 component may call a 0.3 one and back.

mod drain_unread;

mod p2;
mod p3;

use crate::allowed_hosts::AllowList;
use crate::host::logging::ComponentLog;
use crate::request_trace::RequestTrace;
use std::sync::{Arc, Weak};
use std::time::Duration;
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

/// A network that answers in this process instead of the real one: what a test puts in
/// place of the sockets (`runner::testing`'s outbound mocks). Requests reach it only after
/// the allow-list let them through, and never for `*.spin.internal`.
#[async_trait::async_trait]
pub trait Network: Send + Sync {
    /// Answers `request`, sent by the component `from` logs for; `first_byte_timeout` is the
    /// guest's own limit on waiting for the response, if it set one.
    async fn send(
        &self,
        from: &ComponentLog,
        request: handler::Request,
        first_byte_timeout: Option<Duration>,
    ) -> Result<handler::Response, SendFailure>;
}

/// Why a request answered in this process got no response, for each `wasi:http` version's
/// error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    ConnectionRefused,
    DestinationNotFound,
    /// No connection within the time allowed.
    ConnectionTimeout,
    /// No response within the guest's first-byte timeout.
    ReadTimeout,
    Internal(String),
}

/// A response body error meaning the peer cut the connection after the headers; the guest
/// sees `connection-terminated`.
#[derive(Debug)]
pub struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by peer")
    }
}

impl std::error::Error for ConnectionReset {}

/// `error_code` (a `SendFailure` as the guest sees it) and `body_error` (a response body's
/// error as the guest sees it) for one `wasi:http` version's `ErrorCode`: the versions'
/// generated types are twins, so the mapping is written once.
macro_rules! guest_error_codes {
    ($ErrorCode:ty) => {
        fn error_code(failure: super::SendFailure) -> $ErrorCode {
            use super::SendFailure;
            type Code = $ErrorCode;
            match failure {
                SendFailure::ConnectionRefused => Code::ConnectionRefused,
                SendFailure::DestinationNotFound => Code::DestinationNotFound,
                SendFailure::ConnectionTimeout => Code::ConnectionTimeout,
                SendFailure::ReadTimeout => Code::ConnectionReadTimeout,
                SendFailure::Internal(reason) => Code::InternalError(Some(reason)),
            }
        }

        fn body_error(e: wasmtime::Error) -> $ErrorCode {
            if e.is::<super::ConnectionReset>() {
                <$ErrorCode>::ConnectionTerminated
            } else {
                <$ErrorCode>::InternalError(Some(e.to_string()))
            }
        }
    };
}
use guest_error_codes;

pub struct OutboundHttp {
    pub log: ComponentLog,
    pub allowed: Arc<AllowList>,
    /// The app's components (weak: they own the instances that own this).
    pub components: Weak<dyn Dispatch>,
    /// Where requests for other hosts go instead of the real network, if anywhere.
    pub network: Option<Arc<dyn Network>>,
    /// The request the instance serves: outbound calls are its child spans and carry its
    /// trace (`traceparent`).
    pub trace: RequestTrace,
}

/// Where an outbound request goes.
enum Route {
    /// Refused by `allowed_outbound_hosts`.
    Denied,
    /// Answered in this process, without a socket.
    InProcess(InProcess),
    /// Out through a socket.
    Network,
}

/// Who answers a request in this process.
enum InProcess {
    /// The app's component of this name (service chaining).
    Component {
        components: Weak<dyn Dispatch>,
        target: String,
    },
    /// The network a test put in place of the real one.
    Replaced {
        network: Arc<dyn Network>,
        from: ComponentLog,
    },
}

impl OutboundHttp {
    /// The span of an outbound request, its trace context written into `headers`.
    fn trace(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut http::HeaderMap,
    ) -> tracing::Span {
        let span = self.trace.outbound(method, uri);
        crate::telemetry::inject(&span, headers);
        span
    }

    fn route(&self, scheme: &str, uri: &http::Uri) -> Route {
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        if !self.allowed.allows(scheme, &host, uri.port_u16()) {
            self.log.warn(format_args!(
                "outbound request to {scheme}://{} denied: not in allowed_outbound_hosts",
                uri.authority().map(|a| a.as_str()).unwrap_or_default()
            ));
            return Route::Denied;
        }
        match (host.strip_suffix(INTERNAL_SUFFIX), &self.network) {
            (Some(target), _) => Route::InProcess(InProcess::Component {
                components: self.components.clone(),
                target: target.to_string(),
            }),
            (None, Some(network)) => Route::InProcess(InProcess::Replaced {
                network: network.clone(),
                from: self.log.clone(),
            }),
            (None, None) => Route::Network,
        }
    }
}

impl InProcess {
    /// Sends `request` and waits for the response head.
    async fn send(
        self,
        request: handler::Request,
        first_byte_timeout: Option<Duration>,
    ) -> Result<handler::Response, SendFailure> {
        match self {
            Self::Component { components, target } => {
                dispatch_internal(components, &target, request).await
            }
            Self::Replaced { network, from } => {
                network.send(&from, request, first_byte_timeout).await
            }
        }
    }
}

/// Hands a request to component `target` of this app, with the `spin-*` headers Spin gives
/// a chained request; failures are logged here.
async fn dispatch_internal(
    components: Weak<dyn Dispatch>,
    target: &str,
    mut request: handler::Request,
) -> Result<handler::Response, SendFailure> {
    let uri = request.uri().clone();
    crate::spin_headers::add_chained(request.headers_mut(), &uri);
    let Some(components) = components.upgrade() else {
        // The app is shutting down.
        return Err(SendFailure::ConnectionRefused);
    };
    components
        .dispatch(target, request)
        .await
        .map_err(|e| match e {
            DispatchError::NoSuchComponent => {
                tracing::warn!("service chaining: no component named `{target}`");
                SendFailure::DestinationNotFound
            }
            DispatchError::Failed(e) => {
                tracing::warn!("service chaining to `{target}` failed: {e:#}");
                SendFailure::Internal(format!("component `{target}` failed"))
            }
        })
}
