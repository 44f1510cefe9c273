//! Outbound HTTP under the test's control: the network a `TestApp`'s guests reach instead of
//! the real one. Requests get here only after the component's `allowed_outbound_hosts` let
//! them through (a call the manifest forbids fails in the guest exactly as in production and
//! reaches no mock), and never for `*.spin.internal`, which stays real chaining.
//!
//! Every request is recorded whole (method, URL, headers, body). Mocks are tried in the order
//! they were mounted; the first whose matchers all accept the request and which has uses left
//! answers it, after its delay on the app's clock. A request no mock answers fails in the
//! guest as a refused connection would, and is listed in `unmatched()`.

use crate::clock::VirtualClock;
use crate::host::logging::ComponentLog;
use crate::host::outbound::{ConnectionReset, Network, SendFailure};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::handler;

/// A request a guest sent out, as the network saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The component that sent it.
    pub component: String,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL, normalized: lowercase scheme and host, no default port
    /// (`https://api.example.com/users/1?x=2`).
    pub url: String,
    /// The request headers, as sent.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How a mock fails instead of answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection is refused: the guest gets `connection-refused`.
    ConnectionRefused,
    /// The connection cannot be made in time: the guest gets `connection-timeout`.
    Timeout,
    /// A `200` head arrives, then the connection is cut: reading the body fails with
    /// `connection-terminated`. (`MockResponse::reset_after_headers` for another head.)
    ResetAfterHeaders,
}

/// What a mock answers: status, headers, body; optionally cut after the head.
#[derive(Clone, Debug)]
pub struct MockResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    reset: bool,
}

impl MockResponse {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            reset: false,
        }
    }

    /// Adds a response header (repeat the name to send it several times).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The response body (`content-length` is added unless a header gives it).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the head and the body given so far, then cuts the connection.
    pub fn reset_after_headers(mut self) -> Self {
        self.reset = true;
        self
    }
}

/// A request predicate for `MockBuilder::matching`.
type Predicate = Box<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

/// A mock being described; it is mounted by `respond`, `respond_with` or `fail`.
#[must_use = "a mock is only mounted by `respond`, `respond_with` or `fail`"]
pub struct MockBuilder {
    mocks: Arc<Mocks>,
    spec: MockSpec,
}

/// What a mock matches and how it answers, but for its answer.
struct MockSpec {
    method: Option<String>,
    url: UrlPattern,
    headers: Vec<(http::HeaderName, String)>,
    body: Option<Vec<u8>>,
    predicates: Vec<Predicate>,
    limit: Option<usize>,
    expected: Option<usize>,
    delay: Duration,
}

impl MockBuilder {
    /// Only requests carrying this header with exactly this value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = http::HeaderName::try_from(name)
            .unwrap_or_else(|e| panic!("mock header name `{name}`: {e}"));
        self.spec.headers.push((name, value.to_string()));
        self
    }

    /// Only requests with exactly this body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.spec.body = Some(body.into());
        self
    }

    /// Only requests this predicate accepts.
    pub fn matching(
        mut self,
        predicate: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.spec.predicates.push(Box::new(predicate));
        self
    }

    /// Answers at most `n` requests; later ones go on to the next mock that matches.
    pub fn times(mut self, n: usize) -> Self {
        self.spec.limit = Some(n);
        self
    }

    /// `Outbound::verify` checks that exactly `n` requests reached this mock.
    pub fn expect(mut self, n: usize) -> Self {
        self.spec.expected = Some(n);
        self
    }

    /// Answers after `delay` on the app's clock (virtual unless the test chose real time); a
    /// guest whose first-byte timeout is shorter gets `connection-read-timeout` at that time.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.spec.delay = delay;
        self
    }

    /// Mounts the mock: it answers `status` with `body`.
    pub fn respond(self, status: u16, body: impl Into<Vec<u8>>) -> Mock {
        self.respond_with(MockResponse::new(status).body(body))
    }

    /// Mounts the mock: it answers `response`.
    pub fn respond_with(self, response: MockResponse) -> Mock {
        self.mount(Answer::Respond(response))
    }

    /// Mounts the mock: it fails as `failure` says.
    pub fn fail(self, failure: Failure) -> Mock {
        let answer = match failure {
            Failure::ResetAfterHeaders => {
                Answer::Respond(MockResponse::new(200).reset_after_headers())
            }
            other => Answer::Fail(other),
        };
        self.mount(answer)
    }

    fn mount(self, answer: Answer) -> Mock {
        let spec = self.spec;
        let state = Arc::new(MockState {
            description: format!(
                "{} {}",
                spec.method.as_deref().unwrap_or("*"),
                spec.url.text
            ),
            spec,
            answer,
            calls: Mutex::default(),
        });
        lock(&self.mocks.mounted).push(state.clone());
        Mock { state }
    }
}

