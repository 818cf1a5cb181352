//! The ledger: after a run, reads the topic back and proves that every event
//! answered 2xx is in Kafka exactly once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset};

/// What the topic holds compared with what the gateway answered.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) records: u64,
    /// Accepted, but not in Kafka: lost events. Any is a failure.
    pub(crate) missing: u64,
    /// In Kafka more than once.
    pub(crate) duplicated: u64,
    /// In Kafka, but never answered 2xx: a 503 whose record Kafka kept anyway
    /// (the provider's retry then gets `duplicate`), or a foreign record.
    pub(crate) extra: u64,
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger     {} records  missing {}  duplicated {}  extra {}",
            self.records, self.missing, self.duplicated, self.extra
        )
    }
}

/// Reads every partition of `topic` to its end and compares the record keys
/// with the ids the run saw accepted and answered.
pub(crate) fn check(
    brokers: &str,
    topic: &str,
    accepted: &[String],
    answered: &HashSet<String>,
) -> Result<Ledger, KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "hookgate-load-ledger")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "10")
        .set("queued.min.messages", "1000000")
        .create()?;
    let partitions = hookgate::kafka::partitions(&consumer, topic, Duration::from_secs(10))?;
    hookgate::kafka::assign_all(&consumer, topic, &partitions, Offset::Beginning)?;

    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut at_end = HashSet::new();
    let mut records = 0;
    // Reported high watermarks can lag: keep reading until every partition
    // said end-of-partition and a quiet second passed.
    let mut quiet_since = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                at_end.remove(&message.partition());
                let key = message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                *counts.entry(key).or_default() += 1;
                quiet_since = Instant::now();
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(err)) => return Err(err),
            None => {}
        }
        if at_end.len() == partitions.len() && quiet_since.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let accepted_set: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    Ok(Ledger {
        records,
        missing: accepted_set
            .iter()
            .filter(|id| !counts.contains_key(**id))
            .count() as u64,
        duplicated: counts.values().filter(|&&n| n > 1).count() as u64,
        extra: counts.keys().filter(|key| !answered.contains(*key)).count() as u64,
    })
}
