//! Requests from the test to its app: real HTTP/1.1 over loopback to the app's own port, one
//! connection per request (so concurrent requests never queue behind each other), the whole
//! answer read before it is returned.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// An answer, read whole.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// The status code (`200`).
    pub status: u16,
    /// The response headers, as sent.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` to the app at `addr`. A path-only URI (`/users/1`) is sent as is; an
/// absolute one (`http://example.com/users/1`) is sent to the app too, its authority as
/// the `Host` header the guests see.
pub async fn send<B: Into<Bytes>>(
    addr: SocketAddr,
    request: http::Request<B>,
) -> anyhow::Result<TestResponse> {
    let (mut parts, body) = request.into_parts();
    let host = match parts.uri.authority() {
        Some(authority) => authority.to_string(),
        None => addr.to_string(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let described = format!("{} {path}", parts.method);
    parts.uri = path.parse()?;
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(http::header::HOST, host.parse()?);
    }
    let request = http::Request::from_parts(parts, Full::new(body.into()));

    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{described}: connecting to the app at {addr}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| anyhow::anyhow!("{described}: {e}"))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| anyhow::anyhow!("{described}: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("{described}: reading the body: {e}"))?
        .to_bytes();
    Ok(TestResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.to_vec(),
    })
}
