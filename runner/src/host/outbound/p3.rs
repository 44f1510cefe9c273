//! `wasi:http/client@0.3.0`'s hook: allow-list check, in-process chaining, or the network.

use super::{InternalFailure, OutboundHttp, Route, dispatch_internal};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi::TrappableError;
use wasmtime_wasi_http::handler;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks};

type Body = UnsyncBoxBody<Bytes, ErrorCode>;
type IoFuture = Box<dyn Future<Output = Result<(), ErrorCode>> + Send>;
type SendResult = Result<(http::Response<Body>, IoFuture), TrappableError<ErrorCode>>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<RequestOptions>,
        _response_io: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let scheme = request.uri().scheme_str().unwrap_or("http").to_string();
        match self.route(&scheme, request.uri()) {
            Route::Denied => Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) }),
            Route::Internal(target) => {
                let components = self.components.clone();
                Box::new(async move {
                    let request =
                        request.map(|body| body.map_err(handler::ErrorCode::from).boxed_unsync());
                    let response = dispatch_internal(components, &target, request)
                        .await
                        .map_err(|failure| match failure {
                            InternalFailure::Closed => ErrorCode::ConnectionRefused,
                            InternalFailure::NoSuchComponent => ErrorCode::DestinationNotFound,
                            InternalFailure::Failed(reason) => {
                                ErrorCode::InternalError(Some(reason))
                            }
                        })?;
                    let response = response.map(|body| {
                        body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
                            .boxed_unsync()
                    });
                    Ok((response, Box::new(async { Ok(()) }) as IoFuture))
                })
            }
            Route::Network => Box::new(async move {
                let (response, io) =
                    wasmtime_wasi_http::p3::default_send_request(request, options).await?;
                Ok((
                    response.map(BodyExt::boxed_unsync),
                    Box::new(io) as IoFuture,
                ))
            }),
        }
    }
}
