//! Publishing, the fourth stage: the idempotent `acks=all` producer, the record
//! (body untouched, metadata as headers), and Kafka's errors sorted into what a
//! provider should be told.
//!
//! An idempotent producer can end up fenced or in a fatal state (a broker that
//! lost its producer state, a refused epoch bump after a timeout): it then fails
//! every record until it is replaced. The publisher replaces it as soon as one
//! record reports such an error, or when records keep timing out although the
//! cluster answers (librdkafka may retry a lost producer id internally and only
//! ever report timeouts), so hookgate recovers without a restart.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use crate::config::KafkaConfig;
use crate::kafka::{LastError, Logged};
use crate::ops::health::Health;
use crate::pipeline::event::Event;
use tokio::task::JoinHandle;

/// Where Kafka stored an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// Why an event is not in Kafka. Each leaves the event unpublished as far as
/// hookgate can tell, so the dedup claim is released and the provider retries.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the producer queue is full")]
    QueueFull,
    #[error("Kafka did not acknowledge the event within the produce timeout")]
    TimedOut,
    #[error("the record is larger than the broker or topic accepts")]
    TooLarge,
    #[error("topic {0} does not exist on the cluster")]
    UnknownTopic(String),
    #[error("Kafka refused the event: {0}")]
    Kafka(KafkaError),
}

/// The current event producer: a replacement (made when the last one could
/// no longer produce) is seen by every request at once.
struct SharedProducer(ArcSwap<FutureProducer<Logged>>);

impl SharedProducer {
    /// The producer in use now.
    fn current(&self) -> Arc<FutureProducer<Logged>> {
        self.0.load_full()
    }
}

impl std::fmt::Debug for SharedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedProducer").finish_non_exhaustive()
    }
}

/// The Kafka producer every request shares.
pub struct KafkaPublisher {
    producer: SharedProducer,
    /// To build a replacement with the same settings.
    client_config: ClientConfig,
    /// Held while replacing, so concurrent failures replace the producer once.
    replacing: Mutex<()>,
    /// Deliveries timed out since the last success.
    timeouts_in_a_row: AtomicU32,
    /// A request is asking the cluster whether the producer is stuck: the
    /// others that time out meanwhile need not ask too.
    checking_cluster: AtomicBool,
    produce_timeout: Duration,
    /// The producer's latest client error, kept across replacements.
    last_error: Arc<LastError>,
}

/// Timeouts in a row after which the producer is suspected of being stuck.
const STUCK_AFTER_TIMEOUTS: u32 = 3;

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("produce_timeout", &self.produce_timeout)
            .finish_non_exhaustive()
    }
}

/// The record's headers: hookgate's own, the CloudEvents binding's, or both
/// (the source's `headers`); trace context; the content type and the
/// provider headers the source forwards.
fn record_headers(event: &Event) -> OwnedHeaders {
    let source = event.source();
    let style = source.headers;
    let received_at = humantime::format_rfc3339_millis(event.received_at).to_string();
    let traceparent = event.trace.header_value();
    let tracestate = crate::pipeline::trace::tracestate(&event.trace, &event.headers);
    let mut headers = OwnedHeaders::new_with_capacity(12 + source.forward_headers.len());
    if style.hookgate() {
        headers = headers
            .insert(header("hookgate-source", source.name.as_str().as_bytes()))
            .insert(header("hookgate-event-id", event.id().as_str().as_bytes()))
            .insert(header("hookgate-received-at", received_at.as_bytes()));
        if let Some(event_type) = event.event_type() {
            headers = headers.insert(header("hookgate-event-type", event_type.as_bytes()));
        }
    }
    if style.cloudevents() {
        // The CloudEvents Kafka protocol binding, binary mode: the value is
        // the event's data as received, its attributes are `ce_` headers.
        let event_type = match event.event_type() {
            Some(routed) => Some(Box::<str>::from(routed)),
            None => source
                .event_type
                .as_ref()
                .and_then(|place| place.extract(&event.headers, event.body()).ok())
                .map(|found| Box::<str>::from(found.as_str())),
        };
        let ce_source = format!(
            "urn:hookgate:{}:{}",
            source.kind.name(),
            source.name.as_str()
        );
        headers = headers
            .insert(header("ce_specversion", b"1.0"))
            .insert(header("ce_id", event.id().as_str().as_bytes()))
            .insert(header("ce_source", ce_source.as_bytes()))
            // A provider that names no type: its scheme's name stands for it.
            .insert(header(
                "ce_type",
                event_type
                    .as_deref()
                    .unwrap_or(source.kind.name())
                    .as_bytes(),
            ))
            .insert(header("ce_time", received_at.as_bytes()))
            .insert(header("ce_traceparent", &traceparent));
        if let Some(state) = &tracestate {
            headers = headers.insert(header("ce_tracestate", state));
        }
    }
    headers = headers.insert(header("traceparent", &traceparent));
    if let Some(state) = &tracestate {
        headers = headers.insert(header("tracestate", state));
    }
    if let Some(content_type) = event.headers.get(http::header::CONTENT_TYPE) {
        headers = headers.insert(header("content-type", content_type.as_bytes()));
    }
    for name in &source.forward_headers {
        if let Some(value) = event.headers.get(name) {
            headers = headers.insert(header(name.as_str(), value.as_bytes()));
        }
    }
    headers
}

