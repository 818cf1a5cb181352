//! Recording how a request ended, once: the log line and the counters of a
//! stored delivery or of a refusal, and the quarantine's copy of a refused
//! request for a source that keeps them.

use super::{Arrival, Failure, Gateway, Stored};
use crate::ops::metrics::SourceMetrics;
use crate::pipeline::answer::Answer;
use crate::pipeline::locate::EventId;
use crate::pipeline::quarantine::{self, Refused};
use crate::pipeline::source::Source;

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
        let Arrival { client, trace, .. } = *arrival;
        let trace_id = trace.trace_id();
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
) -> (usize, usize) {
    let Arrival {
        started,
        client,
        trace,
        ..
    } = *arrival;
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
                // Where the edge stored it: the intake topic, from which the
                // dedup stage publishes it to `topic`.
                tracing::info!(
                    source = %source.name, %client, %trace_id, event_id = %id, status = 200, topic = %topic,
                    intake_partition = delivery.partition, intake_offset = delivery.offset,
                    latency_ms, "accepted"
                );
            }
            Stored::Duplicate { id } => {
                tracing::info!(
                    source = %source.name, %client, %trace_id, event_id = %id, status = 200, latency_ms, "duplicate"
                );
            }
        }
    }
    let duplicates = events.len() - accepted;
    source
        .metrics
        .stored(accepted as u64, duplicates as u64, started.elapsed());
    (accepted, duplicates)
}
