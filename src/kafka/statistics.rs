//! librdkafka's own view of hookgate's clients, as metrics: of the event
//! producer, how full its queue is in messages and bytes, and per broker the
//! round-trip time, the requests queued and awaiting an answer, whether it is
//! up, and its errors; of the dedup stage's consumer, how far behind the
//! intake it is. librdkafka emits the statistics every
//! `statistics.interval.ms`; nothing here runs on the request path.

use metrics::{counter, gauge};
use rdkafka::statistics::{Broker, Statistics};

/// How often the event producer reports its statistics, unless
/// `[kafka.client]` or `[kafka.producer]` sets `statistics.interval.ms`.
pub const DEFAULT_INTERVAL_MS: &str = "5000";

pub const QUEUE_BYTES: &str = "hookgate_kafka_queue_bytes";
pub const QUEUE_CAPACITY_BYTES: &str = "hookgate_kafka_queue_capacity_bytes";
pub const BROKER_UP: &str = "hookgate_kafka_broker_up";
pub const BROKER_RTT_P99: &str = "hookgate_kafka_broker_rtt_p99_seconds";
pub const BROKER_OUTBUF: &str = "hookgate_kafka_broker_requests_queued";
pub const BROKER_WAITRESP: &str = "hookgate_kafka_broker_requests_awaiting_response";
pub const BROKER_ERRORS: &str = "hookgate_kafka_broker_errors_total";

/// Gives each series its help text and the queue's its first value.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        QUEUE_BYTES,
        "Bytes of events queued in the event producer, waiting for Kafka's acknowledgement (librdkafka's msg_size)."
    );
    describe_gauge!(
        QUEUE_CAPACITY_BYTES,
        "The event producer's queue capacity in bytes (queue.buffering.max.kbytes)."
    );
    describe_gauge!(
        BROKER_UP,
        "1 while the event producer's connection to this broker is up, by broker (host:port/node id)."
    );
    describe_gauge!(
        BROKER_RTT_P99,
        "99th percentile of the broker's round-trip time over the last statistics interval, by broker."
    );
    describe_gauge!(
        BROKER_OUTBUF,
        "Requests waiting to be sent to the broker, by broker."
    );
    describe_gauge!(
        BROKER_WAITRESP,
        "Requests sent to the broker and not answered yet, by broker."
    );
    describe_counter!(
        BROKER_ERRORS,
        "Errors of the event producer's connection to a broker, by broker and kind (transmit, receive, timeout)."
    );
    gauge!(QUEUE_BYTES).set(0.0);
}

