//! Makes committed ids durable on the dedup topic, many at a time: group commit.
//!
//! Each committed id joins a queue. One task takes everything queued, writes
//! it as one record (see [`record`]) and, once Kafka has
//! acknowledged that record (`acks=all`), wakes every request waiting on one
//! of its ids. Before taking the queue, the task lets every request that is
//! ready run first, so a record carries one id when traffic is light and
//! hundreds when it is heavy, and the dedup topic (producing, storing,
//! replaying, following) costs per flush, not per event.
//!
//! The records go through the event producer ([`SharedProducer`]): one set of
//! broker threads and connections, woken once to send events and dedup records
//! alike, and all of this replica's records go to one partition, so each of
//! the producer's batches of them is one produce request. The same producer
//! writes each start-up's replay markers (see [`reader`](super::reader)).

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureRecord, Producer};
use rdkafka::util::Timeout;
use tokio::sync::{mpsc, oneshot};

use super::IdHash;
use super::record::{self, MAX_IDS_PER_RECORD, WriterId};
use crate::metrics;
use crate::publish::SharedProducer;
use crate::throttle::Throttle;

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

/// The dedup topic's writer. Cheap to share: the queue is its only state.
#[derive(Debug)]
pub struct Journal {
    queue: mpsc::UnboundedSender<Queued>,
    producer: SharedProducer,
    topic: Arc<str>,
    writer: WriterId,
    /// The partition this replica's id records go to; -1 until the reader
    /// knows the topic's partitions (no id is committed before that).
    partition: Arc<AtomicI32>,
    /// How long a waiter waits for its record's acknowledgement.
    ack_timeout: Duration,
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

/// The waiters of one record.
type Waiters = Vec<oneshot::Sender<Result<(), JournalError>>>;

impl Journal {
    /// Starts the group-commit task (call within the tokio runtime). Records
    /// take at most the producer's `message.timeout.ms`, which `ack_timeout`
    /// should equal.
    pub fn start(producer: SharedProducer, topic: &str, ack_timeout: Duration) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        let writer = WriterId::random();
        let topic: Arc<str> = topic.into();
        let partition = Arc::new(AtomicI32::new(-1));
        tokio::spawn(group_commit(GroupCommit {
            queued,
            producer: producer.clone(),
            topic: Arc::clone(&topic),
            writer,
            partition: Arc::clone(&partition),
            reports: Arc::new(Reports::default()),
        }));
        Self {
            queue,
            producer,
            topic,
            writer,
            partition,
            ack_timeout,
        }
    }

    /// Who this replica's records are from.
    pub fn writer(&self) -> WriterId {
        self.writer
    }

    /// Sends this replica's id records to one of the topic's `partitions`.
    pub fn use_partitions(&self, partitions: usize) {
        self.partition
            .store(self.writer.partition(partitions), Ordering::Relaxed);
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

    /// Writes a replay marker to `partition` now; the future resolves to its
    /// offset once Kafka acknowledged it.
    pub fn write_marker(
        &self,
        partition: i32,
        nonce: &[u8; 16],
    ) -> impl Future<Output = Result<i64, KafkaError>> + Send + 'static {
        let key = self.writer.marker_key(partition);
        let value = record::encode_marker(nonce);
        let record = FutureRecord::to(&self.topic)
            .partition(partition)
            .key(key.as_bytes())
            .payload(&value);
        let sent = self
            .producer
            .current()
            .send_result(record)
            .map_err(|(err, _)| err);
        async move { acknowledged(sent?).await }
    }

    /// At shutdown: writes the ids still queued and waits up to `timeout` for
    /// every record to be acknowledged.
    pub async fn flush(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let (done, written) = oneshot::channel();
        if self.queue.send(Queued::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline, written).await;
        }
        let producer = self.producer.current();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let flushed =
            tokio::task::spawn_blocking(move || producer.flush(Timeout::After(left))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!(topic = %self.topic, "some dedup records were not written before exit");
        }
    }
}

/// Where a produced record landed, once Kafka acknowledged it.
async fn acknowledged(delivery: DeliveryFuture) -> Result<i64, KafkaError> {
    match delivery.await {
        Ok(Ok(delivery)) => Ok(delivery.offset),
        Ok(Err((err, _message))) => Err(err),
        Err(_canceled) => Err(KafkaError::Canceled),
    }
}

/// Everything the group-commit task owns.
struct GroupCommit {
    queued: mpsc::UnboundedReceiver<Queued>,
    producer: SharedProducer,
    topic: Arc<str>,
    writer: WriterId,
    partition: Arc<AtomicI32>,
    reports: Arc<Reports>,
}

/// The group-commit loop: one record per pass, holding every id queued by
/// then. Ends when every [`Journal`] handle is gone.
async fn group_commit(mut task: GroupCommit) {
    let mut sequence: u64 = 0;
    let mut ids = Vec::with_capacity(MAX_IDS_PER_RECORD);
    while let Some(mut next) = task.queued.recv().await {
        // Requests that are ready to commit run first and join this record.
        tokio::task::yield_now().await;
        let mut waiters = Waiters::new();
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
            match task.queued.try_recv() {
                Ok(more) => next = more,
                Err(_) => break,
            }
        }
        if !ids.is_empty() {
            task.write(&ids, sequence, waiters);
            sequence += 1;
            ids.clear();
        }
        if let Some(done) = barrier {
            let _ = done.send(());
        }
    }
}

impl GroupCommit {
    /// Produces one record of `ids` and wakes `waiters` once Kafka answered.
    fn write(&self, ids: &[(IdHash, u32)], sequence: u64, waiters: Waiters) {
        let value = record::encode_ids(ids);
        let key = self.writer.ids_key(sequence);
        let mut record = FutureRecord::to(&self.topic)
            .key(key.as_bytes())
            .payload(&value);
        let partition = self.partition.load(Ordering::Relaxed);
        if partition >= 0 {
            record = record.partition(partition);
        }
        let count = ids.len() as u64;
        match self.producer.current().send_result(record) {
            Ok(delivery) => {
                let reports = Arc::clone(&self.reports);
                tokio::spawn(async move {
                    reports.settle(acknowledged(delivery).await, count, waiters);
                });
            }
            Err((err, _record)) => self.reports.settle(Err(err), count, waiters),
        }
    }
}

/// Counts ids by outcome, wakes their waiters, and logs failures at most
/// every few seconds, as a Kafka outage fails them by the thousand.
#[derive(Debug, Default)]
struct Reports {
    writes: metrics::DedupWrites,
    log: Throttle,
}

impl Reports {
    fn settle(&self, outcome: Result<i64, KafkaError>, ids: u64, waiters: Waiters) {
        let outcome = match outcome {
            Ok(_offset) => {
                self.writes.ok.increment(ids);
                Ok(())
            }
            Err(err) => {
                self.writes.failed.increment(ids);
                if let Some(suppressed) = self.log.allow() {
                    tracing::warn!(
                        error = %err,
                        ids,
                        suppressed,
                        "a dedup record was not written: its ids were not made durable"
                    );
                }
                Err(JournalError::NotWritten(err))
            }
        };
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}
