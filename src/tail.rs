//! `hookgate tail`: prints what downstream teams receive (key, headers,
//! body) from a topic, from its end or its beginning, following it or not, so
//! nobody needs kcat to see hookgate's output.

use std::io::Write;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientConfig, Offset};

use crate::kafka::{self, Logged};

/// What to read.
#[derive(Debug, Clone)]
pub struct TailRequest {
    pub brokers: String,
    pub topic: String,
    pub from_beginning: bool,
    /// Keep waiting for new records; else stop at the end of every partition.
    pub follow: bool,
    /// Stop after this many records.
    pub max: Option<u64>,
}

/// Why the topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("Kafka: {0}")]
    Kafka(KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
}

/// Reads the topic, writing each record to `out`; returns how many.
pub fn tail(request: &TailRequest, out: &mut impl Write) -> Result<u64, TailError> {
    let consumer: BaseConsumer<Logged> = ClientConfig::new()
        .set("bootstrap.servers", &request.brokers)
        .set("group.id", "hookgate.tail")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .create_with_context(Logged::default())
        .map_err(TailError::Kafka)?;
    let partitions = kafka::partitions(&consumer, &request.topic, Duration::from_secs(10))
        .map_err(TailError::Kafka)?;
    if partitions.is_empty() {
        return Err(TailError::NoTopic(request.topic.clone()));
    }
    let start = if request.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    kafka::assign_all(&consumer, &request.topic, &partitions, start).map_err(TailError::Kafka)?;

    let mut at_end = std::collections::HashSet::new();
    let mut printed = 0;
    while request.max.is_none_or(|max| printed < max) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                at_end.remove(&message.partition());
                print(&message, out)?;
                printed += 1;
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
                if !request.follow && at_end.len() == partitions.len() {
                    break;
                }
            }
            Some(Err(err)) => tracing::warn!(error = %err, "reading {}", request.topic),
            None => {}
        }
    }
    Ok(printed)
}

fn print(message: &BorrowedMessage<'_>, out: &mut impl Write) -> std::io::Result<()> {
    let text = |bytes: Option<&[u8]>| {
        bytes.map_or_else(
            || "(none)".to_owned(),
            |b| String::from_utf8_lossy(b).into_owned(),
        )
    };
    writeln!(
        out,
        "--- {} partition {} offset {}  key: {}",
        message.topic(),
        message.partition(),
        message.offset(),
        text(message.key())
    )?;
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            writeln!(out, "{}: {}", header.key, text(header.value))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", text(message.payload()))?;
    out.flush()
}
