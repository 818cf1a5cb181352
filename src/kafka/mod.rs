//! What every Kafka client hookgate makes shares: where the cluster is, who is
//! calling, and the operator's `[kafka.client]` properties (TLS, SASL, …).

pub mod consume;
pub(crate) mod embedded;
pub mod publish;
pub mod statistics;

use std::sync::{Arc, Mutex};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::ops::throttle::Throttle;

/// The base settings of the event producer, the dedup topic's producer and
/// consumer, and the admin client.
pub fn client_config(config: &KafkaConfig, bootstrap_servers: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("client.id", &config.client_id)
        // Come back quickly after a broker restart: providers are retrying.
        .set("reconnect.backoff.max.ms", "1000");
    for (key, value) in &config.client {
        client.set(key, value);
    }
    client.set("bootstrap.servers", bootstrap_servers);
    client
}

/// A Kafka error as it may be shown: a refused client property is named
/// without its value, which may be a password.
pub fn redacted(err: &KafkaError) -> String {
    match err {
        KafkaError::ClientConfig(_, description, key, _value) => {
            format!("client configuration error: property {key:?}: {description}")
        }
        other => other.to_string(),
    }
}

/// Sends librdkafka's client-level errors to the log as warnings, at most one
/// line per 10 s with a count of those left out: while Kafka is down every
/// client reports the same error many times a second.
#[derive(Debug, Default)]
pub struct Logged {
    throttle: Throttle,
    /// Where the latest error goes, for `/readyz` to say why Kafka is
    /// unreachable (a refused certificate, a failed SASL login).
    last_error: Option<Arc<LastError>>,
    /// This client's statistics become hookgate's producer metrics (one
    /// client only: every other client's are ignored), with the totals it
    /// reported last.
    statistics: Option<statistics::Totals>,
}

impl Logged {
    /// A context that also keeps its latest error in `last_error`.
    pub fn recording(last_error: Arc<LastError>) -> Self {
        Self {
            last_error: Some(last_error),
            ..Self::default()
        }
    }

    /// This context also reports the client's statistics as metrics.
    pub fn reporting_statistics(self) -> Self {
        Self {
            statistics: Some(statistics::Totals::default()),
            ..self
        }
    }
}

impl ClientContext for Logged {
    fn error(&self, error: KafkaError, reason: &str) {
        if let Some(last_error) = &self.last_error {
            last_error.record(&error, reason);
        }
        log_client_error(&self.throttle, &error, reason);
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_client_message(&self.throttle, level, facility, message);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        if let Some(totals) = &self.statistics {
            statistics::record(&statistics, totals);
        }
    }

    fn stats_raw(&self, raw: &[u8]) {
        // Parsed only for the client that reports them.
        if self.statistics.is_some() {
            match serde_json::from_slice(raw) {
                Ok(parsed) => self.stats(parsed),
                Err(err) => {
                    tracing::debug!(error = %err, "librdkafka's statistics were not understood")
                }
            }
        }
    }
}

impl ConsumerContext for Logged {}

/// The latest error a Kafka client reported, as librdkafka words it.
#[derive(Debug, Default)]
pub struct LastError(Mutex<Option<String>>);

impl LastError {
    fn record(&self, error: &KafkaError, reason: &str) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // "All brokers are down" follows the error that says why; keep that.
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::AllBrokersDown) || last.is_none() {
            *last = Some(reason.to_owned());
        }
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// librdkafka's own log lines. Its errors (a refused connection, say) repeat
/// what `error` reports, so they share its throttle and log as warnings.
pub(crate) fn log_client_message(
    throttle: &Throttle,
    level: RDKafkaLogLevel,
    facility: &str,
    message: &str,
) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => {
            if let Some(suppressed) = throttle.allow() {
                tracing::warn!(target: "librdkafka", facility, suppressed, "{message}");
            }
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// The body of [`Logged`]'s `error`, for contexts that do more.
pub(crate) fn log_client_error(throttle: &Throttle, error: &KafkaError, reason: &str) {
    // The end of a partition is news to a reader, not a problem.
    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
        return;
    }
    if let Some(suppressed) = throttle.allow() {
        tracing::warn!(error = %error, suppressed, "Kafka client: {reason}");
    }
}

