//! Makes committed ids durable on the dedup topic, many at a time: group commit.
//!
//! Each committed id joins a queue. One task takes everything queued, writes
//! it as one record (see [`record`](super::record)) and, once Kafka has
//! acknowledged that record (`acks=all`), wakes every request waiting on one
//! of its ids. At most [`FLUSHES_IN_FLIGHT`] records are unacknowledged at a
//! time: while they are, ids gather for the next one, so a record carries one
//! id when traffic is light and hundreds when it is heavy, and the cost of the
//! dedup topic (producing, storing, replaying, following) grows with flushes,
//! not with events.
//!
//! The same producer writes each start-up's replay markers (see
//! [`reader`](super::reader)). No idempotence: every record has a key of its
//! own and a record written twice is harmless, and a plain producer is never
//! fenced.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::IdHash;
use super::record::{self, MAX_IDS_PER_RECORD, WriterId};
use crate::metrics;
use crate::throttle::Throttle;

/// Records written and not yet acknowledged, at most. Two keeps a flush
/// always under way without splitting a burst of ids over many small records.
pub const FLUSHES_IN_FLIGHT: usize = 2;

/// Why an id could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("Kafka did not acknowledge the dedup record: {0}")]
    NotWritten(KafkaError),
    #[error("the dedup record was not acknowledged in time")]
    TimedOut,
    #[error("the dedup journal has stopped")]
    Stopped,
}

/// The dedup topic's writer.
pub struct Journal {
    queue: mpsc::UnboundedSender<Queued>,
    producer: Arc<ThreadedProducer<Reports>>,
    topic: String,
    writer: WriterId,
    /// How long a waiter waits for its record's acknowledgement.
    ack_timeout: Duration,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("topic", &self.topic)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// What the group-commit task takes from the queue.
enum Queued {
    Id {
        id: IdHash,
        first_seen: u32,
        /// Absent when nobody waits (`dedup.durability = "async"`).
        done: Option<oneshot::Sender<Result<(), JournalError>>>,
    },
    /// Write what is queued now and say so: for shutdown.
    Barrier(oneshot::Sender<()>),
}

/// What a delivery report hands back to whoever wrote the record.
enum Opaque {
    Flush {
        ids: usize,
        waiters: Vec<oneshot::Sender<Result<(), JournalError>>>,
        _slot: OwnedSemaphorePermit,
    },
    Marker(oneshot::Sender<Result<i64, KafkaError>>),
}

impl Journal {
    /// Creates the producer and starts the group-commit task (call within the
    /// tokio runtime). `linger` is the producer's `linger.ms`; `ack_timeout`
    /// bounds how long a record may take to be acknowledged.
    pub fn start(
        mut client: ClientConfig,
        topic: &str,
        linger: Duration,
        ack_timeout: Duration,
    ) -> Result<Self, KafkaError> {
        client
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("compression.type", "lz4")
            .set("linger.ms", linger.as_millis().to_string())
            .set(
                "message.timeout.ms",
                ack_timeout.as_millis().max(1).to_string(),
            );
        let producer = Arc::new(client.create_with_context(Reports::default())?);
        let (queue, queued) = mpsc::unbounded_channel();
        let writer = WriterId::random();
        tokio::spawn(group_commit(
            queued,
            Arc::clone(&producer),
            topic.to_owned(),
            writer,
        ));
        Ok(Self {
            queue,
            producer,
            topic: topic.to_owned(),
            writer,
            ack_timeout,
        })
    }

    /// Who this replica's records are from.
    pub fn writer(&self) -> WriterId {
        self.writer
    }

