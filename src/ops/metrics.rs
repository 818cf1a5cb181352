//! Every metric hookgate exports: names, labels, and handles registered once per
//! source so the request path neither looks them up nor allocates. Label values
//! come from configuration, never from request data.

use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};

use crate::ops::reason::{QuarantineDrop, Reason, Reload, TlsHandshake};

pub const REQUESTS: &str = "hookgate_requests_total";
pub const REJECTIONS: &str = "hookgate_rejections_total";
pub const ACCEPTED: &str = "hookgate_events_accepted_total";
pub const DUPLICATES: &str = "hookgate_events_duplicate_total";
pub const HANDSHAKES: &str = "hookgate_handshakes_total";
pub const BUILD_INFO: &str = "hookgate_build_info";
pub const KEY_FALLBACKS: &str = "hookgate_partition_key_fallbacks_total";
pub const REQUEST_DURATION: &str = "hookgate_request_duration_seconds";
pub const PRODUCE_DURATION: &str = "hookgate_produce_duration_seconds";
pub const IN_FLIGHT: &str = "hookgate_requests_in_flight";
pub const BODY_BYTES_HELD: &str = "hookgate_request_body_bytes_held";
pub const CONNECTIONS_IDLE_CLOSED: &str = "hookgate_connections_idle_closed_total";
pub const DEDUP_ENTRIES: &str = "hookgate_dedup_entries";
pub const DEDUP_EVICTIONS: &str = "hookgate_dedup_evictions_total";
pub const DEDUP_DROPPED: &str = "hookgate_dedup_dropped_total";
pub const DEDUP_LOADED: &str = "hookgate_dedup_loaded";
pub const DEDUP_REPLAY_RECORDS: &str = "hookgate_dedup_replay_records_total";
pub const DEDUP_REPLAY_DURATION: &str = "hookgate_dedup_replay_duration_seconds";
pub const DEDUP_RECENT_ENTRIES: &str = "hookgate_dedup_recent_entries";
pub const DEDUP_PUBLISHED: &str = "hookgate_dedup_published_total";
pub const DEDUP_PUBLICATION_DELAY: &str = "hookgate_dedup_publication_delay_seconds";
pub const DEDUP_PARTITIONS: &str = "hookgate_dedup_partitions_owned";
pub const DEDUP_CORRUPT_RECORDS: &str = "hookgate_dedup_corrupt_records_total";
pub const DEDUP_WRITES: &str = "hookgate_dedup_writes_total";
pub const PRODUCER_REPLACEMENTS: &str = "hookgate_kafka_producer_replacements_total";
pub const BROKER_REACHABLE: &str = "hookgate_kafka_broker_reachable";
pub const QUEUE_MESSAGES: &str = "hookgate_kafka_queue_messages";
pub const CONNECTIONS_OPEN: &str = "hookgate_connections_open";
pub const CONNECTIONS_REFUSED: &str = "hookgate_connections_refused_total";
pub const CONNECTIONS_TIMED_OUT: &str = "hookgate_connections_timed_out_total";
pub const PROTOCOL_ERRORS: &str = "hookgate_protocol_errors_total";
pub const TLS_HANDSHAKES: &str = "hookgate_tls_handshakes_total";
pub const QUARANTINED: &str = "hookgate_quarantined_total";
pub const QUARANTINED_BYTES: &str = "hookgate_quarantined_bytes_total";
pub const CONFIG_RELOADS: &str = "hookgate_config_reloads_total";
pub const CONFIG_RESTART_PENDING: &str = "hookgate_config_restart_pending";
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "hookgate_config_last_reload_successful";
pub const READY: &str = "hookgate_ready";
pub const DEDUP_CAPACITY: &str = "hookgate_dedup_capacity_entries";
pub const CONNECTIONS_MAX: &str = "hookgate_connections_max";
pub const IN_FLIGHT_MAX: &str = "hookgate_requests_in_flight_max";
pub const QUEUE_CAPACITY: &str = "hookgate_kafka_queue_capacity_messages";
pub const LOG_LINES_DROPPED: &str = "hookgate_log_lines_dropped_total";
pub const CERTIFICATE_EXPIRY: &str = "hookgate_tls_certificate_expiry_timestamp_seconds";
pub const MEMORY_LIMIT: &str = "hookgate_memory_limit_bytes";
pub const DEDUP_LAG: &str = "hookgate_dedup_lag_records";

