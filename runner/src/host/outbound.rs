//! Outbound HTTP from guests (`wasi:http/client`): every request is checked against the
//! component's `allowed_outbound_hosts` before anything connects. Requests to
//! `<component>.spin.internal` never touch a socket: they go straight to that component's
//! handler in this process (Spin's service chaining). Everything else uses wasmtime's
//! default HTTP client.

use crate::allowed_hosts::AllowList;
use crate::instances::Components;
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

pub struct OutboundHttp {
    pub component: Arc<str>,
    pub allowed: Arc<AllowList>,
    pub components: Weak<Components>,
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
    components: Weak<Components>,
    target: &str,
    request: http::Request<Body>,
) -> SendResult {
    let Some(components) = components.upgrade() else {
        return Err(ErrorCode::ConnectionRefused.into());
    };
    let Some(handler) = components.handler(target) else {
        tracing::warn!("service chaining: no component named `{target}`");
        return Err(ErrorCode::DestinationNotFound.into());
    };
    let request = request.map(|body| body.map_err(handler::ErrorCode::from).boxed_unsync());
    let response = components
        .handle(target, handler, request)
        .await
        .map_err(|e| {
            tracing::warn!("service chaining to `{target}` failed: {e:#}");
            ErrorCode::InternalError(Some(format!("component `{target}` failed")))
        })?;
    let response = response.map(|body| {
        body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
            .boxed_unsync()
    });
    Ok((response, Box::new(async { Ok(()) }) as IoFuture))
}
