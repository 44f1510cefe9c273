//! The trace of the request an instance is serving, for the spans of what its guest does
//! (outbound calls, store calls, SQLite statements) and the `traceparent` its outbound calls
//! carry. An instance records the span of each request it starts; with several requests in
//! one instance at once (WASI 0.3), a guest's call is attributed to the latest of them (the
//! host is not told which request a guest call belongs to). With telemetry off, nothing is
//! recorded and every span is disabled.

use crate::telemetry;
use std::sync::{Arc, Mutex};

/// One instance's current request span (shared by its store's capabilities).
#[derive(Clone, Default)]
pub struct RequestTrace(Arc<Mutex<Option<tracing::Span>>>);

impl RequestTrace {
    /// The instance has started serving the request of `span`.
    pub fn started(&self, span: tracing::Span) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(span);
    }

    /// The OpenTelemetry context of the current request's span (invalid when there is none,
    /// or telemetry is off).
    pub fn span_context(&self) -> opentelemetry::trace::SpanContext {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let current = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match current {
            Some(span) if telemetry::enabled() => span.context().span().span_context().clone(),
            _ => opentelemetry::trace::SpanContext::empty_context(),
        }
    }

    /// The current request span's id, to parent a child span on.
    fn parent(&self) -> Option<tracing::Id> {
        let current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().and_then(tracing::Span::id)
    }

    /// A child span of the current request (`name`: what the guest does), or a disabled
    /// span when telemetry is off.
    pub fn child(&self, name: &str) -> tracing::Span {
        if !telemetry::enabled() {
            return tracing::Span::none();
        }
        tracing::trace_span!(
            target: telemetry::TARGET,
            parent: self.parent(),
            "guest call",
            otel.name = name,
            otel.kind = "internal",
        )
    }

    /// A client span for an outbound request to `url` by `method`, child of the current one.
    pub fn outbound(&self, method: &http::Method, url: &http::Uri) -> tracing::Span {
        if !telemetry::enabled() {
            return tracing::Span::none();
        }
        tracing::trace_span!(
            target: telemetry::TARGET,
            parent: self.parent(),
            "outbound",
            otel.name = %method,
            otel.kind = "client",
            http.request.method = %method,
            server.address = url.host().unwrap_or_default(),
            url.path = url.path(),
        )
    }
}