/// The `source` label of requests whose path matched no source.
pub const UNROUTED: &str = "_unrouted";

/// Latency buckets, in seconds, for every `_seconds` histogram.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Gives each metric its help text.
pub fn describe() {
    describe_gauge!(
        BUILD_INFO,
        "1, labelled with the running hookgate's version and the commit it was built from."
    );
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "commit" => env!("HOOKGATE_COMMIT"))
        .set(1.0);
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines dropped because the log's output could not keep up (the writer never stalls a request)."
    );
    counter!(LOG_LINES_DROPPED).absolute(0);
    describe_gauge!(
        CERTIFICATE_EXPIRY,
        "When a certificate hookgate presents expires, in Unix seconds: `edge` ([server.tls]), `kafka_client` (ssl.certificate.location); the earliest of its chain."
    );
    describe_gauge!(
        DEDUP_LAG,
        "Intake records the dedup stage has not read yet on the partitions it owns (acknowledged, not yet published), from its consumer's statistics."
    );
    gauge!(DEDUP_LAG).set(0.0);
    describe_gauge!(
        MEMORY_LIMIT,
        "The memory this process may use before it is killed (its cgroup's limit), in bytes; 0 when there is none."
    );
    describe_counter!(REQUESTS, "Requests answered, by source and status code.");
    describe_counter!(REJECTIONS, "Requests turned away, by source and reason.");
    describe_counter!(
        KEY_FALLBACKS,
        "Events keyed by their event id because the delivery lacked the entity the source keys by."
    );
    describe_counter!(ACCEPTED, "Events published to Kafka and acknowledged.");
    describe_counter!(
        DUPLICATES,
        "Deliveries of events Kafka already held; not published again."
    );
    describe_counter!(
        HANDSHAKES,
        "Endpoint checks answered by hookgate (Slack url_verification, Dropbox challenge, Mandrill head_check, ...; the kind is in the log line); never published."
    );
    describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from request received to response."
    );
    describe_histogram!(
        PRODUCE_DURATION,
        metrics::Unit::Seconds,
        "Time from produce to Kafka's acknowledgement."
    );
    describe_gauge!(IN_FLIGHT, "Requests being handled now.");
    describe_gauge!(
        BODY_BYTES_HELD,
        "Request body bytes received and held now, within server.max_buffered_body_bytes."
    );
    describe_counter!(
        DEDUP_DROPPED,
        "Events the dedup stage dropped because their id (or signed content) was seen within the window, by source."
    );
    describe_counter!(
        CONNECTIONS_IDLE_CLOSED,
        "Connections closed after server.idle_timeout with no request open (HTTP/2 connections that only answer pings)."
    );
    describe_gauge!(CONNECTIONS_OPEN, "Webhook connections open now.");
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections answered 503 at once, by reason (connection_limit, per_client_limit)."
    );
    describe_counter!(
        CONNECTIONS_TIMED_OUT,
        "Connections closed because no request arrived within server.header_timeout of opening."
    );
    describe_counter!(
        TLS_HANDSHAKES,
        "TLS handshakes of new connections, by outcome (completed, failed, timed_out: not done within server.tls.handshake_timeout)."
    );
    describe_counter!(
        QUARANTINED,
        "Rejected requests offered to the source's quarantine topic, by source and outcome: written, dropped (with reason source_budget: beyond the source's [quarantine] budget; replica_cap: beyond quarantine.max_bytes_per_second of the replica, all sources together), failed (Kafka did not take it)."
    );
    describe_counter!(
        QUARANTINED_BYTES,
        "Bytes of records written to the quarantine topic (body, headers, path and query), by source."
    );
    describe_counter!(
        CONFIG_RELOADS,
        "Configuration reloads (SIGHUP), by outcome: applied, or invalid (the running configuration stays)."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESSFUL,
        "0 after a reload was refused (the previous configuration runs), 1 after start-up and after a reload applied."
    );
    describe_gauge!(
        CONFIG_RESTART_PENDING,
        "1 when the configuration file changes settings that apply only after a restart (listen address, Kafka, dedup)."
    );
    describe_gauge!(
        READY,
        "1 while this replica's /readyz says ready (the dedup index is loaded)."
    );
    describe_gauge!(
        DEDUP_CAPACITY,
        "dedup.max_entries: ids the index holds before it forgets the oldest early."
    );
    describe_gauge!(CONNECTIONS_MAX, "server.max_connections.");
    describe_gauge!(IN_FLIGHT_MAX, "server.max_requests_in_flight.");
    describe_gauge!(
        QUEUE_CAPACITY,
        "Events the producer's queue holds at most (queue.buffering.max.messages); beyond, 503 queue_full."
    );
    describe_counter!(
        PROTOCOL_ERRORS,
        "Connections hyper ended for HTTP the client got wrong, before hookgate saw a request: malformed_request (400), headers_too_large (431/414), http2_protocol (GOAWAY)."
    );
    describe_gauge!(
        DEDUP_ENTRIES,
        "Event ids this replica holds to decide duplicates: the windows of the intake partitions its dedup stage owns (with the null broker, the edge's index)."
    );
    describe_gauge!(
        DEDUP_RECENT_ENTRIES,
        "Event ids the edge remembers of its own recent deliveries, answered duplicate at once."
    );
    describe_counter!(
        DEDUP_EVICTIONS,
        "Event ids the edge forgot before their window passed because its index was full."
    );
    describe_gauge!(
        DEDUP_LOADED,
        "1 once the dedup and intake topics exist (or were checked); webhooks are refused before."
    );
    describe_gauge!(
        DEDUP_PARTITIONS,
        "Intake partitions this replica's dedup stage owns and has loaded."
    );
    describe_counter!(
        DEDUP_PUBLISHED,
        "Events the dedup stage published to their topics, by source."
    );
    describe_histogram!(
        DEDUP_PUBLICATION_DELAY,
        metrics::Unit::Seconds,
        "Time from an event's receipt to its publication on its topic by the dedup stage."
    );
    describe_counter!(
        DEDUP_REPLAY_RECORDS,
        "Dedup topic records read while loading partitions' windows."
    );
    describe_gauge!(
        DEDUP_REPLAY_DURATION,
        metrics::Unit::Seconds,
        "Time the last load of partitions' windows took."
    );
    describe_counter!(
        DEDUP_CORRUPT_RECORDS,
        "Dedup topic records skipped because they could not be read."
    );
    describe_counter!(
        DEDUP_WRITES,
        "Records of published ids the dedup stage wrote to the dedup topic, by outcome (ok, failed)."
    );
    describe_counter!(
        PRODUCER_REPLACEMENTS,
        "Event producers replaced because they could no longer produce."
    );
    describe_gauge!(
        QUEUE_MESSAGES,
        "Events in the producer's queue: waiting to be sent or to be acknowledged."
    );
    describe_gauge!(
        BROKER_REACHABLE,
        "1 if a Kafka broker answered the last metadata probe, else 0."
    );

    // Series that only some events create exist from the start, so dashboards
    // and alerts read 0 rather than "no data".
    for counter in [
        DEDUP_EVICTIONS,
        DEDUP_REPLAY_RECORDS,
        DEDUP_CORRUPT_RECORDS,
        PRODUCER_REPLACEMENTS,
        CONNECTIONS_TIMED_OUT,
        CONNECTIONS_IDLE_CLOSED,
    ] {
        counter!(counter).absolute(0);
    }
    for refusal in crate::ops::reason::Refusal::ALL {
        counter!(CONNECTIONS_REFUSED, "reason" => refusal.as_str()).absolute(0);
    }
    for error in crate::ops::reason::ProtocolError::ALL {
        counter!(PROTOCOL_ERRORS, "reason" => error.as_str()).absolute(0);
    }
    for outcome in ["ok", "failed"] {
        counter!(DEDUP_WRITES, "outcome" => outcome).absolute(0);
    }
    for outcome in TlsHandshake::ALL {
        counter!(TLS_HANDSHAKES, "outcome" => outcome.as_str()).absolute(0);
    }
    for outcome in Reload::ALL {
        counter!(CONFIG_RELOADS, "outcome" => outcome.as_str()).absolute(0);
    }
    gauge!(CONFIG_LAST_RELOAD_SUCCESSFUL).set(1.0);
    for gauge in [
        IN_FLIGHT,
        BODY_BYTES_HELD,
        DEDUP_ENTRIES,
        DEDUP_RECENT_ENTRIES,
        DEDUP_PARTITIONS,
        DEDUP_LOADED,
        DEDUP_REPLAY_DURATION,
        BROKER_REACHABLE,
        QUEUE_MESSAGES,
        CONNECTIONS_OPEN,
        READY,
        CONFIG_RESTART_PENDING,
    ] {
        gauge!(gauge).set(0.0);
    }
}

