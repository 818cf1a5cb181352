//! What start-up checks before it runs anything, and all that
//! `check-config` runs: the sources with their secrets, the TLS certificate
//! and key, every Kafka client's properties. Connects to nothing.

use std::sync::Arc;

use super::StartError;
use crate::config::Config;
use crate::edge::tls::Tls;
use crate::kafka;
use crate::pipeline::source::Sources;

/// What start-up builds from a configuration before anything runs, and what
/// `check-config` checks: the sources with their secrets, the TLS
/// certificate and key, and every Kafka client's properties.
#[derive(Debug)]
pub struct Checked {
    pub sources: Sources,
    pub(super) tls: Option<Arc<Tls>>,
}

/// Every check start-up makes before it runs anything, for `serve` and
/// `check-config` alike. Connects to nothing.
pub fn check(config: &Config) -> Result<Checked, StartError> {
    let sources = Sources::build(config).map_err(StartError::Sources)?;
    let tls = match &config.server.tls {
        Some(tls) => Some(Arc::new(
            Tls::load(tls, &config.base_dir).map_err(StartError::Tls)?,
        )),
        None => None,
    };
    check_kafka_clients(config).map_err(StartError::KafkaClient)?;
    Ok(Checked { sources, tls })
}

/// Creates, and drops at once, every kind of Kafka client hookgate makes, with
/// the configured properties and no bootstrap servers, so that nothing
/// connects: a property this build cannot honour (TLS, a SASL mechanism) or a
/// misspelt one fails here, named, rather than at `serve`.
fn check_kafka_clients(config: &Config) -> Result<(), String> {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;
    if config.kafka.is_null() || config.kafka.is_embedded() {
        return Ok(());
    }
    let field = |err: &rdkafka::error::KafkaError| {
        let key = match err {
            rdkafka::error::KafkaError::ClientConfig(_, _, key, _) => Some(key.as_str()),
            _ => None,
        };
        match key {
            Some(key) if config.kafka.producer.contains_key(key) => {
                format!("kafka.producer.{key:?}")
            }
            Some(key) if config.kafka.client.contains_key(key) => format!("kafka.client.{key:?}"),
            _ => "kafka.client".to_owned(),
        }
    };
    crate::kafka::publish::producer_config(&config.kafka, "")
        .create::<BaseProducer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    kafka::client_config(&config.kafka, "")
        .set("group.id", "hookgate.check-config")
        .create::<BaseConsumer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    Ok(())
}