    /// Makes `id` durable; resolves once Kafka acknowledged the record that
    /// carries it.
    pub async fn append(&self, id: IdHash, first_seen: u32) -> Result<(), JournalError> {
        let (done, acknowledged) = oneshot::channel();
        self.queue
            .send(Queued::Id {
                id,
                first_seen,
                done: Some(done),
            })
            .map_err(|_| JournalError::Stopped)?;
        // The producer reports every record within its message timeout; the
        // margin only guards against a report that never comes.
        match tokio::time::timeout(self.ack_timeout + Duration::from_secs(1), acknowledged).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_dropped)) => Err(JournalError::Stopped),
            Err(_elapsed) => Err(JournalError::TimedOut),
        }
    }

    /// Queues `id` without waiting for it (`dedup.durability = "async"`): a
    /// failure is only counted and logged.
    pub fn append_unawaited(&self, id: IdHash, first_seen: u32) {
        let _ = self.queue.send(Queued::Id {
            id,
            first_seen,
            done: None,
        });
    }

    /// Writes a replay marker to `partition`; resolves to its offset once
    /// Kafka acknowledged it.
    pub fn write_marker(
        &self,
        partition: i32,
        nonce: &[u8; 16],
    ) -> oneshot::Receiver<Result<i64, KafkaError>> {
        let (done, written) = oneshot::channel();
        let key = self.writer.marker_key(partition);
        let value = record::encode_marker(nonce);
        let record = BaseRecord::with_opaque_to(&self.topic, Box::new(Opaque::Marker(done)))
            .partition(partition)
            .key(key.as_bytes())
            .payload(&value);
        if let Err((err, record)) = self.producer.send(record) {
            self.producer
                .context()
                .settle(Err(err), *record.delivery_opaque);
        }
        written
    }

    /// At shutdown: writes the ids still queued and waits up to `timeout` for
    /// every record to be acknowledged.
    pub async fn flush(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let (done, written) = oneshot::channel();
        if self.queue.send(Queued::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline, written).await;
        }
        let producer = Arc::clone(&self.producer);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let flushed =
            tokio::task::spawn_blocking(move || producer.flush(Timeout::After(left))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(topic = %self.topic, "some dedup records were not written before exit");
        }
    }
}

/// The group-commit loop: one record per flush, at most [`FLUSHES_IN_FLIGHT`]
/// unacknowledged. Ends when every [`Journal`] handle is gone.
async fn group_commit(
    mut queued: mpsc::UnboundedReceiver<Queued>,
    producer: Arc<ThreadedProducer<Reports>>,
    topic: String,
    writer: WriterId,
) {
    let slots = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT));
    let mut sequence: u64 = 0;
    let mut ids = Vec::with_capacity(MAX_IDS_PER_RECORD);
    loop {
        // Waiting for a slot first is what lets ids gather under load.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Some(mut next) = queued.recv().await else {
            return;
        };
        let mut waiters = Vec::new();
        let mut barrier = None;
        loop {
            match next {
                Queued::Id {
                    id,
                    first_seen,
                    done,
                } => {
                    ids.push((id, first_seen));
                    waiters.extend(done);
                }
                Queued::Barrier(done) => {
                    barrier = Some(done);
                    break;
                }
            }
            if ids.len() == MAX_IDS_PER_RECORD {
                break;
            }
            match queued.try_recv() {
                Ok(more) => next = more,
                Err(_) => break,
            }
        }
        if !ids.is_empty() {
            let value = record::encode_ids(&ids);
            let key = writer.ids_key(sequence);
            sequence += 1;
            let opaque = Box::new(Opaque::Flush {
                ids: ids.len(),
                waiters,
                _slot: slot,
            });
            ids.clear();
            let record = BaseRecord::with_opaque_to(&topic, opaque)
                .key(key.as_bytes())
                .payload(&value);
            if let Err((err, record)) = producer.send(record) {
                producer.context().settle(Err(err), *record.delivery_opaque);
            }
        }
        if let Some(done) = barrier {
            let _ = done.send(());
        }
    }
}

/// Wakes the waiters of each acknowledged (or failed) record, counts ids by
/// outcome, and logs failures at most every few seconds, as a Kafka outage
/// fails them by the thousand.
#[derive(Debug, Default)]
struct Reports {
    writes: metrics::DedupWrites,
    log: Throttle,
    client_errors: Throttle,
}

impl Reports {
    fn settle(&self, outcome: Result<i64, KafkaError>, opaque: Opaque) {
        match opaque {
            Opaque::Flush { ids, waiters, .. } => {
                let outcome = outcome
                    .map(|_| ())
                    .map_err(|err| self.failed(err, ids as u64));
                if outcome.is_ok() {
                    self.writes.ok.increment(ids as u64);
                }
                for waiter in waiters {
                    let _ = waiter.send(outcome.clone());
                }
            }
            Opaque::Marker(done) => {
                let _ = done.send(outcome);
            }
        }
    }

    fn failed(&self, err: KafkaError, ids: u64) -> JournalError {
        self.writes.failed.increment(ids);
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(
                error = %err,
                ids,
                suppressed,
                "a dedup record was not written: its ids were not made durable"
            );
        }
        JournalError::NotWritten(err)
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
    type DeliveryOpaque = Box<Opaque>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((err, _message)) => Err(err.clone()),
        };
        self.settle(outcome, *opaque);
    }
}
