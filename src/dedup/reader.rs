//! Loads the dedup index from the dedup topic before hookgate says it is ready,
//! then follows the topic so ids that other replicas commit are known here too.
//!
//! Each replica reads every partition from the beginning at positions of its
//! own: no consumer group, nothing committed, nothing shared but the topic.
//!
//! **Where the replay ends.** Before reading, the reader writes a *replay
//! marker* (a record carrying a random nonce) to every partition and waits for
//! Kafka to acknowledge it. Every record acknowledged before that has a lower
//! offset in its partition, so once the reader has read its own marker on
//! every partition it has read every id that was durable when the replay
//! began. The rule does not trust the partition's reported high watermark,
//! which some brokers report short of the log's end (tansu 0.6 reports a
//! batch's first offset), nor a quiet spell. Records written since are read
//! as the tail. The reader runs on a thread of its own (librdkafka's consumer
//! blocks), which also sweeps expired ids out of the index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::index::Remembered;
use super::journal::Journal;
use super::record::{self, Content, RecordError};
use super::{Dedup, IdHash, topic, unix_now};
use crate::config::DedupConfig;
use crate::health::Health;
use crate::kafka::Logged;
use crate::metrics;
use crate::throttle::Throttle;

/// How long one poll waits; also how often the reader looks at the clock.
const POLL: Duration = Duration::from_millis(100);

/// The running reader; [`ReaderHandle::stop`] ends it.
#[derive(Debug)]
pub struct ReaderHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReaderHandle {
    /// Stops the reader and waits for its thread. Blocks.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Everything the reader thread owns.
struct Reader {
    client: ClientConfig,
    config: DedupConfig,
    create_topic: bool,
    dedup: Dedup,
    health: Arc<Health>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    warnings: Throttle,
    learned: ::metrics::Counter,
}

/// Starts the reader thread: ensure the topic (unless `create_topic` is false,
/// as with the embedded cluster, whose admin API does not answer), replay it
/// into `dedup`, mark `health` ready, then follow it. Call from within the
/// tokio runtime: the topic is created through the async admin API.
pub fn spawn(
    client: ClientConfig,
    config: &DedupConfig,
    create_topic: bool,
    dedup: Dedup,
    health: Arc<Health>,
) -> std::io::Result<ReaderHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = Reader {
        client,
        config: config.clone(),
        create_topic,
        dedup,
        health,
        runtime: tokio::runtime::Handle::current(),
        stop: Arc::clone(&stop),
        warnings: Throttle::default(),
        learned: metrics::dedup_learned(),
    };
    let thread = std::thread::Builder::new()
        .name("hookgate-dedup".into())
        .spawn(move || reader.run())?;
    Ok(ReaderHandle {
        stop,
        thread: Some(thread),
    })
}

/// Counts of one stretch of reading.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    new: u64,
    expired: u64,
    corrupt: u64,
}

impl Tally {
    fn count(&mut self, remembered: Remembered) {
        match remembered {
            Remembered::New => self.new += 1,
            Remembered::Known => {}
            Remembered::Expired => self.expired += 1,
        }
    }
}

/// Ids handed to the replay's inserter at a time.
const BATCH: usize = 4096;

/// How long the replay waits for Kafka to acknowledge its markers.
const MARKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why reading stopped short.
enum Interrupted {
    /// Every broker connection is down: start again with a new consumer.
    ClusterLost,
    Stopped,
    Failed(String),
}

/// Where reading goes on from: the next offset of each partition, by number.
type Positions = Vec<i64>;

/// Records the next offset of `partition`; false if it is not one of ours.
fn advance(positions: &mut Positions, partition: i32, next: i64) -> bool {
    match usize::try_from(partition)
        .ok()
        .and_then(|p| positions.get_mut(p))
    {
        Some(at) => {
            *at = (*at).max(next);
            true
        }
        None => false,
    }
}

