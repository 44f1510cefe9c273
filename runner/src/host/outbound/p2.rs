//! `wasi:http/outgoing-handler@0.2.x`'s hook, for components built with earlier SDKs: the
//! same allow-list check, in-process answers (chaining to a 0.2 or 0.3 component alike, or a
//! test's network) and the real network.

use super::drain_unread::drain_unread;
use super::{OutboundHttp, Route};
use http_body_util::BodyExt;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{
    HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig,
};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpHooks};

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: hyper::Request<HyperOutgoingBody>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let scheme = if config.use_tls { "https" } else { "http" };
        let mut request = request.map(drain_unread);
        let route = self.route(scheme, request.uri());
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let span = self.trace(&method, &uri, request.headers_mut());
        match route {
            Route::Denied => Ok(HostFutureIncomingResponse::ready(Ok(Err(
                ErrorCode::HttpRequestDenied,
            )))),
            Route::Network => {
                let _entered = span.enter();
                Ok(wasmtime_wasi_http::p2::default_send_request(
                    request, config,
                ))
            }
            Route::InProcess(target) => {
                let between_bytes_timeout = config.between_bytes_timeout;
                let handle = wasmtime_wasi::runtime::spawn(tracing::Instrument::instrument(
                    async move {
                        let request =
                            request.map(|body| body.map_err(handler::ErrorCode::P2).boxed_unsync());
                        let response =
                            match target.send(request, Some(config.first_byte_timeout)).await {
                                Ok(response) => response,
                                Err(failure) => return Ok(Err(error_code(failure))),
                            };
                        let resp = response.map(|body| body.map_err(body_error).boxed_unsync());
                        Ok(Ok(IncomingResponse {
                            resp,
                            worker: None,
                            between_bytes_timeout,
                        }))
                    },
                    span,
                ));
                Ok(HostFutureIncomingResponse::pending(handle))
            }
        }
    }
}

super::guest_error_codes!(ErrorCode);