/// The limits the usage gauges are read against, so that a dashboard or an
/// alert can show a share of each.
#[derive(Debug, Clone, Copy)]
pub struct Capacities {
    pub dedup_entries: usize,
    pub connections: usize,
    pub requests_in_flight: usize,
    /// 0 when nothing is queued for Kafka (the null broker).
    pub queue_messages: usize,
}

/// Reports the configured limits.
pub fn capacities(capacities: Capacities) {
    gauge!(DEDUP_CAPACITY).set(capacities.dedup_entries as f64);
    gauge!(CONNECTIONS_MAX).set(capacities.connections as f64);
    gauge!(IN_FLIGHT_MAX).set(capacities.requests_in_flight as f64);
    gauge!(QUEUE_CAPACITY).set(capacities.queue_messages as f64);
}

/// Reports whether this replica says ready.
pub fn ready(ready: bool) {
    gauge!(READY).set(if ready { 1.0 } else { 0.0 });
}

/// One source's handles.
#[derive(Debug, Clone)]
pub struct SourceMetrics {
    ok: Counter,
    accepted: Counter,
    duplicates: Counter,
    handshakes: Counter,
    key_fallbacks: Counter,
    rejected_status: Vec<Counter>,
    rejections: Vec<Counter>,
    request_duration: Histogram,
    produce_duration: Histogram,
}