impl Reader {
    /// Replays, then follows, the topic. A consumer that lost every broker is
    /// replaced by a new one, which goes on from the same positions once the
    /// cluster (and the topic) are back: after a broker lost the topic, an old
    /// consumer's cached topic id was seen to crash librdkafka.
    fn run(self) {
        self.health.dedup_progress(format!(
            "connecting to Kafka to replay dedup topic {}",
            self.config.topic
        ));
        let mut positions: Option<Positions> = None;
        while !self.stopped() {
            if self.create_topic && !self.ensure_topic() {
                return;
            }
            let Some(consumer) = self.consumer() else {
                return;
            };
            match self.read(&consumer, &mut positions) {
                Interrupted::Stopped => return,
                Interrupted::ClusterLost => {
                    tracing::warn!(topic = %self.config.topic, "dedup topic: lost every Kafka broker; reconnecting");
                    self.health
                        .dedup_progress("lost every Kafka broker; reconnecting".into());
                }
                Interrupted::Failed(why) => {
                    self.health.dedup_progress(why.clone());
                    if let Some(suppressed) = self.warnings.allow() {
                        tracing::warn!(topic = %self.config.topic, suppressed, "dedup topic: {why}; retrying");
                    }
                }
            }
            drop(consumer);
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Replays the topic unless that was done, then follows it.
    fn read(
        &self,
        consumer: &BaseConsumer<Logged>,
        positions: &mut Option<Positions>,
    ) -> Interrupted {
        let positions = match positions {
            Some(positions) => positions,
            None => match self.replay(consumer) {
                Ok(replayed) => positions.insert(replayed),
                Err(interrupted) => return interrupted,
            },
        };
        match self.tail(consumer, positions) {
            Ok(never) => match never {},
            Err(interrupted) => interrupted,
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn journal(&self) -> Result<&Journal, Interrupted> {
        self.dedup.journal().ok_or_else(|| {
            Interrupted::Failed("the dedup index has no journal to write markers with".into())
        })
    }
    /// Creates or checks the topic until Kafka answers; false if stopped first.
    fn ensure_topic(&self) -> bool {
        let mut backoff = Duration::from_millis(250);
        loop {
            if self.stopped() {
                return false;
            }
            match self
                .runtime
                .block_on(topic::ensure(&self.client, &self.config))
            {
                Ok(topic::Ensured::Created) => {
                    tracing::info!(topic = %self.config.topic, partitions = self.config.partitions, "created the dedup topic");
                    return true;
                }
                Ok(topic::Ensured::Existed { differences }) => {
                    if !differences.is_empty() {
                        tracing::warn!(
                            topic = %self.config.topic,
                            differences = %differences.join("; "),
                            "the dedup topic exists with settings other than hookgate's: ids may age out sooner or later than dedup.window"
                        );
                    }
                    return true;
                }
                Err(err) => {
                    self.health.dedup_progress(err.to_string());
                    if let Some(suppressed) = self.warnings.allow() {
                        tracing::warn!(suppressed, "{err}; retrying");
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn consumer(&self) -> Option<BaseConsumer<Logged>> {
        let mut client = self.client.clone();
        client
            // librdkafka wants a group to assign partitions; this one is never
            // joined and nothing is committed to it.
            .set("group.id", "hookgate.dedup-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "fetch.wait.max.ms",
                self.config.fetch_wait.as_millis().to_string(),
            )
            .set("fetch.min.bytes", "1")
            .set("max.partition.fetch.bytes", "4194304")
            // Prefetch deep enough that the replay never waits on a fetch: this
            // alone takes it from about 0.5 to over 1 million ids a second.
            .set("queued.min.messages", "1000000")
            .set("queued.max.messages.kbytes", "32768");
        match client.create_with_context(Logged::default()) {
            Ok(consumer) => Some(consumer),
            Err(err) => {
                // The same settings already made the event producer, so this
                // is a consumer-only property: a configuration error.
                let why = format!(
                    "cannot create the dedup topic's consumer: {}",
                    crate::kafka::redacted(&err)
                );
                tracing::error!("{why}");
                self.health.dedup_progress(why);
                None
            }
        }
    }

    /// Writes a marker to every partition, then reads every partition until
    /// it has read its own marker there, and marks the index loaded. Returns
    /// where each partition was read to.
    fn replay(&self, consumer: &BaseConsumer<Logged>) -> Result<Positions, Interrupted> {
        let topic = self.config.topic.as_str();
        let failed = |err: KafkaError| {
            Interrupted::Failed(format!("cannot read dedup topic {topic}: {err}"))
        };
        let partitions =
            crate::kafka::partitions(consumer, topic, Duration::from_secs(5)).map_err(failed)?;
        if partitions.is_empty() {
            return Err(Interrupted::Failed(format!(
                "dedup topic {topic} does not exist or has no partitions"
            )));
        }
        // Partitions are numbered 0..n; a hole would be a broken topic.
        let count = partitions.len();
        if partitions
            .iter()
            .any(|&p| usize::try_from(p).map_or(true, |p| p >= count))
        {
            return Err(Interrupted::Failed(format!(
                "dedup topic {topic} has partitions {partitions:?}, not 0..{count}"
            )));
        }
        let nonce = record::random_nonce();
        let ends = self.write_markers(count, &nonce)?;
        self.journal()?.use_partitions(count);
        let mut positions: Positions = vec![0; count];
        crate::kafka::assign_all(consumer, topic, &partitions, Offset::Beginning)
            .map_err(failed)?;

        // Only for reporting progress: the markers' offsets are where the
        // replay ends if the broker numbered them as it said.
        let lag = |positions: &Positions, done: &[bool]| -> i64 {
            positions
                .iter()
                .zip(&ends)
                .zip(done)
                .filter(|(_, done)| !**done)
                .map(|((at, end), _)| (end - at).max(0))
                .sum()
        };
        let mut done = vec![false; count];
        let mut unfinished = count;
        tracing::info!(
            topic,
            partitions = count,
            records = lag(&positions, &done),
            "replaying the dedup topic up to this start-up's markers"
        );
        let started = Instant::now();
        // Two stages on two threads: this one polls and parses, a second one
        // inserts into the index, where cache misses make most of the cost.
        let (batches, inserts) = mpsc::sync_channel::<Vec<(IdHash, u32)>>(16);
        let now = unix_now();
        let tally = std::thread::scope(|scope| -> Result<Tally, Interrupted> {
            let inserter = scope.spawn(move || {
                let mut counts = Tally::default();
                for batch in inserts {
                    for (key, first_seen) in batch {
                        counts.count(self.dedup.learn(key, first_seen, now));
                    }
                }
                counts
            });
            let mut tally = Tally::default();
            let mut batch = Vec::with_capacity(BATCH);
            let mut reported = Instant::now();
            while unfinished > 0 {
                if self.stopped() {
                    return Err(Interrupted::Stopped);
                }
                match consumer.poll(POLL) {
                    Some(Ok(message)) => {
                        let partition = message.partition();
                        advance(&mut positions, partition, message.offset() + 1);
                        tally.records += 1;
                        match record::parse(message.key(), message.payload()) {
                            Ok(Content::Ids(ids)) => {
                                for id in ids {
                                    batch.push(id);
                                    if batch.len() == BATCH {
                                        let full = std::mem::replace(
                                            &mut batch,
                                            Vec::with_capacity(BATCH),
                                        );
                                        // A closed channel means the inserter
                                        // is gone: joining it below says why.
                                        let _ = batches.send(full);
                                    }
                                }
                            }
                            Ok(Content::Marker(seen)) if seen == nonce => {
                                if let Some(done) = usize::try_from(partition)
                                    .ok()
                                    .and_then(|p| done.get_mut(p))
                                    .filter(|done| !**done)
                                {
                                    *done = true;
                                    unfinished -= 1;
                                }
                            }
                            Ok(Content::Marker(_) | Content::Nothing) => {}
                            Err(err) => {
                                tally.corrupt += 1;
                                self.corrupt(&message, &err);
                            }
                        }
                    }
                    Some(Err(err)) => self.kafka_error(&err, "replaying")?,
                    None => {}
                }
                if reported.elapsed() >= Duration::from_secs(1) {
                    reported = Instant::now();
                    let behind = lag(&positions, &done);
                    metrics::dedup_replay(tally.records, behind, started.elapsed());
                    self.health.dedup_progress(format!(
                        "replaying dedup topic {topic}: {} records read, about {behind} to go",
                        tally.records
                    ));
                }
            }
            let _ = batches.send(batch);
            drop(batches);
            let counts = inserter
                .join()
                .map_err(|_| Interrupted::Failed("the dedup index inserter panicked".into()))?;
            tally.new = counts.new;
            tally.expired = counts.expired;
            Ok(tally)
        })?;
        let elapsed = started.elapsed();
        metrics::dedup_replay(tally.records, 0, elapsed);
        tracing::info!(
            topic,
            records = tally.records,
            ids = tally.new,
            expired = tally.expired,
            corrupt = tally.corrupt,
            seconds = elapsed.as_secs_f64(),
            ids_per_second = (tally.new as f64 / elapsed.as_secs_f64().max(1e-6)).round(),
            "dedup index loaded: ready"
        );
        self.health.dedup_loaded();
        Ok(positions)
    }

    /// Writes this replay's marker to each of `count` partitions and returns
    /// the offset after each, once Kafka acknowledged them all.
    fn write_markers(&self, count: usize, nonce: &[u8; 16]) -> Result<Positions, Interrupted> {
        let topic = &self.config.topic;
        let journal = self.journal()?;
        // All are written at once; then each acknowledgement is awaited.
        let written: Vec<_> = (0..count)
            .map(|p| journal.write_marker(i32::try_from(p).unwrap_or(i32::MAX), nonce))
            .collect();
        self.runtime.block_on(async {
            let mut ends = Vec::with_capacity(count);
            for (partition, written) in written.into_iter().enumerate() {
                match tokio::time::timeout(MARKER_TIMEOUT, written).await {
                    Ok(Ok(offset)) => ends.push(offset + 1),
                    Ok(Err(err)) => {
                        return Err(Interrupted::Failed(format!(
                            "cannot write the replay marker to dedup topic {topic} partition {partition}: {err}"
                        )));
                    }
                    Err(_elapsed) => {
                        return Err(Interrupted::Failed(format!(
                            "Kafka did not acknowledge the replay marker on dedup topic {topic} partition {partition} within {}s",
                            MARKER_TIMEOUT.as_secs()
                        )));
                    }
                }
            }
            Ok(ends)
        })
    }

    /// Follows the topic from `positions` until stopped or the cluster is
    /// lost, learning the ids other replicas commit.
    fn tail(
        &self,
        consumer: &BaseConsumer<Logged>,
        positions: &mut Positions,
    ) -> Result<std::convert::Infallible, Interrupted> {
        let mut assignment = TopicPartitionList::new();
        for (partition, &offset) in positions.iter().enumerate() {
            let partition = i32::try_from(partition).unwrap_or(i32::MAX);
            assignment
                .add_partition_offset(&self.config.topic, partition, Offset::Offset(offset))
                .map_err(|err| self.cannot_follow(&err))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|err| self.cannot_follow(&err))?;
        let writer = self.journal()?.writer();
        let mut tally = Tally::default();
        let mut now = unix_now();
        let mut ticked = Instant::now();
        loop {
            if self.stopped() {
                return Err(Interrupted::Stopped);
            }
            match consumer.poll(POLL) {
                Some(Ok(message)) => {
                    advance(positions, message.partition(), message.offset() + 1);
                    // This replica's own ids are in its index already.
                    if !writer.wrote(message.key()) {
                        self.learn(&message, now, &mut tally);
                    }
                }
                Some(Err(err)) => self.kafka_error(&err, "following")?,
                None => {}
            }
            // Ids learned are stamped with the clock read at most a second ago.
            if ticked.elapsed() >= Duration::from_secs(1) {
                ticked = Instant::now();
                now = unix_now();
            }
        }
    }

    fn cannot_follow(&self, err: &KafkaError) -> Interrupted {
        Interrupted::Failed(format!(
            "cannot follow dedup topic {}: {err}",
            self.config.topic
        ))
    }

    /// Logs a consumer error; every broker down interrupts reading.
    fn kafka_error(&self, err: &KafkaError, doing: &str) -> Result<(), Interrupted> {
        if err.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            return Err(Interrupted::ClusterLost);
        }
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(topic = %self.config.topic, error = %err, suppressed, "dedup topic: Kafka error while {doing} it");
        }
        Ok(())
    }

    /// Adds one record's ids to the index; a damaged record is skipped and said.
    fn learn(&self, message: &BorrowedMessage<'_>, now: u32, tally: &mut Tally) {
        tally.records += 1;
        match record::parse(message.key(), message.payload()) {
            Ok(Content::Ids(ids)) => {
                for (key, first_seen) in ids {
                    if self.dedup.learn(key, first_seen, now) == Remembered::New {
                        tally.new += 1;
                        self.learned.increment(1);
                    }
                }
            }
            Ok(Content::Marker(_) | Content::Nothing) => {}
            Err(err) => {
                tally.corrupt += 1;
                self.corrupt(message, &err);
            }
        }
    }

    fn corrupt(&self, message: &BorrowedMessage<'_>, err: &RecordError) {
        metrics::dedup_corrupt_record();
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                suppressed,
                "skipped a damaged dedup record: {err}"
            );
        }
    }
}
