//! Assembles the pipeline from the configuration, starts what runs beside it
//! (the broker probe, the dedup topic's reader), and stops them in order.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::dedup::Dedup;
use crate::dedup::journal::Journal;
use crate::dedup::reader::{self, ReaderHandle};
use crate::health::Health;
use crate::ingest::Gateway;
use crate::kafka::{self, TopicSpec, TopicState};
use crate::publish::{KafkaPublisher, Publisher};
use crate::source::Sources;

/// Why hookgate could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("kafka: cannot create the event producer: {0}")]
    Producer(String),
    #[error("cannot start the dedup topic's reader thread: {0}")]
    DedupReader(std::io::Error),
}

/// Creates, and drops at once, every kind of Kafka client hookgate makes, with
/// the configured properties and no bootstrap servers, so that nothing
/// connects: a property this build cannot honour (TLS, a SASL mechanism) or a
/// misspelt one fails here, named, rather than at `serve`.
pub fn check_kafka_clients(config: &Config) -> Result<(), String> {
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
    crate::publish::producer_config(&config.kafka, "")
        .create::<BaseProducer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    kafka::client_config(&config.kafka, "")
        .set("group.id", "hookgate.check-config")
        .create::<BaseConsumer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    Ok(())
}

/// A started gateway and what runs beside it.
#[derive(Debug)]
pub struct Running {
    pub gateway: Arc<Gateway>,
    pub health: Arc<Health>,
    publisher: Arc<Publisher>,
    dedup: Dedup,
    probe: tokio::task::JoinHandle<()>,
    queue_sampler: tokio::task::JoinHandle<()>,
    /// Absent with the null publisher.
    reader: Option<ReaderHandle>,
}

/// Starts hookgate's Kafka side against `bootstrap_servers`. Nothing here
/// waits for Kafka: until the dedup index is loaded `/readyz` says why not and
/// webhooks are answered 503. `create_dedup_topic` is false only for the
/// embedded cluster, whose admin API does not answer (the topic is made there).
/// With `kafka.brokers = "null"` nothing is published and nothing is kept.
pub fn start(
    config: &Config,
    sources: Sources,
    bootstrap_servers: &str,
    create_dedup_topic: bool,
) -> Result<Running, StartError> {
    // A second delivery waits for the first one's outcome a little longer
    // than publishing may take (the event, then its id's dedup record), so
    // it normally learns it.
    let wait_limit = config.kafka.produce_timeout() * 2 + Duration::from_secs(2);
    let health = Arc::new(Health::new(config.server.readiness_requires_kafka));
    let (publisher, dedup, reader) = if config.kafka.is_null() {
        // Nothing to replay and nowhere to write: the index lives in memory.
        health.dedup_loaded();
        (
            Publisher::null(),
            Dedup::in_memory(&config.dedup, wait_limit),
            None,
        )
    } else {
        let kafka = KafkaPublisher::new(&config.kafka, bootstrap_servers)
            .map_err(|err| StartError::Producer(kafka::redacted(&err)))?;
        let client = crate::kafka::client_config(&config.kafka, bootstrap_servers);
        if config.kafka.create_topics && create_dedup_topic {
            tokio::spawn(create_topics(
                client.clone(),
                sources.topics(),
                config.kafka.topic_partitions,
                config.kafka.topic_replication_factor,
            ));
        }
        // Dedup records ride the event producer: same client, same batches.
        let journal = Journal::start(
            kafka.shared_producer(),
            &config.dedup.topic,
            config.kafka.produce_timeout(),
        );
        let dedup = Dedup::on_topic(&config.dedup, wait_limit, journal);
        let reader = reader::spawn(
            client,
            &config.dedup,
            create_dedup_topic,
            dedup.clone(),
            Arc::clone(&health),
        )
        .map_err(StartError::DedupReader)?;
        (Publisher::Kafka(kafka), dedup, Some(reader))
    };
    let publisher = Arc::new(publisher);
    crate::metrics::capacities(crate::metrics::Capacities {
        dedup_entries: config.dedup.max_entries,
        connections: config.server.max_connections,
        requests_in_flight: config.server.max_requests_in_flight,
        queue_messages: if config.kafka.is_null() {
            0
        } else {
            crate::publish::producer_config(&config.kafka, bootstrap_servers)
                .get("queue.buffering.max.messages")
                .and_then(|max| max.parse().ok())
                .unwrap_or(0)
        },
    });
    let probe = health.watch(Arc::clone(&publisher), Duration::from_secs(2));
    let queue_sampler = {
        let publisher = Arc::clone(&publisher);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                crate::metrics::kafka_queue(publisher.queued());
            }
        })
    };
    let gateway = Arc::new(Gateway::new(
        config,
        sources,
        dedup.clone(),
        Arc::clone(&publisher),
        Arc::clone(&health),
    ));
    Ok(Running {
        gateway,
        health,
        publisher,
        dedup,
        probe,
        queue_sampler,
        reader,
    })
}

/// Creates the sources' missing topics, retrying while Kafka is unreachable.
/// Publishing does not wait for it: an event for a missing topic gets 503.
async fn create_topics(
    client: rdkafka::ClientConfig,
    topics: Vec<String>,
    partitions: i32,
    replication_factor: i32,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let specs: Vec<TopicSpec<'_>> = topics
            .iter()
            .map(|name| TopicSpec {
                name,
                partitions,
                replication_factor,
                configs: &[],
            })
            .collect();
        let created = match kafka::admin(&client) {
            Ok(admin) => {
                let options = kafka::admin_options(Duration::from_secs(10));
                kafka::create_topics(&admin, &specs, &options).await
            }
            Err(err) => Err(err),
        };
        match created {
            Ok(states) => {
                for (topic, state) in states {
                    match state {
                        TopicState::Created => {
                            tracing::info!(%topic, partitions, "created the topic");
                        }
                        TopicState::Existed => {}
                        TopicState::Failed(why) => tracing::warn!(
                            %topic,
                            "cannot create the topic ({why}): its events will get 503 until it exists"
                        ),
                    }
                }
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach Kafka to create the sources' topics; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

impl Running {
    /// The dedup index this gateway uses.
    pub fn dedup(&self) -> &Dedup {
        &self.dedup
    }

    /// After the server stopped: writes what is still queued for Kafka (events
    /// first, then their dedup records), then stops the reader.
    pub async fn shutdown(self) {
        self.probe.abort();
        self.queue_sampler.abort();
        let Self {
            publisher,
            dedup,
            reader,
            ..
        } = self;
        // Ids still queued for the dedup topic first: their records then leave
        // with the events' last ones.
        dedup.flush(Duration::from_secs(5)).await;
        let flushed =
            tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(5))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!("some events were still queued for Kafka at exit");
        }
        if let Some(reader) = reader {
            let _ = tokio::task::spawn_blocking(move || reader.stop()).await;
        }
    }
}
