//! Spin's well-known endpoints, answered by the runner before any route:
//! `/.well-known/spin/health` is `200 OK` while the app serves and `503` once a graceful
//! shutdown has begun (so a load balancer stops sending new requests while open ones
//! finish); `/.well-known/spin/info` is the app's name and version as JSON, as Spin gives
//! them; anything else under the prefix is `404`.

use crate::router::{ResponseBody, plain};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::watch;

/// Where the endpoints live.
const PREFIX: &str = "/.well-known/spin/";

pub struct WellKnown {
    /// `{"name": ..., "version": ...}`.
    info: Bytes,
    /// Turns true when a graceful shutdown begins.
    stopping: watch::Receiver<bool>,
}

impl WellKnown {
    pub fn new(name: &str, version: Option<&str>, stopping: watch::Receiver<bool>) -> Self {
        let mut info = serde_json::json!({ "name": name });
        if let Some(version) = version {
            info["version"] = version.into();
        }
        let info = serde_json::to_vec_pretty(&info).unwrap_or_default();
        Self {
            info: Bytes::from(info),
            stopping,
        }
    }

    /// The answer for `path`, if it is one of these endpoints' (or under their prefix).
    pub fn answer(&self, path: &str) -> Option<Response<ResponseBody>> {
        let endpoint = path.strip_prefix(PREFIX)?;
        Some(match endpoint {
            "health" if *self.stopping.borrow() => {
                plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            }
            "health" => plain(StatusCode::OK, "OK"),
            "info" => {
                let mut response = Response::new(
                    Full::new(self.info.clone())
                        .map_err(|e: std::convert::Infallible| match e {})
                        .boxed_unsync(),
                );
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            _ => plain(StatusCode::NOT_FOUND, "Not Found\n"),
        })
    }
}
