//! Recording how a request ended, once: the log line and the counters of a
//! stored delivery or of a refusal, and the quarantine's copy of a refused
//! request for a source that keeps them.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::{Arrival, Failure, Gateway, Stored};
use crate::config::Sampling;
use crate::kafka::publish::Delivery;
use crate::ops::metrics::SourceMetrics;
use crate::ops::spans::{self, Span};
use crate::pipeline::answer::Answer;
use crate::pipeline::locate::EventId;
use crate::pipeline::quarantine::{self, Refused};
use crate::pipeline::source::Source;

/// `[log] accepted` at work: which stored deliveries get their log line.
/// Refusals are not sampled: each is logged.
#[derive(Debug)]
pub(super) struct StoredLog {
    one_in: Option<NonZeroU64>,
    seen: AtomicU64,
}

impl StoredLog {
    pub(super) fn new(sampling: Sampling) -> Self {
        Self {
            one_in: sampling.one_in(),
            seen: AtomicU64::new(0),
        }
    }

    /// Whether the next stored delivery gets its line: the first, and then
    /// one in N, counted across every source and worker.
    fn keep(&self) -> bool {
        match self.one_in {
            None => false,
            Some(NonZeroU64::MIN) => true,
            Some(n) => self
                .seen
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(n.get()),
        }
    }
}

impl Gateway {
    pub(super) fn reject(
        &self,
        source: Option<&Source>,
        metrics: &SourceMetrics,
        failure: Failure,
        arrival: &Arrival,
    ) -> Answer {
        let Failure {
            rejection,
            id,
            detail,
            held,
        } = failure;
        metrics.rejected(rejection.reason, arrival.started.elapsed());
        let status = rejection.reason.status().as_u16();
        let name = source.map_or(crate::ops::metrics::UNROUTED, |s| s.name.as_str());
        let id = id.as_ref().map(EventId::as_str);
        let latency_ms = arrival.started.elapsed().as_secs_f64() * 1e3;
        let (client, trace) = (arrival.client, arrival.trace);
        let trace_id = trace.trace_id();
        export_span(name, arrival, status, rejection.reason.as_str(), id, None);
        if let (Some(source), Some(held)) = (source, held)
            && let Some(quarantine) = &source.quarantine
            && quarantine::keeps(rejection.reason)
        {
            quarantine.offer(
                source.name.as_str(),
                &held,
                Refused {
                    reason: rejection.reason,
                    message: &rejection.message,
                    event_id: id,
                    client,
                    from_trusted_proxy: arrival.from_trusted_proxy,
                    trace,
                    received_at: arrival.received_at,
                },
                |record| self.publisher.enqueue(record),
            );
        }
        if status >= 500 {
            tracing::error!(
                source = name,
                %client,
                %trace_id,
                event_id = id,
                status,
                reason = rejection.reason.as_str(),
                detail,
                latency_ms,
                "rejected: {}",
                rejection.message
            );
        } else {
            tracing::warn!(
                source = name,
                %client,
                %trace_id,
                event_id = id,
                status,
                reason = rejection.reason.as_str(),
                detail,
                latency_ms,
                "rejected: {}",
                rejection.message
            );
        }
        Answer::Refused(rejection)
    }
}

/// Counts and logs a delivery whose events are all in Kafka; its counts of
/// events newly published and already held.
pub(super) fn record_stored(
    source: &Source,
    events: &[Stored],
    arrival: &Arrival,
    log: &StoredLog,
) -> (usize, usize) {
    let (started, client, trace) = (arrival.started, arrival.client, arrival.trace);
    let trace_id = trace.trace_id();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut accepted = 0;
    for event in events {
        match event {
            Stored::Accepted {
                id,
                topic,
                delivery,
            } => {
                accepted += 1;
                export_span(
                    source.name.as_str(),
                    arrival,
                    200,
                    "accepted",
                    Some(id.as_str()),
                    Some((topic.as_ref(), delivery)),
                );
                // Where the edge stored it: the intake topic, from which the
                // dedup stage publishes it to `topic`.
                if log.keep() {
                    tracing::info!(
                    source = %source.name, %client, %trace_id, event_id = %id, status = 200, topic = %topic,
                    intake_partition = delivery.partition, intake_offset = delivery.offset,
                    latency_ms, "accepted"
                    );
                }
            }
            Stored::Duplicate { id } => {
                export_span(
                    source.name.as_str(),
                    arrival,
                    200,
                    "duplicate",
                    Some(id.as_str()),
                    None,
                );
                if log.keep() {
                    tracing::info!(
                        source = %source.name, %client, %trace_id, event_id = %id, status = 200, latency_ms, "duplicate"
                    );
                }
            }
        }
    }
    let duplicates = events.len() - accepted;
    source
        .metrics
        .stored(accepted as u64, duplicates as u64, started.elapsed());
    (accepted, duplicates)
}

/// The request's span and its children (the signature check, the Kafka
/// acknowledgement), for export: hookgate's span of the `traceparent` its
/// record carries, under the sender's span when it sent one.
pub(super) fn export_span(
    source: &str,
    arrival: &Arrival,
    status: u16,
    outcome: &str,
    event_id: Option<&str>,
    stored: Option<(&str, &Delivery)>,
) {
    if !spans::enabled() {
        return;
    }
    let (trace_id, span_id, parent) = arrival.trace.ids();
    let mut attributes = vec![
        KeyValue::new("hookgate.source", source.to_owned()),
        KeyValue::new("hookgate.outcome", outcome.to_owned()),
        KeyValue::new("http.request.method", "POST"),
        KeyValue::new("http.response.status_code", i64::from(status)),
        KeyValue::new("client.address", arrival.client.to_string()),
    ];
    if let Some(id) = event_id {
        attributes.push(KeyValue::new("hookgate.event_id", id.to_owned()));
    }
    if let Some((topic, delivery)) = stored {
        attributes.push(KeyValue::new(
            "messaging.destination.name",
            topic.to_owned(),
        ));
        attributes.push(KeyValue::new(
            "hookgate.intake.partition",
            i64::from(delivery.partition),
        ));
        attributes.push(KeyValue::new("hookgate.intake.offset", delivery.offset));
    }
    spans::record(Span {
        name: format!("webhook {source}").into(),
        kind: SpanKind::Server,
        trace_id,
        span_id,
        parent_span_id: parent,
        start: arrival.received_at,
        duration: arrival.started.elapsed(),
        attributes,
        failed: (status >= 400).then(|| outcome.to_owned()),
    });
    for (name, timing) in [
        ("verify", arrival.timings.verify.get()),
        ("kafka.acknowledgement", arrival.timings.produce.get()),
    ] {
        if let Some((start, duration)) = timing {
            spans::record(Span::child(name, trace_id, span_id, *start, *duration));
        }
    }
}