impl SourceMetrics {
    pub fn new(source: &str) -> Self {
        let source = source.to_owned();
        // The dedup stage's series, at 0 until it publishes or drops one,
        // so that dashboards read 0 rather than "no data".
        counter!(DEDUP_PUBLISHED, "source" => source.clone()).increment(0);
        counter!(DEDUP_DROPPED, "source" => source.clone()).increment(0);
        let by_status = |status: &'static str| counter!(REQUESTS, "source" => source.clone(), "status" => status);
        Self {
            ok: by_status("200"),
            accepted: counter!(ACCEPTED, "source" => source.clone()),
            duplicates: counter!(DUPLICATES, "source" => source.clone()),
            handshakes: counter!(HANDSHAKES, "source" => source.clone()),
            key_fallbacks: counter!(KEY_FALLBACKS, "source" => source.clone()),
            rejected_status: Reason::ALL
                .iter()
                .map(|reason| by_status(status_label(*reason)))
                .collect(),
            rejections: Reason::ALL
                .iter()
                .map(|reason| counter!(REJECTIONS, "source" => source.clone(), "reason" => reason.as_str()))
                .collect(),
            request_duration: histogram!(REQUEST_DURATION, "source" => source.clone()),
            produce_duration: histogram!(PRODUCE_DURATION, "source" => source),
        }
    }