impl KafkaPublisher {
    /// Creates the producer. librdkafka connects lazily, so this succeeds while
    /// the brokers are down; requests are then answered 503 until they are back.
    pub fn new(config: &KafkaConfig, bootstrap_servers: &str) -> Result<Self, KafkaError> {
        let client_config = producer_config(config, bootstrap_servers);
        let last_error = Arc::new(LastError::default());
        let producer = client_config.create_with_context(producer_context(&last_error))?;
        Ok(Self {
            producer: SharedProducer(ArcSwap::from_pointee(producer)),
            client_config,
            replacing: Mutex::new(()),
            timeouts_in_a_row: AtomicU32::new(0),
            checking_cluster: AtomicBool::new(false),
            produce_timeout: config.produce_timeout(),
            last_error,
        })
    }

    /// Publishes one event to `destination` and waits for Kafka's
    /// acknowledgement.
    pub async fn publish(
        &self,
        event: &Event,
        destination: &Destination<'_>,
    ) -> Result<Delivery, PublishError> {
        let started = Instant::now();
        let source = event.source();
        let headers = record_headers(event);
        let timestamp = crate::ops::clock::unix_millis(event.received_at);
        let mut headers = headers;
        let (topic, partition) = match destination {
            Destination::Events => (event.topic(), None),
            Destination::Intake {
                topic,
                partitions,
                keys,
            } => {
                headers = crate::dedup::intake::with_intake_headers(
                    headers,
                    source.name.as_str(),
                    event.topic(),
                    keys,
                );
                (*topic, Some(keys.partition(*partitions)))
            }
        };
        let mut record = FutureRecord::<[u8], [u8]>::to(topic)
            .payload(event.body())
            .headers(headers)
            .timestamp(timestamp);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(key) = event.key() {
            record = record.key(key);
        }

        // Never wait for room in a full queue: answering 503 at once is the
        // back-pressure providers understand.
        let producer = self.producer.current();
        let delivery = match producer.send_result(record) {
            Ok(delivery) => delivery,
            Err((err, _record)) => return Err(self.failed(&producer, err, topic)),
        };
        // librdkafka reports every message by message.timeout.ms; the outer
        // timeout only guards against a report that never comes.
        let outcome =
            tokio::time::timeout(self.produce_timeout + Duration::from_secs(1), delivery).await;
        let result = match outcome {
            Ok(Ok(Ok(delivery))) => Ok(Delivery {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Ok(Err((err, _message)))) => Err(self.failed(&producer, err, topic)),
            Ok(Err(_canceled)) => Err(PublishError::Kafka(KafkaError::Canceled)),
            Err(_elapsed) => Err(PublishError::TimedOut),
        };
        match &result {
            Ok(_) => {
                self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                source.metrics.produced(started.elapsed());
            }
            Err(PublishError::TimedOut) => {
                let in_a_row = self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
                if in_a_row >= STUCK_AFTER_TIMEOUTS && self.cluster_answers(&producer).await {
                    self.replace(
                        &producer,
                        format!(
                            "{in_a_row} deliveries in a row timed out while the cluster answers"
                        ),
                    );
                }
            }
            Err(_) => {}
        }
        result
    }

    /// Classifies a failure, replacing the producer if it can no longer produce.
    fn failed(
        &self,
        producer: &Arc<FutureProducer<Logged>>,
        err: KafkaError,
        topic: &str,
    ) -> PublishError {
        let fatal = producer.client().fatal_error();
        if fatal.is_some() || needs_new_producer(&err) {
            self.replace(
                producer,
                fatal.map_or_else(|| err.to_string(), |(_, reason)| reason),
            );
        }
        classify(err, topic)
    }

    /// Whether `producer`'s own client gets metadata from a broker: if so, its
    /// timeouts are the producer's fault, not the cluster's. One request asks
    /// at a time (on a blocking thread); the others count as not knowing.
    async fn cluster_answers(&self, producer: &Arc<FutureProducer<Logged>>) -> bool {
        if self.checking_cluster.swap(true, Ordering::AcqRel) {
            return false;
        }
        let producer = Arc::clone(producer);
        let answers = tokio::task::spawn_blocking(move || {
            metadata_answered(&producer, Duration::from_secs(1)).is_ok()
        })
        .await
        .unwrap_or(false);
        self.checking_cluster.store(false, Ordering::Release);
        answers
    }

    fn replace(&self, broken: &Arc<FutureProducer<Logged>>, why: String) {
        // One replacement at a time; a request that finds one under way
        // leaves it to that one rather than block an async worker on it.
        let Ok(_one_at_a_time) = self.replacing.try_lock() else {
            return;
        };
        if !Arc::ptr_eq(&self.producer.0.load(), broken) {
            return; // another request already replaced it
        }
        match self
            .client_config
            .create_with_context::<_, FutureProducer<Logged>>(producer_context(&self.last_error))
        {
            Ok(fresh) => {
                let old = self.producer.0.swap(Arc::new(fresh));
                self.timeouts_in_a_row.store(0, Ordering::Relaxed);
                crate::ops::metrics::producer_replaced();
                tracing::warn!(reason = %why, "the Kafka producer could no longer produce; replaced it with a new one");
                // Dropping a producer joins its threads: do it off the async
                // workers, once the records it still holds have been reported.
                let linger = self.produce_timeout + Duration::from_secs(2);
                tokio::task::spawn_blocking(move || {
                    std::thread::sleep(linger);
                    drop(old);
                });
            }
            Err(err) => tracing::error!(
                error = %crate::kafka::redacted(&err),
                "cannot create a replacement Kafka producer"
            ),
        }
    }

    /// Waits up to `timeout` for queued records to be delivered, at shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.current().flush(Timeout::After(timeout))
    }

