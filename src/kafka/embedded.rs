//! The embedded default: librdkafka's in-process mock cluster, so hookgate runs
//! with nothing else installed. In memory only: for trying hookgate out, never
//! for events anyone needs.

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::config::DedupConfig;

/// A running mock cluster; it stops when dropped.
pub(crate) struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl std::fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap_servers", &self.cluster.bootstrap_servers())
            .finish()
    }
}

impl EmbeddedKafka {
    /// Starts a one-broker cluster on a free 127.0.0.1 port with the event
    /// `topics` and the dedup topic created.
    pub(crate) fn start(topics: &[String], dedup: &DedupConfig) -> Result<Self, KafkaError> {
        let cluster = MockCluster::new(1)?;
        for topic in topics {
            cluster.create_topic(topic, 1, 1)?;
        }
        cluster.create_topic(&dedup.topic, dedup.partitions, 1)?;
        cluster.create_topic(&dedup.intake_topic, dedup.partitions, 1)?;
        Ok(Self { cluster })
    }

    /// The address Kafka clients (such as a consumer watching the topics) connect to.
    pub(crate) fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