    /// A delivery answered 200: its events newly published and those Kafka
    /// already held (one of the two for most providers; a batch may have both).
    pub fn stored(&self, accepted: u64, duplicates: u64, elapsed: Duration) {
        self.ok.increment(1);
        self.accepted.increment(accepted);
        self.duplicates.increment(duplicates);
        self.request_duration.record(elapsed);
    }

    /// A provider's endpoint check answered (its kind is in the log line).
    pub fn handshake(&self, elapsed: Duration) {
        self.ok.increment(1);
        self.handshakes.increment(1);
        self.request_duration.record(elapsed);
    }

    /// An event keyed by its id: its delivery lacked the source's entity.
    pub fn key_fell_back(&self) {
        self.key_fallbacks.increment(1);
    }

    pub fn rejected(&self, reason: Reason, elapsed: Duration) {
        self.rejected_status[reason.index()].increment(1);
        self.rejections[reason.index()].increment(1);
        self.request_duration.record(elapsed);
    }

    pub fn produced(&self, elapsed: Duration) {
        self.produce_duration.record(elapsed);
    }
}

fn status_label(reason: Reason) -> &'static str {
    match reason.status().as_u16() {
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        429 => "429",
        408 => "408",
        409 => "409",
        413 => "413",
        503 => "503",
        _ => "500",
    }
}

/// Counts a request being handled until the guard drops.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl InFlight {
    pub fn enter() -> Self {
        // Looked up once, not per request: the recorder is installed at start-up.
        static GAUGE: std::sync::OnceLock<Gauge> = std::sync::OnceLock::new();
        let gauge = GAUGE.get_or_init(|| gauge!(IN_FLIGHT)).clone();
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Reports the webhook connections open.
pub fn connections_open(open: usize) {
    gauge!(CONNECTIONS_OPEN).set(open as f64);
}

/// Counts a connection refused at once.
pub fn connection_refused(refusal: crate::ops::reason::Refusal) {
    counter!(CONNECTIONS_REFUSED, "reason" => refusal.as_str()).increment(1);
}

/// Counts a connection hyper ended for the client's broken HTTP.
pub fn protocol_error(error: crate::ops::reason::ProtocolError) {
    counter!(PROTOCOL_ERRORS, "reason" => error.as_str()).increment(1);
}

/// The gauge of request body bytes held, for the budget that charges them.
pub fn body_bytes_held() -> Gauge {
    gauge!(BODY_BYTES_HELD)
}

/// Counts an event the dedup stage dropped as seen within the window.
pub fn dedup_dropped(source: &str) {
    counter!(DEDUP_DROPPED, "source" => source.to_owned()).increment(1);
}

/// Counts a connection closed for holding its place with no request open.
pub fn connection_idle_closed() {
    counter!(CONNECTIONS_IDLE_CLOSED).increment(1);
}

/// Counts a connection closed for sending no request in time.
pub fn connection_timed_out() {
    counter!(CONNECTIONS_TIMED_OUT).increment(1);
}

/// A quarantining source's counters, registered once.
#[derive(Debug, Clone)]
pub struct QuarantineMetrics {
    pub written: Counter,
    dropped_beyond_source_budget: Counter,
    dropped_beyond_replica_cap: Counter,
    pub failed: Counter,
    pub bytes: Counter,
}

impl QuarantineMetrics {
    pub fn new(source: &str) -> Self {
        let outcome = |outcome: &'static str| {
            let counter =
                counter!(QUARANTINED, "source" => source.to_owned(), "outcome" => outcome);
            counter.increment(0);
            counter
        };
        let dropped = |reason: QuarantineDrop| {
            let counter = counter!(
                QUARANTINED,
                "source" => source.to_owned(),
                "outcome" => "dropped",
                "reason" => reason.as_str()
            );
            counter.increment(0);
            counter
        };
        let bytes = counter!(QUARANTINED_BYTES, "source" => source.to_owned());
        bytes.increment(0);
        Self {
            written: outcome("written"),
            dropped_beyond_source_budget: dropped(QuarantineDrop::SourceBudget),
            dropped_beyond_replica_cap: dropped(QuarantineDrop::ReplicaCap),
            failed: outcome("failed"),
            bytes,
        }
    }

    /// Requests not quarantined, by why.
    pub fn dropped(&self, why: QuarantineDrop) -> &Counter {
        match why {
            QuarantineDrop::SourceBudget => &self.dropped_beyond_source_budget,
            QuarantineDrop::ReplicaCap => &self.dropped_beyond_replica_cap,
        }
    }
}

