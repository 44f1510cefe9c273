//! `wasi:otel@0.2.0-rc.2` (Spin's OpenTelemetry interface for guests, which spin-sdk's
//! OpenTelemetry support imports): a guest's spans join the runner's traces.
//!
//! - `tracing.outer-span-context` is the span of the request the instance serves (an
//!   invalid, unsampled context when telemetry is off), so a guest's spans are its children.
//! - `tracing.on-end` exports the guest's finished span with the runner's own (nothing when
//!   telemetry is off); `on-start` needs nothing kept.
//! - `logs.on-emit` writes the record's body to the component's log (stderr, with its
//!   severity), beside the guest's own output.
//! - `metrics.export` answers the guest an error saying guest metrics are not exported here
//!   (said once in the runner's log too): the runner exports its own metrics only.

use super::bindings::wasi::otel::{logs, metrics, tracing as otel_tracing, types};
use crate::host::logging::ComponentLog;
use crate::request_trace::RequestTrace;
use opentelemetry::trace::{self as sdk_trace, SpanId, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmtime::component::HasData;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

pub struct Otel;

impl HasData for Otel {
    type Data<'a> = OtelView<'a>;
}

pub struct OtelView<'a> {
    pub trace: &'a RequestTrace,
    pub log: &'a ComponentLog,
}

impl types::Host for OtelView<'_> {}

impl otel_tracing::Host for OtelView<'_> {
    fn on_start(&mut self, _context: otel_tracing::SpanContext) -> wasmtime::Result<()> {
        Ok(())
    }

    fn on_end(&mut self, span: otel_tracing::SpanData) -> wasmtime::Result<()> {
        if crate::telemetry::enabled() {
            crate::telemetry::export_guest_span(span_data(span));
        }
        Ok(())
    }

    fn outer_span_context(&mut self) -> wasmtime::Result<otel_tracing::SpanContext> {
        let context = self.trace.span_context();
        Ok(otel_tracing::SpanContext {
            trace_id: context.trace_id().to_string(),
            span_id: context.span_id().to_string(),
            trace_flags: if context.is_sampled() {
                otel_tracing::TraceFlags::SAMPLED
            } else {
                otel_tracing::TraceFlags::empty()
            },
            is_remote: context.is_remote(),
            trace_state: Vec::new(),
        })
    }
}

impl logs::Host for OtelView<'_> {
    fn on_emit(&mut self, record: logs::LogRecord) -> wasmtime::Result<()> {
        let body = record.body.unwrap_or_default();
        let severity = record.severity_text.unwrap_or_else(|| "LOG".into());
        self.log.guest_line(&format!("{severity} {body}"));
        Ok(())
    }
}

impl metrics::Host for OtelView<'_> {
    fn export(
        &mut self,
        _metrics: metrics::ResourceMetrics,
    ) -> wasmtime::Result<Result<(), metrics::Error>> {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            self.log.warn(format_args!(
                "a guest exported OpenTelemetry metrics (wasi:otel/metrics); this runner does \
                 not forward guests' metrics, only its own"
            ));
        }
        Ok(Err(
            "guest metrics are not exported by this runner (its own metrics are)".into(),
        ))
    }
}

/// The guest's span as the SDK exports it.
fn span_data(span: otel_tracing::SpanData) -> opentelemetry_sdk::trace::SpanData {
    opentelemetry_sdk::trace::SpanData {
        span_context: span_context(&span.span_context),
        parent_span_id: SpanId::from_hex(&span.parent_span_id).unwrap_or(SpanId::INVALID),
        parent_span_is_remote: false,
        span_kind: match span.span_kind {
            otel_tracing::SpanKind::Client => sdk_trace::SpanKind::Client,
            otel_tracing::SpanKind::Server => sdk_trace::SpanKind::Server,
            otel_tracing::SpanKind::Producer => sdk_trace::SpanKind::Producer,
            otel_tracing::SpanKind::Consumer => sdk_trace::SpanKind::Consumer,
            otel_tracing::SpanKind::Internal => sdk_trace::SpanKind::Internal,
        },
        name: Cow::Owned(span.name),
        start_time: time(span.start_time),
        end_time: time(span.end_time),
        attributes: attributes(span.attributes),
        dropped_attributes_count: span.dropped_attributes,
        events: span_events(span.events, span.dropped_events),
        links: span_links(span.links, span.dropped_links),
        status: match span.status {
            otel_tracing::Status::Unset => sdk_trace::Status::Unset,
            otel_tracing::Status::Ok => sdk_trace::Status::Ok,
            otel_tracing::Status::Error(description) => sdk_trace::Status::error(description),
        },
        instrumentation_scope: scope(span.instrumentation_scope),
    }
}

fn span_events(
    events: Vec<otel_tracing::Event>,
    dropped: u32,
) -> opentelemetry_sdk::trace::SpanEvents {
    let mut span_events = opentelemetry_sdk::trace::SpanEvents::default();
    span_events.events = events
        .into_iter()
        .map(|event| {
            sdk_trace::Event::new(
                event.name,
                time(event.time),
                attributes(event.attributes),
                0,
            )
        })
        .collect();
    span_events.dropped_count = dropped;
    span_events
}

fn span_links(links: Vec<otel_tracing::Link>, dropped: u32) -> opentelemetry_sdk::trace::SpanLinks {
    let mut span_links = opentelemetry_sdk::trace::SpanLinks::default();
    span_links.links = links
        .into_iter()
        .map(|link| {
            sdk_trace::Link::new(
                span_context(&link.span_context),
                attributes(link.attributes),
                0,
            )
        })
        .collect();
    span_links.dropped_count = dropped;
    span_links
}

fn span_context(context: &otel_tracing::SpanContext) -> sdk_trace::SpanContext {
    let flags = match context
        .trace_flags
        .contains(otel_tracing::TraceFlags::SAMPLED)
    {
        true => sdk_trace::TraceFlags::SAMPLED,
        false => sdk_trace::TraceFlags::default(),
    };
    let state = TraceState::from_key_value(context.trace_state.iter().cloned()).unwrap_or_default();
    sdk_trace::SpanContext::new(
        TraceId::from_hex(&context.trace_id).unwrap_or(TraceId::INVALID),
        SpanId::from_hex(&context.span_id).unwrap_or(SpanId::INVALID),
        flags,
        context.is_remote,
        state,
    )
}

fn time(datetime: Datetime) -> SystemTime {
    UNIX_EPOCH + Duration::new(datetime.seconds, datetime.nanoseconds)
}

fn attributes(pairs: Vec<types::KeyValue>) -> Vec<KeyValue> {
    pairs
        .into_iter()
        .map(|pair| KeyValue::new(pair.key, pair.value))
        .collect()
}

fn scope(scope: types::InstrumentationScope) -> InstrumentationScope {
    let mut builder =
        InstrumentationScope::builder(scope.name).with_attributes(attributes(scope.attributes));
    if let Some(version) = scope.version {
        builder = builder.with_version(version);
    }
    if let Some(url) = scope.schema_url {
        builder = builder.with_schema_url(url);
    }
    builder.build()
}
