//! OpenTelemetry: traces and metrics exported over OTLP/HTTP, switched on as in Spin by the
//! standard environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the traces or metrics
//! one; `OTEL_SDK_DISABLED=true` turns it off; `OTEL_SERVICE_NAME`, default the app's name).
//!
//! Spans are `tracing` spans of the target `runner::otel` at `trace` level, which only the
//! OpenTelemetry layer listens to (the console log never shows them, and with telemetry off
//! no layer listens, so they cost a disabled call site each): a span per request (a server
//! span: route, component, method, status) with children for outbound HTTP, key-value calls,
//! SQLite statements; a span per periodic job run. W3C trace context: a request's span
//! continues the trace of its `traceparent`, and outbound calls carry one (through
//! `*.spin.internal` chaining too, so the components of one request share its trace).
//! Guests' own spans (`wasi:otel`) join the same export.
//!
//! Metrics: requests (by component and status), request durations, instances made, store
//! calls; exported every `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s) and at exit.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of every span exported.
pub const TARGET: &str = "runner::otel";

static ENABLED: AtomicBool = AtomicBool::new(false);
static GUEST_SPANS: OnceLock<BatchSpanProcessor> = OnceLock::new();
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Whether telemetry is on (spans and metrics cost nothing when it is not).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Exporters that must flush before the process exits.
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.tracer_provider.shutdown();
        let _ = self.meter_provider.shutdown();
        if let Some(guest) = GUEST_SPANS.get() {
            let _ = guest.shutdown();
        }
    }
}

/// Whether the environment asks for OTLP export.
pub fn requested() -> bool {
    let disabled =
        std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let endpoint = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    endpoint && !disabled
}

/// Starts the exporters (the environment says where to) and returns them with the `tracing`
/// layer that turns `runner::otel` spans into OpenTelemetry spans.
pub fn start<S>(
    service_name: &str,
) -> anyhow::Result<(Telemetry, impl tracing_subscriber::Layer<S>)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.into());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    let span_exporter = || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| anyhow::anyhow!("OpenTelemetry trace exporter: {e}"))
    };
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter()?)
        .with_resource(resource.clone())
        .build();
    let mut guest_spans = BatchSpanProcessor::builder(span_exporter()?).build();
    guest_spans.set_resource(&resource);
    let _ = GUEST_SPANS.set(guest_spans);
    let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .map_err(|e| anyhow::anyhow!("OpenTelemetry metric exporter: {e}"))?;
    let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_periodic_exporter(metric_exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = METRICS.set(Metrics::new());
    let tracer = tracer_provider.tracer("runner");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(
            tracing_subscriber::filter::Targets::new().with_target(TARGET, tracing::Level::TRACE),
        );
    ENABLED.store(true, Ordering::Relaxed);
    Ok((
        Telemetry {
            tracer_provider,
            meter_provider,
        },
        layer,
    ))
}

use tracing_subscriber::Layer as _;

/// Makes `span` continue the trace of the `traceparent` in `headers`, if any.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
}

/// Writes `span`'s trace context into `headers` (`traceparent`), replacing any there.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if !enabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// Exports a span a guest ended (`wasi:otel`).
pub fn export_guest_span(span: SpanData) {
    if let Some(processor) = GUEST_SPANS.get() {
        processor.on_end(span);
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(key),
            http::HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The runner's instruments.
struct Metrics {
    requests: Counter<u64>,
    durations: Histogram<f64>,
    instances: Counter<u64>,
    store_calls: Counter<u64>,
}

impl Metrics {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("runner");
        Self {
            requests: meter
                .u64_counter("runner.requests")
                .with_description("Requests answered, by component and status")
                .build(),
            durations: meter
                .f64_histogram("runner.request.duration")
                .with_unit("s")
                .with_description("Time to a request's response head")
                .build(),
            instances: meter
                .u64_counter("runner.instances")
                .with_description("Component instances made")
                .build(),
            store_calls: meter
                .u64_counter("runner.store.calls")
                .with_description("Key-value and SQLite calls, by kind")
                .build(),
        }
    }
}

/// Counts a request `component` answered with `status` after `seconds`.
pub fn record_request(component: &str, status: u16, seconds: f64) {
    if let Some(metrics) = METRICS.get() {
        let attributes = [
            KeyValue::new("component", component.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ];
        metrics.requests.add(1, &attributes);
        metrics.durations.record(seconds, &attributes[..1]);
    }
}

/// Counts an instance made of `component`.
pub fn record_instance(component: &str) {
    if let Some(metrics) = METRICS.get() {
        metrics
            .instances
            .add(1, &[KeyValue::new("component", component.to_string())]);
    }
}

/// Counts a store call (`kind`: `key_value` or `sqlite`).
pub fn record_store_call(kind: &'static str) {
    if let Some(metrics) = METRICS.get() {
        metrics.store_calls.add(1, &[KeyValue::new("kind", kind)]);
    }
}