enum Answer {
    Respond(MockResponse),
    Fail(Failure),
}

struct MockState {
    description: String,
    spec: MockSpec,
    answer: Answer,
    calls: Mutex<Vec<RecordedRequest>>,
}

impl MockState {
    fn calls(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        lock(&self.calls)
    }
}

impl MockSpec {
    fn matches(&self, request: &RecordedRequest) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            && self.url.matches(&request.url)
            && self.headers.iter().all(|(name, value)| {
                request
                    .headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            })
            && self.body.as_ref().is_none_or(|b| *b == request.body)
            && self.predicates.iter().all(|p| p(request))
    }
}

/// A mounted mock: how often it answered, and what.
#[derive(Clone)]
pub struct Mock {
    state: Arc<MockState>,
}

impl Mock {
    /// How many requests it answered so far.
    pub fn calls(&self) -> usize {
        self.state.calls().len()
    }

    /// The requests it answered, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.calls().clone()
    }
}

impl fmt::Debug for Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Mock({}, {} call(s))",
            self.state.description,
            self.calls()
        )
    }
}

/// A URL a mock answers: exact, or every URL starting with it when it ends in `*`.
struct UrlPattern {
    text: String,
    normalized: String,
    prefix: bool,
}

impl UrlPattern {
    fn parse(text: &str) -> Self {
        let (base, prefix) = match text.strip_suffix('*') {
            Some(base) => (base, true),
            None => (text, false),
        };
        let uri: http::Uri = base
            .parse()
            .unwrap_or_else(|e| panic!("mock URL `{text}` is not a URL: {e}"));
        let mut normalized = normalize(&uri)
            .unwrap_or_else(|| panic!("mock URL `{text}` needs a scheme and a host"));
        // `https://host*` and `https://host/*` mean the same.
        if prefix && uri.path_and_query().is_none_or(|p| p.as_str().is_empty()) {
            normalized.pop();
        }
        Self {
            text: text.to_string(),
            normalized,
            prefix,
        }
    }

    fn matches(&self, url: &str) -> bool {
        match self.prefix {
            true => url.starts_with(&self.normalized),
            false => url == self.normalized,
        }
    }
}

/// `scheme://host[:port]/path?query`, with the scheme and host lowercased and the scheme's
/// default port left out.
fn normalize(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let port = uri
        .port_u16()
        .filter(|p| Some(*p) != default_port)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    Some(format!("{scheme}://{host}{port}{path}"))
}

/// The app's outbound HTTP, as the test sees it: mount mocks, read what was sent.
#[derive(Clone)]
pub struct Outbound {
    mocks: Arc<Mocks>,
}

struct Mocks {
    clock: Option<Arc<VirtualClock>>,
    mounted: Mutex<Vec<Arc<MockState>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    unmatched: Mutex<Vec<RecordedRequest>>,
}

impl Outbound {
    pub(crate) fn new(clock: Option<Arc<VirtualClock>>) -> Self {
        Self {
            mocks: Arc::new(Mocks {
                clock,
                mounted: Mutex::default(),
                requests: Mutex::default(),
                unmatched: Mutex::default(),
            }),
        }
    }

    /// The network the app's guests reach.
    pub(crate) fn network(&self) -> Arc<dyn Network> {
        self.mocks.clone()
    }

    /// Describes a mock for `method` (`"*"` for any) and `url` (exact after normalizing
    /// scheme, host and default port; a trailing `*` matches every URL starting with the
    /// rest). Mount it with `respond`, `respond_with` or `fail`.
    ///
    /// # Panics
    /// If `url` is not an absolute URL.
    pub fn on(&self, method: &str, url: &str) -> MockBuilder {
        MockBuilder {
            mocks: self.mocks.clone(),
            spec: MockSpec {
                method: (method != "*").then(|| method.to_string()),
                url: UrlPattern::parse(url),
                headers: Vec::new(),
                body: None,
                predicates: Vec::new(),
                limit: None,
                expected: None,
                delay: Duration::ZERO,
            },
        }
    }

