//! What reaches Kafka, read as a downstream consumer reads it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset};

/// A record as a downstream consumer sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, Vec<u8>>,
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived, then keeps
/// polling for `linger` so that records beyond those are seen too.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    linger: Duration,
) -> Vec<Record> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("it-{topic}"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .expect("consumer");
        let partitions = hookgate::kafka::partitions(&consumer, &topic, Duration::from_secs(5))
            .expect("metadata");
        hookgate::kafka::assign_all(&consumer, &topic, &partitions, Offset::Beginning)
            .expect("assign");
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut linger_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if records.len() >= expected && linger_until.is_none() {
                linger_until = Some(now + linger);
            }
            if linger_until.is_some_and(|until| now >= until) || now >= deadline {
                break;
            }
            if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                let message = message.expect("consumer error");
                let headers = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
        records
    })
    .await
    .expect("consumer thread")
}
