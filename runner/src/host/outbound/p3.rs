//! `wasi:http/client@0.3.0`'s hook: allow-list check, then in-process (chaining, or a test's
//! network) or the real network.

use super::{OutboundHttp, Route};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tracing::Instrument;
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
        mut request: http::Request<Body>,
        options: Option<RequestOptions>,
        _response_io: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let scheme = request.uri().scheme_str().unwrap_or("http").to_string();
        let route = self.route(&scheme, request.uri());
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let span = self.trace(&method, &uri, request.headers_mut());
        match route {
            Route::Denied => Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) }),
            Route::InProcess(target) => Box::new(
                async move {
                    let request =
                        request.map(|body| body.map_err(handler::ErrorCode::from).boxed_unsync());
                    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout);
                    let response = target
                        .send(request, first_byte_timeout)
                        .await
                        .map_err(error_code)?;
                    let response = response.map(|body| body.map_err(body_error).boxed_unsync());
                    Ok((response, Box::new(async { Ok(()) }) as IoFuture))
                }
                .instrument(span),
            ),
            Route::Network => Box::new(
                async move {
                    let (response, io) =
                        wasmtime_wasi_http::p3::default_send_request(request, options).await?;
                    Ok((
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as IoFuture,
                    ))
                }
                .instrument(span),
            ),
        }
    }
}

super::guest_error_codes!(ErrorCode);
