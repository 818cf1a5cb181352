//! `[kafka]`: the brokers, how long a request may wait on them, the topics
//! hookgate creates for sources, and the librdkafka properties every client
//! takes. Nothing here changes on a reload: every Kafka client is made at
//! start-up.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FieldError, Problems, topic_layout_problems};

/// The broker list that starts librdkafka's in-process mock cluster instead.
pub const EMBEDDED_BROKERS: &str = "embedded";
/// The broker list that publishes nowhere: every event is acknowledged at once
/// and kept nowhere, for measuring hookgate itself. Never for real traffic.
pub const NULL_BROKERS: &str = "null";

/// `[kafka]`: where verified events go. Its `Debug` leaves out the values of
/// `client` and `producer`, which may be secrets.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`, or `embedded` for an in-memory
    /// mock cluster (not durable: for trying hookgate out).
    pub brokers: String,
    /// How long a request may wait for Kafka, all told, before it is answered
    /// 503. Keep it below the providers' timeouts (Slack's is 3 s). Read it
    /// with [`KafkaConfig::produce_timeout`].
    #[serde(default, with = "humantime_serde")]
    produce_timeout: Option<Duration>,
    /// The same in milliseconds: the spelling before durations were written
    /// as durations, still read (with a warning) so old files keep working.
    #[serde(default, skip_serializing)]
    produce_timeout_ms: Option<u64>,
    /// `Retry-After` sent with a 503 or 409, in whole seconds. Read it with
    /// [`KafkaConfig::retry_after_secs`].
    #[serde(default, with = "humantime_serde")]
    retry_after: Option<Duration>,
    /// The same in seconds: the older spelling, still read with a warning.
    #[serde(default, skip_serializing)]
    retry_after_secs: Option<u32>,
    /// The producer's `client.id`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Create the sources' topics at start-up when they are missing.
    #[serde(default = "default_true")]
    pub create_topics: bool,
    /// Partitions of a source topic hookgate creates.
    #[serde(default = "default_topic_partitions")]
    pub topic_partitions: i32,
    /// Replication factor of a source topic hookgate creates; -1 takes the
    /// cluster's `default.replication.factor`.
    #[serde(default = "default_replication_factor")]
    pub topic_replication_factor: i32,
    /// librdkafka properties for every client hookgate makes (the event producer,
    /// the dedup topic's producer and consumer, the admin client): security,
    /// SASL, TLS and the like. A value written `env:NAME` or `file:PATH` is
    /// read from there at load, as webhook secrets are (`sasl.password`).
    #[serde(default)]
    pub client: BTreeMap<String, String>,
    /// librdkafka properties for the event producer only, passed through as they are.
    #[serde(default)]
    pub producer: BTreeMap<String, String>,
    /// The metadata headers of every source's records, unless a source says
    /// otherwise (`[[sources]] headers`).
    #[serde(default)]
    pub headers: HeaderStyle,
}

/// Which metadata headers a record carries beside the provider's own.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HeaderStyle {
    /// hookgate's own: `hookgate-source`, `hookgate-event-id`, ….
    #[default]
    Hookgate,
    /// The CloudEvents Kafka binding, binary mode: `ce_specversion`,
    /// `ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_traceparent`.
    Cloudevents,
    /// Both.
    Both,
}

impl HeaderStyle {
    /// Whether hookgate's own headers are written.
    pub fn hookgate(self) -> bool {
        self != Self::Cloudevents
    }

    /// Whether the CloudEvents headers are written.
    pub fn cloudevents(self) -> bool {
        self != Self::Hookgate
    }
}

fn default_true() -> bool {
    true
}
fn default_topic_partitions() -> i32 {
    6
}
fn default_replication_factor() -> i32 {
    -1
}
const DEFAULT_PRODUCE_TIMEOUT: Duration = Duration::from_millis(2500);
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
const PRODUCE_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(120);
fn default_client_id() -> String {
    "hookgate".into()
}

