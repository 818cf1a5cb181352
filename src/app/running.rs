//! What runs once the configuration is checked: the broker chosen from
//! `kafka.brokers`, the pipeline assembled against it, the topics made for
//! it, and what runs beside it (the broker probe, the queue sampler, the
//! dedup keeper), with their orderly stop.

use std::sync::Arc;
use std::time::Duration;

use super::StartError;
use crate::config::Config;
use crate::dedup::Dedup;
use crate::dedup::keeper::{Cluster, Keeper};
use crate::kafka::embedded::EmbeddedKafka;
use crate::kafka::publish::{KafkaPublisher, Publisher};
use crate::kafka::{self, TopicSpec, TopicState};
use crate::ops::health::Health;
use crate::pipeline::ingest::Gateway;
use crate::pipeline::source::Sources;

/// Where events go: chosen once, from `kafka.brokers`.
pub(super) enum Brokers {
    /// A real cluster at these bootstrap servers.
    Cluster(String),
    /// librdkafka's in-process mock cluster; stops when dropped.
    Embedded(EmbeddedKafka),
    /// Nowhere: every event is acknowledged and thrown away.
    Null,
}

impl Brokers {
    pub(super) fn choose(config: &Config, sources: &Sources) -> Result<Self, StartError> {
        if config.kafka.is_null() {
            tracing::warn!(
                "kafka.brokers = \"null\": every event is acknowledged and THROWN AWAY. \
                 For measuring hookgate without Kafka only; never point a provider at it."
            );
            Ok(Self::Null)
        } else if config.kafka.is_embedded() {
            let embedded = EmbeddedKafka::start(&sources.topics(), &config.dedup)
                .map_err(|err| StartError::Embedded(err.to_string()))?;
            tracing::warn!(
                bootstrap_servers = %embedded.bootstrap_servers(),
                "kafka.brokers = \"embedded\": events go to an IN-MEMORY mock Kafka cluster and are LOST when hookgate stops. \
                 Not durable; for trying hookgate out only."
            );
            Ok(Self::Embedded(embedded))
        } else {
            Ok(Self::Cluster(config.kafka.brokers.clone()))
        }
    }

    pub(super) fn bootstrap_servers(&self) -> String {
        match self {
            Self::Cluster(servers) => servers.clone(),
            Self::Embedded(embedded) => embedded.bootstrap_servers(),
            Self::Null => crate::config::NULL_BROKERS.to_owned(),
        }
    }

    /// The embedded cluster's admin API does not answer; its topics are
    /// made when it starts.
    pub(super) fn creates_topics(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

/// The pipeline and what runs beside it.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) gateway: Arc<Gateway>,
    pub(super) health: Arc<Health>,
    pub(super) publisher: Arc<Publisher>,
    pub(super) dedup: Dedup,
    pub(super) probe: tokio::task::JoinHandle<()>,
    pub(super) queue_sampler: tokio::task::JoinHandle<()>,
    pub(super) sweeper: tokio::task::JoinHandle<()>,
    /// This replica's dedup topics and stage; absent with the null publisher.
    pub(super) keeper: Option<Keeper>,
}

/// Assembles the pipeline against `bootstrap_servers`. `create_topics` is
/// false for the embedded cluster, whose admin API does not answer (its topics
/// are made there). With `kafka.brokers = "null"` nothing is published and
/// nothing is kept.
pub(super) fn start_pipeline(
    config: &Config,
    sources: Sources,
    bootstrap_servers: &str,
    creates_topics: bool,
) -> Result<Running, StartError> {
    // A second delivery waits for the first one's outcome a little longer
    // than handing it to Kafka may take, so it normally learns it.
    let wait_limit = config.kafka.produce_timeout() + Duration::from_secs(2);
    let health = Arc::new(Health::new(config.server.readiness_requires_kafka));
    let (publisher, dedup, keeper) = if config.kafka.is_null() {
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
        if config.kafka.create_topics && creates_topics {
            tokio::spawn(create_topics(
                client.clone(),
                planned_topics(config, &sources, sources.topics()),
                config.kafka.topic_partitions,
                config.kafka.topic_replication_factor,
            ));
        }
        // The edge remembers what it handed over itself, for a while: its
        // own repeats are answered `duplicate` at once. The stage, owner of
        // each id's partition, decides what is published.
        let dedup = Dedup::recent(&config.dedup, wait_limit);
        let keeper = Keeper::start(
            client,
            config.dedup.clone(),
            Cluster {
                creates_topics,
                embedded: config.kafka.is_embedded(),
            },
            Arc::clone(&health),
        );
        (Publisher::Kafka(kafka), dedup, Some(keeper))
    };
    let publisher = Arc::new(publisher);
    crate::ops::metrics::capacities(crate::ops::metrics::Capacities {
        dedup_entries: config.dedup.max_entries,
        connections: config.server.max_connections,
        requests_in_flight: config.server.max_requests_in_flight,
        queue_messages: if config.kafka.is_null() {
            0
        } else {
            crate::kafka::publish::producer_config(&config.kafka, bootstrap_servers)
                .get("queue.buffering.max.messages")
                .and_then(|max| max.parse().ok())
                .unwrap_or(0)
        },
    });
    let probe = publisher.watch(Arc::clone(&health), Duration::from_secs(2));
    let sweeper = dedup.spawn_sweeper();
    let queue_sampler = {
        let publisher = Arc::clone(&publisher);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                crate::ops::metrics::kafka_queue(publisher.queued());
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
        sweeper,
        keeper,
    })
}