    /// Records queued in the producer: not yet sent, or sent and not yet acknowledged.
    pub fn queued(&self) -> i32 {
        self.producer.current().in_flight_count()
    }

    /// The latest error the producer's client reported (a refused
    /// certificate, a failed login, a refused connection).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.get()
    }

    /// Asks the cluster for its metadata: `Ok` if a broker answered within `timeout`.
    /// Blocks the calling thread.
    pub fn probe(&self, timeout: Duration) -> Result<(), KafkaError> {
        metadata_answered(&self.producer.current(), timeout)
    }
}

/// Whether a broker gave `producer`'s client the cluster's metadata within
/// `timeout`. Blocks the calling thread.
fn metadata_answered(
    producer: &FutureProducer<Logged>,
    timeout: Duration,
) -> Result<(), KafkaError> {
    producer.client().fetch_metadata(None, timeout).map(|_| ())
}

/// Where a publication goes.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// The event's own topic.
    Events,
    /// The intake topic, to the partition of its dedup keys: the dedup
    /// stage publishes it to its topic once.
    Intake {
        topic: &'a str,
        partitions: i32,
        keys: crate::dedup::intake::DedupKeys,
    },
}

/// Where accepted events go.
#[derive(Debug)]
pub enum Publisher {
    Kafka(KafkaPublisher),
    /// Acknowledges every event at once and keeps nothing (`kafka.brokers =
    /// "null"`): for measuring hookgate without Kafka, never for real traffic.
    Null(NullPublisher),
}

/// Counts events instead of publishing them.
#[derive(Debug, Default)]
pub struct NullPublisher {
    next_offset: std::sync::atomic::AtomicI64,
}

impl Publisher {
    /// Hands a record to the producer without waiting for Kafka, for
    /// records no answer depends on (the quarantine); its delivery report,
    /// or `None` from the null publisher, which keeps nothing.
    pub fn enqueue(
        &self,
        record: FutureRecord<'_, [u8], [u8]>,
    ) -> Result<Option<DeliveryFuture>, KafkaError> {
        match self {
            Self::Kafka(kafka) => kafka
                .producer
                .current()
                .send_result(record)
                .map(Some)
                .map_err(|(err, _record)| err),
            Self::Null(_) => Ok(None),
        }
    }

    /// The publisher that keeps nothing.
    pub fn null() -> Self {
        Self::Null(NullPublisher::default())
    }

