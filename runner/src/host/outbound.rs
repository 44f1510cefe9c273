//! Outbound HTTP from guests (`wasi:http/client`): every request is checked against the
//! component's `allowed_outbound_hosts` before anything connects. Requests to
//! `<component>.spin.internal` never touch a socket: they go straight to that component's
//! handler in this process (Spin's service chaining), through the `Dispatch` trait the app's
//! components implement, so this module never depends on how they are served. Everything
//! else uses wasmtime's default HTTP client.

use crate::allowed_hosts::AllowList;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::sync::{Arc, Weak};
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks};

/// Host part of `*.spin.internal` URLs.
const INTERNAL_SUFFIX: &str = ".spin.internal";

type Body = UnsyncBoxBody<Bytes, ErrorCode>;
type IoFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;
type SendResult = Result<(http::Response<Body>, IoFuture), TrappableError<ErrorCode>>;

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
    /// The app has no component by that name.
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

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        _response_io: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        if !self.allowed.allows(&scheme, &host, uri.port_u16()) {
            tracing::warn!(
                component = &*self.component,
                "outbound request to {scheme}://{} denied: not in allowed_outbound_hosts",
                uri.authority().map(|a| a.as_str()).unwrap_or_default()
            );
            return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
        }
        if let Some(target) = host.strip_suffix(INTERNAL_SUFFIX) {
            let target = target.to_string();
            let components = self.components.clone();
            return Box::new(async move { send_internal(components, &target, request).await });
        }
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::p3::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}

/// Hands a request to another component of this app, in-process.
async fn send_internal(
    components: Weak<dyn Dispatch>,
    target: &str,
    request: http::Request<Body>,
) -> SendResult {
    let Some(components) = components.upgrade() else {
        return Err(ErrorCode::ConnectionRefused.into());
    };
    let request = request.map(|body| body.map_err(handler::ErrorCode::from).boxed_unsync());
    let response = match components.dispatch(target, request).await {
        Ok(response) => response,
        Err(DispatchError::NoSuchComponent) => {
            tracing::warn!("service chaining: no component named `{target}`");
            return Err(ErrorCode::DestinationNotFound.into());
        }
        Err(DispatchError::Failed(e)) => {
            tracing::warn!("service chaining to `{target}` failed: {e:#}");
            return Err(
                ErrorCode::InternalError(Some(format!("component `{target}` failed"))).into(),
            );
        }
    };
    let response = response.map(|body| {
        body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
            .boxed_unsync()
    });
    Ok((response, Box::new(async { Ok(()) }) as IoFuture))
}