/// What a client reported last of its running totals, so that each round
/// adds what is new: librdkafka's totals start again at 0 in a replaced
/// producer, and a counter must not lose what the old one counted.
#[derive(Debug, Default)]
pub struct Totals(std::sync::Mutex<std::collections::HashMap<(String, &'static str), u64>>);

impl Totals {
    /// How much `total` grew since the last round (all of it after a reset).
    fn growth(&self, broker: &str, kind: &'static str, total: u64) -> u64 {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.insert((broker.to_owned(), kind), total).unwrap_or(0);
        if total >= before {
            total - before
        } else {
            total
        }
    }
}

/// Reports one round of statistics.
pub fn record(statistics: &Statistics, totals: &Totals) {
    gauge!(QUEUE_BYTES).set(statistics.msg_size as f64);
    gauge!(QUEUE_CAPACITY_BYTES).set(statistics.msg_size_max as f64);
    for broker in statistics.brokers.values().filter(|b| is_real(b)) {
        // librdkafka's own name carries the protocol (`ssl://…`); the
        // address and node id are what an operator looks the broker up by.
        let name = format!("{}/{}", broker.nodename, broker.nodeid);
        gauge!(BROKER_UP, "broker" => name.clone()).set(if broker.state == "UP" {
            1.0
        } else {
            0.0
        });
        if let Some(rtt) = &broker.rtt {
            // Microseconds; an interval without requests reports 0.
            gauge!(BROKER_RTT_P99, "broker" => name.clone()).set(rtt.p99 as f64 / 1e6);
        }
        gauge!(BROKER_OUTBUF, "broker" => name.clone()).set(broker.outbuf_cnt as f64);
        gauge!(BROKER_WAITRESP, "broker" => name.clone()).set(broker.waitresp_cnt as f64);
        for (kind, total) in [
            ("transmit", broker.txerrs),
            ("receive", broker.rxerrs),
            ("timeout", broker.req_timeouts),
        ] {
            let growth = totals.growth(&name, kind, total);
            counter!(BROKER_ERRORS, "broker" => name.clone(), "kind" => kind).increment(growth);
        }
    }
}

/// Records of `topic` the consumer has not read yet, over the partitions it
/// is assigned (those whose lag librdkafka knows). From the stored offset,
/// which follows what the consumer has read: the committed one stays where
/// the partition was assigned when offsets are committed by a transaction.
pub fn consumer_lag(statistics: &Statistics, topic: &str) -> u64 {
    statistics.topics.get(topic).map_or(0, |topic| {
        topic
            .partitions
            .values()
            .filter(|partition| partition.partition >= 0 && partition.desired)
            .map(|partition| {
                let lag = if partition.consumer_lag_stored >= 0 {
                    partition.consumer_lag_stored
                } else {
                    partition.consumer_lag
                };
                u64::try_from(lag).unwrap_or(0)
            })
            .sum()
    })
}

/// A broker of the cluster, not a bootstrap address before metadata named
/// it (node id -1) nor a logical broker (the coordinator's alias).
fn is_real(broker: &Broker) -> bool {
    broker.nodeid >= 0 && broker.source != "logical"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape librdkafka 2.x emits, cut to what is read here.
    const SAMPLE: &str = r#"{
        "name": "hookgate#producer-1", "client_id": "hookgate", "type": "producer",
        "ts": 1, "time": 1, "age": 1, "replyq": 0,
        "msg_cnt": 3, "msg_size": 4096, "msg_max": 100000, "msg_size_max": 1073741824,
        "simple_cnt": 0, "metadata_cache_cnt": 1,
        "tx": 0, "tx_bytes": 0, "rx": 0, "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0,
        "rxmsgs": 0, "rxmsg_bytes": 0,
        "brokers": {
            "localhost:9092/1": {"name": "localhost:9092/1", "nodeid": 1, "nodename": "localhost:9092",
                "source": "learned", "state": "UP", "stateage": 1, "outbuf_cnt": 2, "outbuf_msg_cnt": 2,
                "waitresp_cnt": 1, "waitresp_msg_cnt": 1, "tx": 9, "txbytes": 9, "txerrs": 4,
                "txretries": 0, "txidle": 0, "rxidle": 0, "req_timeouts": 1, "rx": 9, "rxbytes": 9, "rxerrs": 0,
                "rxcorriderrs": 0, "rxpartial": 0, "zbuf_grow": 0, "buf_grow": 0,
                "req": {}, "toppars": {},
                "rtt": {"min": 1, "max": 1, "avg": 1, "sum": 1, "cnt": 1, "stddev": 0,
                        "hdrsize": 0, "p50": 1, "p75": 1, "p90": 1, "p95": 1, "p99": 2500,
                        "p99_99": 1, "outofrange": 0}},
            "localhost:9092/bootstrap": {"name": "localhost:9092/bootstrap", "nodeid": -1,
                "nodename": "localhost:9092", "source": "configured", "state": "UP", "stateage": 1,
                "outbuf_cnt": 0, "outbuf_msg_cnt": 0, "waitresp_cnt": 0, "waitresp_msg_cnt": 0,
                "tx": 0, "txbytes": 0, "txerrs": 0, "txretries": 0, "txidle": 0, "rxidle": 0, "req_timeouts": 0, "rx": 0,
                "rxbytes": 0, "rxerrs": 0, "rxcorriderrs": 0, "rxpartial": 0, "zbuf_grow": 0,
                "buf_grow": 0, "req": {}, "toppars": {}}
        },
        "topics": {}
    }"#;

    #[test]
    fn the_cluster_s_brokers_are_reported_and_bootstrap_addresses_are_not() {
        let statistics: Statistics = serde_json::from_str(SAMPLE).expect("librdkafka's shape");
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || record(&statistics, &Totals::default()));
        let seen: std::collections::HashMap<String, String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|label| format!("{}={}", label.key(), label.value()))
                    .collect();
                (
                    format!("{}{{{}}}", key.key().name(), labels.join(",")),
                    format!("{value:?}"),
                )
            })
            .collect();
        let value = |series: &str| seen.get(series).cloned().unwrap_or_default();
        assert_eq!(value("hookgate_kafka_queue_bytes{}"), "Gauge(4096.0)");
        assert_eq!(
            value("hookgate_kafka_broker_rtt_p99_seconds{broker=localhost:9092/1}"),
            "Gauge(0.0025)"
        );
        assert_eq!(
            value("hookgate_kafka_broker_errors_total{broker=localhost:9092/1,kind=transmit}"),
            "Counter(4)"
        );
        assert!(
            !seen.keys().any(|series| series.contains("bootstrap")),
            "{seen:?}"
        );
    }

    #[test]
    fn the_consumer_s_lag_sums_its_assigned_partitions() {
        let window = serde_json::json!({"min": 0, "max": 0, "avg": 0, "sum": 0, "cnt": 0,
            "stddev": 0, "hdrsize": 0, "p50": 0, "p75": 0, "p90": 0, "p95": 0, "p99": 0,
            "p99_99": 0, "outofrange": 0});
        let partition = |id: i32, desired: bool, lag: i64| {
            let mut fields = serde_json::Map::new();
            for name in [
                "broker",
                "leader",
                "msgq_cnt",
                "msgq_bytes",
                "xmit_msgq_cnt",
                "xmit_msgq_bytes",
                "fetchq_cnt",
                "fetchq_size",
                "query_offset",
                "next_offset",
                "app_offset",
                "stored_offset",
                "committed_offset",
                "eof_offset",
                "lo_offset",
                "hi_offset",
                "ls_offset",
                "consumer_lag_stored",
                "txmsgs",
                "txbytes",
                "rxmsgs",
                "rxbytes",
                "msgs",
                "rx_ver_drops",
                "msgs_inflight",
                "next_ack_seq",
                "next_err_seq",
                "acked_msgid",
            ] {
                fields.insert(name.into(), 0.into());
            }
            fields.insert("partition".into(), id.into());
            fields.insert("desired".into(), desired.into());
            fields.insert("unknown".into(), false.into());
            fields.insert("fetch_state".into(), "active".into());
            // The stored offset's lag is the one read; the committed one's
            // stays where a transactional consumer was assigned.
            fields.insert("consumer_lag_stored".into(), lag.into());
            fields.insert(
                "consumer_lag".into(),
                (if lag < 0 { -1 } else { 5000 }).into(),
            );
            (id.to_string(), serde_json::Value::Object(fields))
        };
        let mut statistics: serde_json::Value = serde_json::from_str(SAMPLE).expect("sample");
        statistics["topics"]["hookgate.intake"] = serde_json::json!({
            "topic": "hookgate.intake", "age": 0, "metadata_age": 0,
            "batchsize": window, "batchcnt": window,
            "partitions": serde_json::Map::from_iter([
                partition(0, true, 120),
                partition(1, true, -1),    // not known yet
                partition(2, false, 900),  // another replica's
                partition(-1, false, 0),   // librdkafka's unassigned queue
                partition(3, true, 7),
            ]),
        });
        let statistics: Statistics =
            serde_json::from_value(statistics).expect("librdkafka's shape");
        assert_eq!(consumer_lag(&statistics, "hookgate.intake"), 127);
        assert_eq!(consumer_lag(&statistics, "another.topic"), 0);
    }
}