    /// Asks the cluster for metadata every `every`, off the async threads
    /// (the call blocks), and records in `health` whether it answered.
    pub fn watch(self: &Arc<Self>, health: Arc<Health>, every: Duration) -> JoinHandle<()> {
        let publisher = Arc::clone(self);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let probe = Arc::clone(&publisher);
                let reachable = tokio::task::spawn_blocking(move || probe.probe(every).is_ok())
                    .await
                    .unwrap_or(false);
                let why = if reachable {
                    None
                } else {
                    publisher.last_error()
                };
                health.record_probe(reachable, why, std::mem::take(&mut first));
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Publishes one event and waits for its acknowledgement.
    pub async fn publish(
        &self,
        event: &Event,
        destination: &Destination<'_>,
    ) -> Result<Delivery, PublishError> {
        match self {
            Self::Kafka(kafka) => kafka.publish(event, destination).await,
            // No produce latency is recorded: there was no produce.
            Self::Null(null) => Ok(Delivery {
                partition: 0,
                offset: null.next_offset.fetch_add(1, Ordering::Relaxed),
            }),
        }
    }

    /// Waits up to `timeout` for queued records to be delivered, at shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        match self {
            Self::Kafka(kafka) => kafka.flush(timeout),
            Self::Null(_) => Ok(()),
        }
    }

    /// Records waiting to be sent or acknowledged.
    pub fn queued(&self) -> i32 {
        match self {
            Self::Kafka(kafka) => kafka.queued(),
            Self::Null(_) => 0,
        }
    }

    /// The latest Kafka client error, if any.
    pub fn last_error(&self) -> Option<String> {
        match self {
            Self::Kafka(kafka) => kafka.last_error(),
            Self::Null(_) => None,
        }
    }

    /// `Ok` if a broker answered within `timeout`. Blocks the calling thread.
    pub fn probe(&self, timeout: Duration) -> Result<(), KafkaError> {
        match self {
            Self::Kafka(kafka) => kafka.probe(timeout),
            Self::Null(_) => Ok(()),
        }
    }
}

fn header<'a>(key: &'a str, value: &'a [u8]) -> Header<'a, &'a [u8]> {
    Header {
        key,
        value: Some(value),
    }
}

/// The producer's settings. Those hookgate's guarantees rest on are set last so
/// nothing passed through can weaken them (config validation refuses them too).
/// The event producer's context: its errors logged and kept for `/readyz`,
/// its statistics reported as metrics.
fn producer_context(last_error: &Arc<LastError>) -> Logged {
    Logged::recording(Arc::clone(last_error)).reporting_statistics()
}

pub fn producer_config(config: &KafkaConfig, bootstrap_servers: &str) -> ClientConfig {
    let mut client = crate::kafka::client_config(config, bootstrap_servers);
    if client.get("statistics.interval.ms").is_none() {
        client.set(
            "statistics.interval.ms",
            crate::kafka::statistics::DEFAULT_INTERVAL_MS,
        );
    }
    client
        .set("compression.type", "lz4")
        .set("linger.ms", "2")
        .set("queue.buffering.max.messages", "100000");
    for (key, value) in &config.producer {
        client.set(key, value);
    }
    client
        .set("bootstrap.servers", bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            config.produce_timeout().as_millis().to_string(),
        );
    client
}

/// Errors after which this producer instance will fail every record: its
/// producer id was fenced, forgotten or refused.
fn needs_new_producer(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
        )
    )
}

fn classify(err: KafkaError, topic: &str) -> PublishError {
    match err.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
        Some(RDKafkaErrorCode::MessageTimedOut) => PublishError::TimedOut,
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => PublishError::TooLarge,
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            PublishError::UnknownTopic(topic.to_owned())
        }
        _ => PublishError::Kafka(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(producer: &[(&str, &str)]) -> KafkaConfig {
        let text = format!(
            "brokers = \"b:9092\"\nproduce_timeout = \"1500ms\"\n[producer]\n{}",
            producer
                .iter()
                .map(|(k, v)| format!("\"{k}\" = \"{v}\"\n"))
                .collect::<String>()
        );
        toml::from_str(&text).expect("kafka config")
    }

    #[test]
    fn guarantees_cannot_be_weakened_by_pass_through_properties() {
        let config = producer_config(&kafka(&[("acks", "1"), ("linger.ms", "20")]), "b:9092");
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("message.timeout.ms"), Some("1500"));
        assert_eq!(config.get("linger.ms"), Some("20"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }

    #[test]
    fn kafka_errors_become_provider_answers() {
        let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert!(matches!(classify(full, "t"), PublishError::QueueFull));
        let late = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert!(matches!(classify(late, "t"), PublishError::TimedOut));
        let unknown = KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(matches!(classify(unknown, "t"), PublishError::UnknownTopic(t) if t == "t"));
        let fenced = KafkaError::MessageProduction(RDKafkaErrorCode::InvalidProducerEpoch);
        assert!(needs_new_producer(&fenced));
        assert!(!needs_new_producer(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut
        )));
    }
}
