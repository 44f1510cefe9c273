//! `otel-probe`: a guest that reports to OpenTelemetry through `wasi:otel` (Spin's interface),
//! as spin-sdk's OpenTelemetry support does. On every request it:
//!
//! - asks for the span it runs in (`outer-span-context`), starts and ends a span of its own
//!   below it, named `guest-work` with the attribute `probe=yes`;
//! - emits a log record `hello from the guest` (severity `INFO`);
//! - tries to export a metric, and answers with what that returned;
//!
//! then answers `trace=<trace id> parent=<span id> metrics=<ok|error: ...>`.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_service;

mod otel {
    spin_sdk::wit_bindgen::generate!({
        world: "probe",
        path: "wit",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use otel::wasi::clocks::wall_clock;
use otel::wasi::otel::{logs, metrics, tracing, types};

#[http_service]
async fn handle(_request: Request) -> impl IntoResponse {
    let outer = tracing::outer_span_context();
    let context = tracing::SpanContext {
        trace_id: outer.trace_id.clone(),
        span_id: format!(
            "{:016x}",
            spin_sdk::wasip3::random::random::get_random_u64()
        ),
        trace_flags: tracing::TraceFlags::SAMPLED,
        is_remote: false,
        trace_state: Vec::new(),
    };
    let start = wall_clock::now();
    tracing::on_start(&context);
    tracing::on_end(&tracing::SpanData {
        span_context: context,
        parent_span_id: outer.span_id.clone(),
        span_kind: tracing::SpanKind::Internal,
        name: "guest-work".into(),
        start_time: start,
        end_time: wall_clock::now(),
        attributes: vec![types::KeyValue {
            key: "probe".into(),
            value: "yes".into(),
        }],
        events: Vec::new(),
        links: Vec::new(),
        status: tracing::Status::Ok,
        instrumentation_scope: scope(),
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
    });
    logs::on_emit(&logs::LogRecord {
        timestamp: Some(wall_clock::now()),
        observed_timestamp: None,
        severity_text: Some("INFO".into()),
        severity_number: Some(9),
        body: Some("hello from the guest".into()),
        attributes: None,
        event_name: None,
        resource: None,
        instrumentation_scope: None,
        trace_id: Some(outer.trace_id.clone()),
        span_id: Some(outer.span_id.clone()),
        trace_flags: None,
    });
    let exported = match metrics::export(&metrics::ResourceMetrics {
        resource: types::Resource {
            attributes: Vec::new(),
            schema_url: None,
        },
        scope_metrics: Vec::new(),
    }) {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    Response::new(format!(
        "trace={} parent={} metrics={exported}",
        outer.trace_id, outer.span_id
    ))
}

fn scope() -> types::InstrumentationScope {
    types::InstrumentationScope {
        name: "otel-probe".into(),
        version: None,
        schema_url: None,
        attributes: Vec::new(),
    }
}
