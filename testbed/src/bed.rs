//! A test bed: the broker a test publishes to, an event topic of its own on
//! it, and a folder for secrets and certificates; gateways are built from it.

use std::path::Path;
use std::time::Duration;

use hookgate::verify::VerifierKind;

use crate::broker::Broker;
use crate::gateway::GatewayBuilder;
use crate::kafka::Kafka;
use crate::names::topic;
use crate::records::{Record, consume};
use crate::signing::source;

/// Which broker a test bed's gateways publish to.
#[derive(Debug)]
pub enum Brokers {
    /// The run's Apache Kafka ([`crate::shared_kafka!`]).
    SharedKafka(&'static Kafka),
    /// A tansu of the test's own, to kill, restart or freeze.
    OwnTansu(Broker),
    /// The mock cluster each gateway starts inside itself (`embedded`).
    Embedded,
    /// hookgate's publisher that acknowledges without Kafka (`null`).
    Null,
    /// An address the bed makes no topic on: a broker that is not there, or
    /// one that wants a login.
    At(String),
}

/// A broker, an event topic on it (created where the broker is real) and a
/// folder that lives as long as the bed.
#[derive(Debug)]
pub struct Testbed {
    brokers: Brokers,
    /// The test's event topic.
    pub events: String,
    dir: tempfile::TempDir,
}

impl Testbed {
    /// A bed on `brokers` with an event topic named after `test`.
    pub async fn new(brokers: Brokers, test: &str) -> Self {
        let events = topic(test);
        match &brokers {
            Brokers::SharedKafka(kafka) => kafka.create_topic(&events).await,
            Brokers::OwnTansu(tansu) => tansu.create_topic(&events).await,
            Brokers::Embedded | Brokers::Null | Brokers::At(_) => {}
        }
        Self {
            brokers,
            events,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A bed on a tansu of its own.
    pub async fn own_tansu(test: &str) -> Self {
        Self::new(Brokers::OwnTansu(Broker::start().await), test).await
    }

    /// A bed on the run's Apache Kafka.
    pub async fn shared_kafka(kafka: &'static Kafka, test: &str) -> Self {
        Self::new(Brokers::SharedKafka(kafka), test).await
    }

    /// A bed whose gateways find no broker at `address`.
    pub async fn unreachable(address: &str, test: &str) -> Self {
        Self::new(Brokers::At(address.to_owned()), test).await
    }

    /// What the gateways' `[kafka] brokers` says.
    pub fn brokers(&self) -> String {
        match &self.brokers {
            Brokers::SharedKafka(kafka) => kafka.bootstrap(),
            Brokers::OwnTansu(tansu) => tansu.bootstrap(),
            Brokers::Embedded => "embedded".to_owned(),
            Brokers::Null => "null".to_owned(),
            Brokers::At(address) => address.clone(),
        }
    }

    /// The address of the bed's real broker.
    pub fn bootstrap(&self) -> String {
        match &self.brokers {
            Brokers::SharedKafka(_) | Brokers::OwnTansu(_) => self.brokers(),
            other => panic!("a bed on {other:?} has no broker of its own to reach"),
        }
    }

    /// The bed's own tansu.
    pub fn tansu(&self) -> &Broker {
        match &self.brokers {
            Brokers::OwnTansu(tansu) => tansu,
            other => panic!("the bed runs on {other:?}, not a tansu of its own"),
        }
    }

    /// The bed's own tansu, to kill or restart.
    pub fn tansu_mut(&mut self) -> &mut Broker {
        match &mut self.brokers {
            Brokers::OwnTansu(tansu) => tansu,
            other => panic!("the bed runs on {other:?}, not a tansu of its own"),
        }
    }

    /// The shared Apache Kafka the bed runs on.
    pub fn kafka(&self) -> &'static Kafka {
        match &self.brokers {
            Brokers::SharedKafka(kafka) => kafka,
            other => panic!("the bed runs on {other:?}, not the shared Apache Kafka"),
        }
    }

    pub async fn create_topic(&self, topic: &str) {
        crate::broker::create_topic(&self.bootstrap(), topic, 1, &[]).await;
    }

    /// The folder for the test's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A `[[sources]]` entry of `kind` at `/webhooks/NAME` on the bed's
    /// event topic, its secret in the bed's folder.
    pub fn source(&self, name: &str, kind: VerifierKind) -> String {
        source(self.dir(), name, kind, &self.events)
    }

    /// A gateway on the bed's broker, sources still to add.
    pub fn gateway(&self) -> GatewayBuilder {
        GatewayBuilder::new(self.brokers())
    }

    /// A gateway on the bed's broker serving one source, [`Testbed::source`].
    pub fn gateway_for(&self, name: &str, kind: VerifierKind) -> GatewayBuilder {
        self.gateway().sources(&self.source(name, kind))
    }

    /// What a consumer team reads from the event topic: at least `expected`
    /// records, and whatever follows within `linger`.
    pub async fn published(&self, expected: usize, linger: Duration) -> Vec<Record> {
        consume(&self.bootstrap(), &self.events, expected, linger).await
    }
}