/// librdkafka properties hookgate sets itself because its guarantees rest on them.
pub const RESERVED_PRODUCER_PROPERTIES: [&str; 6] = [
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("produce_timeout", &self.produce_timeout())
            .field("client", &self.client.keys().collect::<Vec<_>>())
            .field("producer", &self.producer.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KafkaConfig {
    /// Replaces each `env:NAME` or `file:PATH` value of `[kafka.client]` and
    /// `[kafka.producer]` with what it names; an error names the property,
    /// never a value.
    pub(super) fn resolve_references(&mut self, base_dir: &Path) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (table, properties) in [
            ("kafka.client", &mut self.client),
            ("kafka.producer", &mut self.producer),
        ] {
            for (key, value) in properties.iter_mut() {
                match crate::config::secret::resolve_setting(value, base_dir) {
                    Ok(resolved) => *value = resolved,
                    Err(message) => errors.push(FieldError {
                        field: format!("{table}.\"{key}\""),
                        message,
                    }),
                }
            }
        }
        errors
    }

    pub fn is_embedded(&self) -> bool {
        self.brokers == EMBEDDED_BROKERS
    }

    /// Whether events go nowhere (`brokers = "null"`), for benchmarks.
    pub fn is_null(&self) -> bool {
        self.brokers == NULL_BROKERS
    }

    /// The most a request waits on Kafka (`produce_timeout`, or the older
    /// `produce_timeout_ms`); also librdkafka's `message.timeout.ms`.
    pub fn produce_timeout(&self) -> Duration {
        self.produce_timeout
            .or(self.produce_timeout_ms.map(Duration::from_millis))
            .unwrap_or(DEFAULT_PRODUCE_TIMEOUT)
    }

    /// Seconds sent in `Retry-After` (`retry_after`, or the older `retry_after_secs`).
    pub fn retry_after_secs(&self) -> u32 {
        self.retry_after_secs.unwrap_or_else(|| {
            let retry_after = self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
            u32::try_from(retry_after.as_secs()).unwrap_or(u32::MAX)
        })
    }

    /// Every problem with `[kafka]`, each naming its field.
    pub(super) fn check(&self, problems: &mut Problems<'_>) {
        if self.brokers.trim().is_empty() {
            problems.add("brokers", "list at least one host:port, or `embedded`");
        }
        for (old, new, both) in [
            (
                "produce_timeout_ms",
                "kafka.produce_timeout",
                self.produce_timeout.is_some() && self.produce_timeout_ms.is_some(),
            ),
            (
                "retry_after_secs",
                "kafka.retry_after",
                self.retry_after.is_some() && self.retry_after_secs.is_some(),
            ),
        ] {
            if both {
                problems.add(old, format!("is the older spelling of {new}; keep one"));
            }
        }
        let produce_timeout_field = if self.produce_timeout_ms.is_some() {
            "produce_timeout_ms"
        } else {
            "produce_timeout"
        };
        if !PRODUCE_TIMEOUT_RANGE.contains(&self.produce_timeout()) {
            problems.add(
                produce_timeout_field,
                format!("{:?} is outside 100ms..=120s", self.produce_timeout()),
            );
        }
        if let Some(retry_after) = self.retry_after
            && (retry_after.subsec_nanos() != 0 || retry_after > Duration::from_secs(86_400))
        {
            problems.add(
                "retry_after",
                format!("{retry_after:?}: Retry-After is sent in whole seconds, from 0s to 24h"),
            );
        }
        for (table, properties) in [("client", &self.client), ("producer", &self.producer)] {
            for key in properties.keys() {
                if RESERVED_PRODUCER_PROPERTIES.contains(&key.as_str()) {
                    problems.add(
                        &format!("{table}.\"{key}\""),
                        "is set by hookgate (idempotent, acks=all, timeout from kafka.produce_timeout) and may not be overridden",
                    );
                }
            }
        }
        for (field, message) in topic_layout_problems(
            ("topic_partitions", self.topic_partitions),
            ("topic_replication_factor", self.topic_replication_factor),
        ) {
            problems.add(field, message);
        }
    }

    /// The older spellings in use, each with the one that replaces it.
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.produce_timeout_ms.is_some() {
            found.push(("kafka.produce_timeout_ms", "kafka.produce_timeout"));
        }
        if self.retry_after_secs.is_some() {
            found.push(("kafka.retry_after_secs", "kafka.retry_after"));
        }
        found
            .into_iter()
            .map(|(old, new)| {
                format!(
                    "{old} is the older spelling of {new}: write {new} as a duration (\"2500ms\", \"5s\")"
                )
            })
            .collect()
    }
}