    /// Every request that reached the network (answered by a mock or not), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.mocks.requests).clone()
    }

    /// The requests no mock answered, in order.
    pub fn unmatched(&self) -> Vec<RecordedRequest> {
        lock(&self.mocks.unmatched).clone()
    }

    /// Unmounts every mock and forgets every request.
    pub fn reset(&self) {
        lock(&self.mocks.mounted).clear();
        lock(&self.mocks.requests).clear();
        lock(&self.mocks.unmatched).clear();
    }

    /// Checks every `expect(n)` and that no request went unanswered.
    ///
    /// # Panics
    /// Listing each mock whose count is off and each unanswered request.
    pub fn verify(&self) {
        let mut problems = Vec::new();
        for mock in lock(&self.mocks.mounted).iter() {
            let calls = mock.calls().len();
            if let Some(expected) = mock.spec.expected.filter(|n| *n != calls) {
                problems.push(format!(
                    "mock `{}` expected {expected} call(s), got {calls}",
                    mock.description
                ));
            }
        }
        for request in lock(&self.mocks.unmatched).iter() {
            problems.push(format!(
                "{} {} (from {}) matched no mock",
                request.method, request.url, request.component
            ));
        }
        assert!(
            problems.is_empty(),
            "outbound HTTP:\n  {}",
            problems.join("\n  ")
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The largest request body a mock reads; a guest sending more gets an error.
const MAX_RECORDED_BODY: usize = 64 * 1024 * 1024;

impl Mocks {
    async fn sleep(&self, duration: Duration) {
        match &self.clock {
            Some(clock) => clock.sleep(duration).await,
            None => tokio::time::sleep(duration).await,
        }
    }

    /// The first mounted mock that matches and has uses left, its use taken.
    fn take_match(&self, request: &RecordedRequest) -> Option<Arc<MockState>> {
        let mounted = lock(&self.mounted);
        let mock = mounted.iter().find(|mock| {
            mock.spec.matches(request)
                && mock
                    .spec
                    .limit
                    .is_none_or(|limit| mock.calls().len() < limit)
        })?;
        mock.calls().push(request.clone());
        Some(mock.clone())
    }
}

#[async_trait::async_trait]
impl Network for Mocks {
    async fn send(
        &self,
        from: &ComponentLog,
        request: handler::Request,
        first_byte_timeout: Option<Duration>,
    ) -> Result<handler::Response, SendFailure> {
        let (parts, body) = request.into_parts();
        let body = body.map_err(|e| {
            std::io::Error::other(match e {
                handler::ErrorCode::P2(code) => format!("{code:?}"),
                handler::ErrorCode::P3(code) => format!("{code:?}"),
            })
        });
        let body = http_body_util::Limited::new(body, MAX_RECORDED_BODY)
            .collect()
            .await
            .map_err(|e| SendFailure::Internal(format!("reading the request body: {e}")))?
            .to_bytes();
        let recorded = RecordedRequest {
            component: from.component().to_string(),
            method: parts.method.to_string(),
            url: normalize(&parts.uri).unwrap_or_else(|| parts.uri.to_string()),
            headers: parts.headers,
            body: body.to_vec(),
        };
        lock(&self.requests).push(recorded.clone());
        let Some(mock) = self.take_match(&recorded) else {
            from.warn(format_args!(
                "outbound {} {} matched no mock: refused",
                recorded.method, recorded.url
            ));
            lock(&self.unmatched).push(recorded);
            return Err(SendFailure::ConnectionRefused);
        };
        let delay = mock.spec.delay;
        if !delay.is_zero() {
            match first_byte_timeout.filter(|t| *t < delay) {
                Some(timeout) => {
                    self.sleep(timeout).await;
                    return Err(SendFailure::ReadTimeout);
                }
                None => self.sleep(delay).await,
            }
        }
        match &mock.answer {
            Answer::Fail(Failure::Timeout) => Err(SendFailure::ConnectionTimeout),
            Answer::Fail(_) => Err(SendFailure::ConnectionRefused),
            Answer::Respond(response) => build_response(response),
        }
    }
}

fn build_response(mock: &MockResponse) -> Result<handler::Response, SendFailure> {
    let bad = |e: &dyn fmt::Display| SendFailure::Internal(format!("mock response: {e}"));
    let mut response = http::Response::builder().status(mock.status);
    for (name, value) in &mock.headers {
        response = response.header(name, value);
    }
    let has_length = mock
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    if !has_length && !mock.reset {
        // What a real server sends for a body of known size.
        response = response.header(http::header::CONTENT_LENGTH, mock.body.len());
    }
    let body: UnsyncBoxBody<Bytes, wasmtime::Error> = if mock.reset {
        let frames = [
            Ok(http_body::Frame::data(Bytes::from(mock.body.clone()))),
            Err(wasmtime::Error::new(ConnectionReset)),
        ];
        StreamBody::new(futures::stream::iter(frames)).boxed_unsync()
    } else {
        Full::new(Bytes::from(mock.body.clone()))
            .map_err(|e: std::convert::Infallible| match e {})
            .boxed_unsync()
    };
    response.body(body).map_err(|e| bad(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str) -> RecordedRequest {
        RecordedRequest {
            component: "c".into(),
            method: method.into(),
            url: normalize(&url.parse().unwrap()).unwrap(),
            headers: http::HeaderMap::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn urls_match_after_normalizing_scheme_host_and_default_port() {
        let pattern = UrlPattern::parse("HTTPS://API.example.com/users/1");
        assert!(pattern.matches(&request("GET", "https://api.example.com:443/users/1").url));
        assert!(!pattern.matches(&request("GET", "https://api.example.com:8443/users/1").url));
        assert!(!pattern.matches(&request("GET", "http://api.example.com/users/1").url));
        assert!(!pattern.matches(&request("GET", "https://api.example.com/users/1?x=1").url));
        let bare = UrlPattern::parse("http://example.com");
        assert!(bare.matches(&request("GET", "http://example.com/").url));
    }

    #[test]
    fn a_trailing_star_matches_by_prefix() {
        let pattern = UrlPattern::parse("https://api.example.com/users/*");
        assert!(pattern.matches(&request("GET", "https://api.example.com/users/7?full=1").url));
        assert!(!pattern.matches(&request("GET", "https://api.example.com/teams/7").url));
        let host = UrlPattern::parse("http://127.0.0.1:8080*");
        assert!(host.matches(&request("GET", "http://127.0.0.1:8080/anything").url));
    }

    #[test]
    fn the_first_mock_with_uses_left_answers() {
        let outbound = Outbound::new(None);
        let first = outbound
            .on("GET", "http://a.test/x")
            .times(1)
            .respond(200, "one");
        let second = outbound.on("*", "http://a.test/x").respond(200, "two");
        let get = request("GET", "http://a.test/x");
        assert!(Arc::ptr_eq(
            &outbound.mocks.take_match(&get).unwrap(),
            &first.state
        ));
        assert!(Arc::ptr_eq(
            &outbound.mocks.take_match(&get).unwrap(),
            &second.state
        ));
        assert_eq!((first.calls(), second.calls()), (1, 1));
        assert!(
            outbound
                .mocks
                .take_match(&request("GET", "http://b.test/x"))
                .is_none()
        );
    }

    #[test]
    fn header_and_body_matchers_must_all_agree() {
        let outbound = Outbound::new(None);
        outbound
            .on("POST", "http://a.test/x")
            .header("x-key", "k1")
            .body("hello")
            .respond(201, "");
        let mut post = request("POST", "http://a.test/x");
        post.body = b"hello".to_vec();
        assert!(outbound.mocks.take_match(&post).is_none());
        post.headers.insert("x-key", "k1".parse().unwrap());
        assert!(outbound.mocks.take_match(&post).is_some());
        post.body = b"other".to_vec();
        assert!(outbound.mocks.take_match(&post).is_none());
    }

    #[test]
    #[should_panic(expected = "expected 2 call(s), got 0")]
    fn verify_names_a_mock_called_too_few_times() {
        let outbound = Outbound::new(None);
        outbound
            .on("GET", "http://a.test/")
            .expect(2)
            .respond(200, "");
        outbound.verify();
    }
}
