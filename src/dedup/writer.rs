//! Writes each committed id's record to the dedup topic, off the request path.
//!
//! A record is handed to librdkafka's queue and the request goes on: the 2xx
//! waits for the event's own acknowledgement, never for this one. librdkafka
//! batches the records (`linger.ms`) and retries them; a record that still
//! fails is counted and logged, and only costs the other replicas (and the
//! next start-up) that one id.
//!
//! No idempotence here: the records are keyed and compacted, so a record
//! written twice is harmless, and a plain producer never gets fenced.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;

use crate::metrics;
use crate::throttle::Throttle;

/// The dedup topic's producer.
pub struct Writer {
    producer: ThreadedProducer<Reports>,
    topic: String,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// `client` holds the cluster's address and the shared client settings;
    /// `linger` is how long records gather into one batch.
    pub fn new(
        mut client: ClientConfig,
        topic: &str,
        linger: Duration,
    ) -> Result<Self, KafkaError> {
        client
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("compression.type", "lz4")
            // Large batches: a record per request would cost the gateway and
            // the broker more than the event itself, and slow the events'
            // acknowledgements. Other replicas still learn the id well within
            // a provider's retry delay.
            .set("linger.ms", linger.as_millis().to_string())
            .set("message.timeout.ms", "60000")
            .set("queue.buffering.max.messages", "1000000");
        Ok(Self {
            producer: client.create_with_context(Reports::default())?,
            topic: topic.to_owned(),
        })
    }

    /// Queues one record; never blocks.
    pub(crate) fn write(&self, key: &[u8], value: &[u8]) {
        let record = BaseRecord::<[u8], [u8]>::to(&self.topic)
            .key(key)
            .payload(value);
        if let Err((err, _record)) = self.producer.send(record) {
            self.producer.context().failed(&err);
        }
    }

    /// Waits up to `timeout` for queued records to be written.
    pub(crate) fn flush(&self, timeout: Duration) {
        if let Err(err) = self.producer.flush(Timeout::After(timeout)) {
            tracing::warn!(error = %err, topic = %self.topic, "some dedup records were not written before exit");
        }
    }
}

/// Counts each record's outcome; logs failures at most every few seconds, as
/// a Kafka outage fails them by the thousand.
#[derive(Debug, Default)]
struct Reports {
    writes: metrics::DedupWrites,
    log: Throttle,
    client_errors: Throttle,
}

impl Reports {
    fn failed(&self, err: &KafkaError) {
        self.writes.failed.increment(1);
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(
                error = %err,
                suppressed,
                "a dedup record was not written: other replicas and the next start-up will not know that id"
            );
        }
    }
}

impl ClientContext for Reports {
    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::log_client_error(&self.client_errors, &error, reason);
    }

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log_client_message(&self.client_errors, level, facility, message);
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => self.writes.ok.increment(1),
            Err((err, _message)) => self.failed(err),
        }
    }
}
