//! Reading a topic for hookgate's tools (`tail`, `forward`, `redrive`): every
//! partition, from a starting point, up to the end or on as records arrive,
//! with no consumer group and nothing committed.
//!
//! A starting time is applied to each record's timestamp as it is read, from
//! the beginning of the topic, rather than asked of the broker
//! (`ListOffsets` by time): a broker that answered it wrongly would skip
//! records without a word. Quarantine topics are small; for a large event
//! topic start at an offset instead.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage, Timestamp};
use rdkafka::{ClientConfig, Offset};

use crate::kafka::{self, Logged};

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    /// Only records that arrive from now on.
    End,
    /// Records with a timestamp at or after this time.
    Time(SystemTime),
    /// This offset of every partition.
    Offset(i64),
}

impl FromStr for Start {
    type Err = String;

    /// `beginning`, `end` (or `now`), `offset:N`, an RFC 3339 time, or a
    /// duration ago (`2h`).
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "beginning" => return Ok(Self::Beginning),
            "end" | "now" => return Ok(Self::End),
            _ => {}
        }
        if let Some(offset) = text.strip_prefix("offset:") {
            return offset
                .parse::<i64>()
                .ok()
                .filter(|offset| *offset >= 0)
                .map(Self::Offset)
                .ok_or_else(|| format!("{text:?}: offset:N takes a whole number from 0"));
        }
        if let Ok(time) = humantime::parse_rfc3339_weak(text) {
            return Ok(Self::Time(time));
        }
        if let Ok(ago) = humantime::parse_duration(text) {
            return Ok(Self::Time(SystemTime::now() - ago));
        }
        Err(format!(
            "{text:?} is not a starting point: beginning, end, offset:N, a time (2026-11-30T12:00:00Z) or a duration ago (2h)"
        ))
    }
}

/// Why a topic cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error("topic {0} does not exist")]
    NoTopic(String),
}

impl From<KafkaError> for ReadError {
    fn from(err: KafkaError) -> Self {
        Self::Kafka(kafka::redacted(&err))
    }
}

/// Records of one topic, in each partition's order.
pub struct TopicReader {
    consumer: BaseConsumer<Logged>,
    topic: String,
    partitions: usize,
    at_end: HashSet<i32>,
    follow: bool,
    since: Option<SystemTime>,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicReader")
            .field("topic", &self.topic)
            .field("follow", &self.follow)
            .finish_non_exhaustive()
    }
}

impl TopicReader {
    /// Reads `topic` with `client` (bootstrap servers and security set) from
    /// `start`; to the end of every partition, or on when `follow`.
    pub fn open(
        mut client: ClientConfig,
        topic: &str,
        start: Start,
        follow: bool,
    ) -> Result<Self, ReadError> {
        let consumer: BaseConsumer<Logged> = client
            .set("group.id", "hookgate.tools")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "100")
            .create_with_context(Logged::default())?;
        let partitions = kafka::partitions(&consumer, topic, Duration::from_secs(10))?;
        if partitions.is_empty() {
            return Err(ReadError::NoTopic(topic.to_owned()));
        }
        let (offset, since) = match start {
            Start::Beginning => (Offset::Beginning, None),
            Start::End => (Offset::End, None),
            Start::Time(since) => (Offset::Beginning, Some(since)),
            Start::Offset(offset) => (Offset::Offset(offset), None),
        };
        kafka::assign_all(&consumer, topic, &partitions, offset)?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            partitions: partitions.len(),
            at_end: HashSet::new(),
            follow,
            since,
        })
    }

    /// The next record; `None` once every partition is read to its end
    /// (never, when following).
    pub fn next_record(&mut self) -> Option<OwnedMessage> {
        loop {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    self.at_end.remove(&message.partition());
                    if self.since.is_some_and(|since| before(&message, since)) {
                        continue;
                    }
                    return Some(message.detach());
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    self.at_end.insert(partition);
                    if !self.follow && self.at_end.len() == self.partitions {
                        return None;
                    }
                }
                Some(Err(err)) => tracing::warn!(error = %err, "reading {}", self.topic),
                None => {}
            }
        }
    }
}

/// Whether a record was written before `since`.
fn before(message: &impl Message, since: SystemTime) -> bool {
    let millis = match message.timestamp() {
        Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => ms,
        Timestamp::NotAvailable => return false,
    };
    crate::ops::clock::unix_millis(since) > millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_points_are_read_as_written() {
        assert_eq!("beginning".parse(), Ok(Start::Beginning));
        assert_eq!("now".parse(), Ok(Start::End));
        assert_eq!("offset:42".parse(), Ok(Start::Offset(42)));
        assert_eq!(
            "2026-11-30T12:00:00Z".parse(),
            Ok(Start::Time(
                humantime::parse_rfc3339("2026-11-30T12:00:00Z").expect("time")
            ))
        );
        let Ok(Start::Time(ago)) = "2h".parse::<Start>() else {
            panic!("a duration ago");
        };
        let age = SystemTime::now().duration_since(ago).expect("in the past");
        assert!(age >= Duration::from_secs(7199) && age < Duration::from_secs(7300));
        for bad in ["offset:-1", "yesterday", ""] {
            assert!(bad.parse::<Start>().is_err(), "{bad}");
        }
    }
}