/// Counts a TLS handshake's outcome.
pub fn tls_handshake(outcome: TlsHandshake) {
    counter!(TLS_HANDSHAKES, "outcome" => outcome.as_str()).increment(1);
}

/// Counts a reload, and whether the file now waits for a restart.
pub fn config_reload(outcome: Reload, restart_pending: bool) {
    counter!(CONFIG_RELOADS, "outcome" => outcome.as_str()).increment(1);
    gauge!(CONFIG_LAST_RELOAD_SUCCESSFUL).set(if outcome == Reload::Applied { 1.0 } else { 0.0 });
    gauge!(CONFIG_RESTART_PENDING).set(if restart_pending { 1.0 } else { 0.0 });
}

/// Counts a replaced Kafka producer.
pub fn producer_replaced() {
    counter!(PRODUCER_REPLACEMENTS).increment(1);
}

/// Reports the edge's dedup index: its size as `gauge`, its evictions.
pub fn dedup_index(gauge: &'static str, entries: usize, evicted: u64) {
    gauge!(gauge).set(entries as f64);
    counter!(DEDUP_EVICTIONS).absolute(evicted);
}

/// Reports what the dedup stage holds: ids and loaded partitions.
pub fn dedup_owned(entries: usize, partitions: usize) {
    gauge!(DEDUP_ENTRIES).set(entries as f64);
    gauge!(DEDUP_PARTITIONS).set(partitions as f64);
}

/// Reports a load of partitions' windows: records read, time taken.
pub fn dedup_load(records: u64, elapsed: Duration) {
    counter!(DEDUP_REPLAY_RECORDS).increment(records);
    gauge!(DEDUP_REPLAY_DURATION).set(elapsed.as_secs_f64());
}

pub fn dedup_loaded() {
    gauge!(DEDUP_LOADED).set(1.0);
}

pub fn dedup_corrupt_record() {
    counter!(DEDUP_CORRUPT_RECORDS).increment(1);
}

/// Counts one changelog write of the dedup stage.
pub fn dedup_write(ok: bool) {
    counter!(DEDUP_WRITES, "outcome" => if ok { "ok" } else { "failed" }).increment(1);
}

/// Counts one event the dedup stage published, `delay` after its receipt.
pub fn dedup_published(source: &str, delay: Duration) {
    counter!(DEDUP_PUBLISHED, "source" => source.to_owned()).increment(1);
    histogram!(DEDUP_PUBLICATION_DELAY).record(delay.as_secs_f64());
}

pub fn kafka_queue(messages: i32) {
    gauge!(QUEUE_MESSAGES).set(f64::from(messages));
}

/// When the certificate `which` hookgate presents expires.
pub fn certificate_expiry(which: &'static str, expires_at: std::time::SystemTime) {
    let seconds = expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64());
    gauge!(CERTIFICATE_EXPIRY, "certificate" => which).set(seconds);
}

/// The dedup stage's lag behind the intake, in records.
pub fn dedup_lag(records: u64) {
    gauge!(DEDUP_LAG).set(records as f64);
}

/// The memory limit the process runs under (0: none).
pub fn memory_limit(bytes: u64) {
    gauge!(MEMORY_LIMIT).set(bytes as f64);
}

/// The log writer's total of dropped lines so far.
pub fn log_lines_dropped(total: u64) {
    counter!(LOG_LINES_DROPPED).absolute(total);
}

pub fn broker_reachable(reachable: bool) {
    gauge!(BROKER_REACHABLE).set(if reachable { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_known_status_label() {
        for reason in Reason::ALL {
            assert_eq!(status_label(reason), reason.status().as_str());
        }
    }
}
