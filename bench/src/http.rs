//! A minimal HTTP/1.1 client on hyper's connection API: connect first, then send one GET, so
//! callers can time (and pace) the two steps separately.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpStream;

pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Empty<Bytes>>,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Connect errors are kept apart from request errors: they mean different things.
#[derive(Debug)]
pub enum Failure {
    Connect(std::io::Error),
    Request(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Request(e) => write!(f, "request: {e}"),
        }
    }
}

impl std::error::Error for Failure {}

pub async fn connect(addr: SocketAddr) -> Result<Connection, Failure> {
    let stream = TcpStream::connect(addr).await.map_err(Failure::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Request(chain(&e)))?;
    // Drives the socket; ends when the sender is dropped and the exchange is over.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Connection { addr, sender })
}

impl Connection {
    /// One GET, read to the end of the body.
    pub async fn get(mut self, path: &str) -> Result<Answer, Failure> {
        let request = Request::get(path)
            .header(HOST, self.addr.to_string())
            .body(Empty::new())
            .map_err(|e| Failure::Request(e.to_string()))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| Failure::Request(chain(&e)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Request(chain(&e)))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// Connects and GETs `path`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<Answer, Failure> {
    connect(addr).await?.get(path).await
}

/// An error with its causes, `outer: inner: ...` (hyper hides the io error in the source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