/// A topic to create and the settings it is created with.
type PlannedTopic = (String, Vec<(&'static str, String)>);

/// `topics` with their settings: a quarantine topic is bounded in time and
/// bytes (`[quarantine]`), event topics take the cluster's defaults.
pub(super) fn planned_topics(
    config: &Config,
    sources: &Sources,
    topics: Vec<String>,
) -> Vec<PlannedTopic> {
    let quarantines = sources.quarantine_topics();
    topics
        .into_iter()
        .map(|topic| {
            let settings = if quarantines.contains(&topic) {
                crate::pipeline::quarantine::topic_settings(&config.quarantine)
            } else {
                Vec::new()
            };
            (topic, settings)
        })
        .collect()
}

/// Creates the sources' missing topics, retrying while Kafka is unreachable.
/// Publishing does not wait for it: an event for a missing topic gets 503.
/// A topic with settings of its own (a quarantine) that already exists is
/// checked, and the log says which of them it lacks.
pub(super) async fn create_topics(
    client: rdkafka::ClientConfig,
    topics: Vec<PlannedTopic>,
    partitions: i32,
    replication_factor: i32,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let specs: Vec<TopicSpec<'_>> = topics
            .iter()
            .map(|(name, configs)| TopicSpec {
                name,
                partitions,
                replication_factor,
                configs,
            })
            .collect();
        let options = kafka::admin_options(Duration::from_secs(10));
        let admin = kafka::admin(&client);
        let created = match &admin {
            Ok(admin) => kafka::create_topics(admin, &specs, &options).await,
            Err(err) => Err(err.clone()),
        };
        match created {
            Ok(states) => {
                for (topic, state) in states {
                    match state {
                        TopicState::Created => {
                            tracing::info!(%topic, partitions, "created the topic");
                        }
                        TopicState::Existed => {
                            let wanted = topics
                                .iter()
                                .find(|(name, _)| *name == topic)
                                .map(|(_, settings)| settings.as_slice())
                                .unwrap_or_default();
                            if let (Ok(admin), false) = (&admin, wanted.is_empty()) {
                                check_quarantine_settings(admin, &topic, wanted, &options).await;
                            }
                        }
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

/// Logs which of `wanted` an existing topic lacks: hookgate leaves a topic it
/// did not create as it is.
async fn check_quarantine_settings(
    admin: &rdkafka::admin::AdminClient<kafka::Logged>,
    topic: &str,
    wanted: &[(&'static str, String)],
    options: &rdkafka::admin::AdminOptions,
) {
    match kafka::topic_configs(admin, topic, options).await {
        Ok(actual) => {
            let differences = kafka::config_differences(wanted, &actual);
            if !differences.is_empty() {
                tracing::warn!(
                    %topic,
                    differences = %differences.join("; "),
                    "the quarantine topic exists with settings other than [quarantine] asks for: it may keep more, or less, than quarantine.retention and quarantine.retention_bytes say"
                );
            }
        }
        Err(why) => {
            tracing::warn!(%topic, %why, "cannot read the quarantine topic's settings");
        }
    }
}

impl Running {
    /// After the server stopped: writes what is still queued for Kafka (events
    /// first, then their dedup records), then stops the reader.
    pub(super) async fn shutdown(self) {
        self.probe.abort();
        self.queue_sampler.abort();
        self.sweeper.abort();
        let Self {
            publisher, keeper, ..
        } = self;
        let flushed =
            tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(5))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!("some events were still queued for Kafka at exit");
        }
        if let Some(keeper) = keeper {
            keeper.stop().await;
        }
    }
}
