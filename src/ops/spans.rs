//! OpenTelemetry export (`[tracing] otlp_endpoint`): each request's span,
//! with the ids its `traceparent` in Kafka names, and its children, handed
//! to a bounded queue that a thread of its own exports over OTLP/HTTP in
//! batches. A full queue drops spans; nothing here waits on the collector.
//!
//! Spans are written whole once a request has ended, with the times it
//! measured, so the ids are hookgate's own (those it propagates) rather than
//! a tracer's.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};

/// Spans waiting for export at most; beyond, new ones are dropped.
const QUEUE: usize = 8192;

static EXPORT: OnceLock<Export> = OnceLock::new();

struct Export {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

/// Starts exporting to `endpoint` (`http://collector:4318/v1/traces`) under
/// `service_name`, for the rest of the process.
pub fn install(endpoint: &str, service_name: &str) -> Result<(), String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|err| format!("tracing.otlp_endpoint {endpoint}: {err}"))?;
    let mut processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE)
                .with_scheduled_delay(Duration::from_secs(1))
                .build(),
        )
        .build();
    processor.set_resource(
        &Resource::builder()
            .with_service_name(service_name.to_owned())
            .build(),
    );
    let scope = InstrumentationScope::builder("hookgate")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    EXPORT
        .set(Export { processor, scope })
        .map_err(|_| "tracing: the exporter is already installed".to_owned())
}

/// Whether spans are exported: callers skip the work of describing them
/// when not.
pub fn enabled() -> bool {
    EXPORT.get().is_some()
}

/// Exports what is queued, waiting at most a few seconds: at shutdown.
pub fn flush() {
    if let Some(export) = EXPORT.get()
        && let Err(err) = export.processor.force_flush()
    {
        tracing::warn!("spans still queued at shutdown were not all exported: {err}");
    }
}

/// One span, as measured.
#[derive(Debug, Clone)]
pub struct Span {
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// All zeros: a root span.
    pub parent_span_id: [u8; 8],
    pub start: SystemTime,
    pub duration: Duration,
    pub attributes: Vec<KeyValue>,
    pub failed: Option<String>,
}

impl Span {
    /// A span of `trace_id` under `parent_span_id`, with an id of its own.
    pub fn child(
        name: &'static str,
        trace_id: [u8; 16],
        parent_span_id: [u8; 8],
        start: SystemTime,
        duration: Duration,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            kind: SpanKind::Internal,
            trace_id,
            span_id: rand::random(),
            parent_span_id,
            start,
            duration,
            attributes: Vec::new(),
            failed: None,
        }
    }
}

/// The trace and span ids of a `traceparent` hookgate wrote (on an intake
/// record): the parent of what the dedup stage does with it.
pub fn ids_of(traceparent: &[u8]) -> Option<([u8; 16], [u8; 8])> {
    let text = std::str::from_utf8(traceparent).ok()?;
    let mut parts = text.split('-');
    let (_version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(span, &mut span_id).ok()?;
    Some((trace_id, span_id))
}

/// Hands `span` to the export queue (dropped if the queue is full or export
/// is off).
pub fn record(span: Span) {
    let Some(export) = EXPORT.get() else {
        return;
    };
    let parent = SpanId::from_bytes(span.parent_span_id);
    export.processor.on_end(SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(span.trace_id),
            SpanId::from_bytes(span.span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: span.kind,
        name: span.name,
        start_time: span.start,
        end_time: span.start + span.duration,
        attributes: span.attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: match span.failed {
            Some(description) => Status::error(description),
            None => Status::Unset,
        },
        instrumentation_scope: export.scope.clone(),
    });
}