/// What became of one topic at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicState {
    Created,
    Existed,
    Failed(String),
}

/// A topic hookgate creates when it is missing.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec<'a> {
    pub name: &'a str,
    pub partitions: i32,
    /// -1 takes the cluster's `default.replication.factor`.
    pub replication_factor: i32,
    pub configs: &'a [(&'a str, String)],
}

/// An admin client with hookgate's client settings.
pub fn admin(client: &ClientConfig) -> Result<AdminClient<Logged>, KafkaError> {
    client.create_with_context(Logged::default())
}

/// Admin requests, and the operations behind them, may take `timeout`.
pub fn admin_options(timeout: std::time::Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

/// Creates each topic of `specs` that is missing; one that exists is left as
/// it is. The error is for a cluster that did not answer.
pub async fn create_topics(
    admin: &AdminClient<Logged>,
    specs: &[TopicSpec<'_>],
    options: &AdminOptions,
) -> Result<Vec<(String, TopicState)>, KafkaError> {
    let new: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(
                    spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let results = admin.create_topics(&new, options).await?;
    Ok(results
        .into_iter()
        .map(|result| match result {
            Ok(topic) => (topic, TopicState::Created),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => (topic, TopicState::Existed),
            Err((topic, code)) => (topic, TopicState::Failed(code.to_string())),
        })
        .collect())
}

/// The settings `topic` has, as the cluster describes them; what is wrong
/// when it cannot say.
pub async fn topic_configs(
    admin: &AdminClient<Logged>,
    topic: &str,
    options: &AdminOptions,
) -> Result<Vec<(String, Option<String>)>, String> {
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], options)
        .await
        .map_err(|err| redacted(&err))?;
    match described.into_iter().next() {
        Some(Ok(resource)) => Ok(resource
            .entries
            .into_iter()
            .map(|entry| (entry.name, entry.value))
            .collect()),
        Some(Err(code)) => Err(code.to_string()),
        None => Ok(Vec::new()),
    }
}

/// Each wanted setting the topic lacks, as `name is X, not Y`.
/// `cleanup.policy` is compared as a set: `delete,compact` is as good.
pub fn config_differences(
    wanted: &[(&str, String)],
    actual: &[(String, Option<String>)],
) -> Vec<String> {
    let policies = |value: &str| {
        let mut parts: Vec<String> = value.split(',').map(|p| p.trim().to_owned()).collect();
        parts.sort();
        parts
    };
    wanted
        .iter()
        .filter_map(|(name, want)| {
            let have = actual
                .iter()
                .find(|(key, _)| key == name)
                .and_then(|(_, value)| value.as_deref());
            let same = match have {
                Some(have) if *name == "cleanup.policy" => policies(have) == policies(want),
                Some(have) => have == want,
                None => false,
            };
            (!same).then(|| format!("{name} is {}, not {want}", have.unwrap_or("unset")))
        })
        .collect()
}

/// The partition numbers of `topic`; empty when the cluster does not know it.
pub fn partitions<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// Reads `partitions` of `topic` from `offset`, with no consumer group.
pub fn assign_all<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    offset: Offset,
) -> Result<(), KafkaError> {
    let mut assignment = TopicPartitionList::new();
    for &partition in partitions {
        assignment.add_partition_offset(topic, partition, offset)?;
    }
    consumer.assign(&assignment)
}

/// The librdkafka this binary links and the features it was built with
/// (`builtin.features`: `ssl`, `sasl_scram`, `sasl_oauthbearer`, `oidc`, …),
/// so a build that lost one says so where it is checked.
pub fn library() -> String {
    let (_, version) = rdkafka::util::get_rdkafka_version();
    let features = rdkafka::ClientConfig::new()
        .create_native_config()
        .and_then(|native| native.get("builtin.features"))
        .unwrap_or_else(|_| "unknown features".to_owned());
    format!("{version} ({features})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaConfRes;

    #[test]
    fn a_refused_property_is_named_without_its_value() {
        let err = KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "unsupported in this build".into(),
            "sasl.password".into(),
            "hunter2".into(),
        );
        assert!(
            err.to_string().contains("hunter2"),
            "rdkafka shows the value"
        );
        let shown = redacted(&err);
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
