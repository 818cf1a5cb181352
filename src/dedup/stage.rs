//! The dedup stage: the one owner of each intake partition decides, in
//! offset order, which of its events are new, publishes those to their
//! topics and drops the rest.
//!
//! Kafka decides who owns what: the stage is a member of a consumer group on
//! the intake topic (cooperative-sticky with static membership where the
//! broker serves them, an eager assignor where it does not). For every
//! partition it is given, it first rebuilds that partition's window from the
//! matching partition of the changelog (the compacted dedup topic), read to
//! its true end; then it consumes the intake from the group's committed
//! offset.
//!
//! **A batch.** What one poll returns, up to `batch_max` records. Each
//! record is looked up in its partition's window and among the batch's own;
//! a new one is published (body, key, timestamp and headers as the edge
//! made them), a seen one dropped and counted. Once every publication is
//! acknowledged, the batch's new ids go to the changelog, one record per
//! partition, and then the intake offsets are committed.
//! - **With transactions** (Apache Kafka): the events, the changelog records
//!   and the offsets are one transaction, fenced by the group's generation, so
//!   a `read_committed` consumer never sees an id twice, even across a crash.
//! - **Without** (tansu): the same steps in that order. A crash after an
//!   event's acknowledgement and before its batch's changelog record
//!   publishes that batch again under the next owner: at most one batch per
//!   partition, counted.
//!
//! **Letting go.** Partitions are taken away only between batches (the
//! rebalance runs inside the poll that follows a batch). A member that has
//! not polled within its session timeout, its process frozen or starved,
//! stops publishing before Kafka can give its partitions away.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};

use crate::ops::spans::Span;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use super::intake::{self, DedupKeys};
use super::record::{self, Content};
use super::window::{self, Fingerprint, Loader, PartitionWindow};
use super::{IdHash, unix_now};
use crate::config::Transactions;
use crate::kafka::Logged;

/// How long a batch's events and ids may take to be acknowledged.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stopping stage may go on publishing what it owns.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// What a stage needs beyond the Kafka client settings.
#[derive(Debug, Clone)]
pub struct StageSettings {
    pub intake_topic: String,
    /// The compacted topic with one partition per intake partition.
    pub changelog_topic: String,
    pub group: String,
    /// Static membership: the same id after a restart keeps the partitions.
    pub instance_id: Option<String>,
    pub window: Duration,
    pub session_timeout: Duration,
    pub batch_max: usize,
    /// Whether the events, the changelog records and the offsets of a batch
    /// are one Kafka transaction. With them the group uses the
    /// cooperative-sticky assignor and static membership; a broker without
    /// them (tansu) also gets these wrong, so without them the stage uses an
    /// eager assignor and dynamic membership.
    pub transactions: Transactions,
}

/// Why the stage could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot create the dedup stage's Kafka clients: {0}")]
    Client(KafkaError),
    #[error("the broker does not take transactions ({0})")]
    Transactions(KafkaError),
    #[error("dedup window: {0}")]
    Window(#[from] window::WindowError),
    #[error("cannot start the dedup stage's thread: {0}")]
    Thread(std::io::Error),
}

/// What the stage counts, for tests and metrics.
#[derive(Debug, Default)]
pub struct StageCounts {
    pub published: std::sync::atomic::AtomicU64,
    pub dropped: std::sync::atomic::AtomicU64,
    /// Intake records no hookgate edge wrote: skipped.
    pub unreadable: std::sync::atomic::AtomicU64,
    /// Ids the stage holds in its windows now.
    pub entries: std::sync::atomic::AtomicUsize,
}

/// The running stage; [`StageHandle::stop`] ends it.
#[derive(Debug)]
pub struct StageHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub counts: Arc<StageCounts>,
}

impl StageHandle {
    /// Whether the stage ended by itself: it lost every broker, and a new
    /// one has to be started once they are back.
    pub fn ended(&self) -> bool {
        self.thread
            .as_ref()
            .is_none_or(std::thread::JoinHandle::is_finished)
    }

    /// Stops the stage after its current batch and waits for it. Blocks.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StageHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Partitions given or taken since the loop last looked: the rebalance runs
/// inside a poll, the loading after it.
#[derive(Debug, Default)]
struct Changes {
    assigned: Vec<i32>,
    revoked: Vec<i32>,
}

/// The changelog loader's context: logs as every client does, and keeps
/// each partition's last stable offset and high watermark from librdkafka's
/// statistics, which tell an open transaction (the one short of the other).
#[derive(Default)]
struct LoaderContext {
    logged: Logged,
    topic: String,
    /// Per partition, as last reported: whether everything up to the log's
    /// end is stable and handed to the reader, and when.
    ends: Mutex<HashMap<i32, (bool, Instant)>>,
}

impl ClientContext for LoaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.logged.error(error, reason);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.logged.log(level, facility, message);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let now = Instant::now();
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        for partition in topic.partitions.values().filter(|p| p.partition >= 0) {
            // No open transaction (its last stable offset at its high
            // watermark), fetched to there, nothing fetched left to hand over.
            let settled = partition.ls_offset >= 0
                && partition.ls_offset == partition.hi_offset
                && partition.next_offset >= partition.hi_offset
                && partition.fetchq_cnt == 0;
            ends.insert(partition.partition, (settled, now));
        }
    }
}

impl ConsumerContext for LoaderContext {}

impl LoaderContext {
    /// Whether `partition` was settled in statistics reported after `since`.
    fn settled_since(&self, partition: i32, since: Instant) -> bool {
        self.ends
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&partition)
            .is_some_and(|&(settled, at)| settled && at > since)
    }
}

/// The stage consumer's context: logs as every client does, and notes
/// rebalances.
struct StageContext {
    logged: Logged,
    topic: String,
    changes: Mutex<Changes>,
    /// Every broker was unreachable: the stage ends, to be started anew
    /// (a known failure with tansu: a consumer that outlives a broker that
    /// lost its topics can crash librdkafka).
    cluster_lost: AtomicBool,
}

impl ClientContext for StageContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.note(&error);
        self.logged.error(error, reason);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.logged.log(level, facility, message);
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::ops::metrics::dedup_lag(crate::kafka::statistics::consumer_lag(
            &statistics,
            &self.topic,
        ));
    }
}

impl StageContext {
    /// Marks the stage for a restart on the errors that call for one: every
    /// broker unreachable, or the intake topic gone (a restarted broker may
    /// have lost it; the keeper makes it again before the next stage).
    fn note(&self, error: &KafkaError) {
        use rdkafka::types::RDKafkaErrorCode::{
            AllBrokersDown, UnknownTopic, UnknownTopicOrPartition,
        };
        if matches!(
            error.rdkafka_error_code(),
            Some(AllBrokersDown | UnknownTopic | UnknownTopicOrPartition)
        ) {
            self.cluster_lost.store(true, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for StageContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements_for_topic(&self.topic)
                .iter()
                .map(|element| element.partition())
                .collect()
        };
        let mut changes = self
            .changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match rebalance {
            Rebalance::Assign(list) => changes.assigned.extend(partitions(list)),
            Rebalance::Revoke(list) => changes.revoked.extend(partitions(list)),
            Rebalance::Error(err) => tracing::warn!(error = %err, "dedup stage: rebalance failed"),
        }
    }
}

/// Starts the stage on a thread of its own (librdkafka's consumer blocks).
/// `runtime` awaits the producer's acknowledgements.
pub fn spawn(
    client: &ClientConfig,
    mut settings: StageSettings,
    runtime: tokio::runtime::Handle,
) -> Result<StageHandle, StageError> {
    PartitionWindow::new(settings.window, window::default_bucket(settings.window))?;
    let (producer, transactional) = producer(client, &settings)?;
    // From here on `transactions` says what the stage does: On or Off.
    if transactional {
        settings.transactions = Transactions::On;
    } else {
        settings.transactions = Transactions::Off;
        // tansu gives static members nothing (docs/kafka-broker.md).
        settings.instance_id = None;
    }
    let assignor = if transactional {
        "cooperative-sticky"
    } else {
        "range"
    };
    tracing::info!(
        transactions = transactional,
        assignor,
        "dedup stage: joining group {} on {}",
        settings.group,
        settings.intake_topic
    );
    let mut consumer_config = client.clone();
    consumer_config
        .set("group.id", &settings.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation(&settings))
        .set("partition.assignment.strategy", assignor)
        .set(
            "session.timeout.ms",
            settings.session_timeout.as_millis().to_string(),
        )
        .set("fetch.wait.max.ms", "10");
    if consumer_config.get("statistics.interval.ms").is_none() {
        // For hookgate_dedup_lag_records.
        consumer_config.set(
            "statistics.interval.ms",
            crate::kafka::statistics::DEFAULT_INTERVAL_MS,
        );
    }
    if let Some(instance) = &settings.instance_id {
        consumer_config.set("group.instance.id", instance);
    }
    let consumer: BaseConsumer<StageContext> = consumer_config
        .create_with_context(StageContext {
            logged: Logged::default(),
            topic: settings.intake_topic.clone(),
            changes: Mutex::default(),
            cluster_lost: AtomicBool::new(false),
        })
        .map_err(StageError::Client)?;
    consumer
        .subscribe(&[&settings.intake_topic])
        .map_err(StageError::Client)?;
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(StageCounts::default());
    let mut stage = Stage {
        consumer,
        producer,
        client: client.clone(),
        settings,
        runtime,
        windows: HashMap::new(),
        unloaded: std::collections::BTreeSet::new(),
        assigned_once: false,
        writer: record::WriterId::random(),
        sequence: 0,
        last_poll: Instant::now(),
        stop: Arc::clone(&stop),
        counts: Arc::clone(&counts),
        in_doubt: false,
    };
    let thread = std::thread::Builder::new()
        .name("hookgate-dedup-stage".into())
        .spawn(move || stage.run())
        .map_err(StageError::Thread)?;
    Ok(StageHandle {
        stop,
        thread: Some(thread),
        counts,
    })
}

/// The stage's producer, transactional where `settings` and the broker allow;
/// and whether it is.
fn producer(
    client: &ClientConfig,
    settings: &StageSettings,
) -> Result<(FutureProducer<Logged>, bool), StageError> {
    let mut idempotent = client.clone();
    idempotent
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        // A batch Kafka cannot take is read again, soon: not after
        // librdkafka's five-minute default.
        .set(
            "message.timeout.ms",
            PUBLISH_TIMEOUT.as_millis().to_string(),
        );
    if settings.transactions == Transactions::Off {
        let producer = idempotent
            .create_with_context(Logged::default())
            .map_err(StageError::Client)?;
        return Ok((producer, false));
    }
    let id = format!(
        "{}.{}",
        settings.group,
        settings
            .instance_id
            .clone()
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()))
    );
    // An abandoned transaction holds read_committed readers back until it
    // times out: keep that short.
    let transactional: FutureProducer<Logged> = idempotent
        .clone()
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "10000")
        .create_with_context(Logged::default())
        .map_err(StageError::Client)?;
    // tansu takes InitProducerId and then refuses EndTxn: only a whole
    // transaction shows the broker has them. It carries a load marker,
    // which every loader passes over.
    let probe = || -> Result<(), KafkaError> {
        transactional.init_transactions(Duration::from_secs(15))?;
        transactional.begin_transaction()?;
        let marker = record::encode_marker(&record::random_nonce());
        transactional
            .send_result(
                FutureRecord::<str, [u8]>::to(&settings.changelog_topic)
                    .partition(0)
                    .key("transactions-probe")
                    .payload(&marker),
            )
            .map_err(|(err, _)| err)?;
        transactional.commit_transaction(Duration::from_secs(15))
    };
    match probe() {
        Ok(()) => Ok((transactional, true)),
        Err(err) if settings.transactions == Transactions::On => Err(StageError::Transactions(err)),
        Err(err) => {
            tracing::warn!(error = %err, "dedup stage: the broker takes no transactions; a stage that crashes may publish its last batch again (counted in hookgate_dedup_dropped_total by its next owner only where it recognises them)");
            let producer = idempotent
                .create_with_context(Logged::default())
                .map_err(StageError::Client)?;
            Ok((producer, false))
        }
    }
}

struct Stage {
    consumer: BaseConsumer<StageContext>,
    producer: FutureProducer<Logged>,
    client: ClientConfig,
    settings: StageSettings,
    runtime: tokio::runtime::Handle,
    windows: HashMap<i32, PartitionWindow>,
    /// Partitions this member owns whose windows are not loaded yet.
    unloaded: std::collections::BTreeSet<i32>,
    /// Whether the group ever gave this member a partition.
    assigned_once: bool,
    writer: record::WriterId,
    sequence: u64,
    last_poll: Instant,
    stop: Arc<AtomicBool>,
    counts: Arc<StageCounts>,
    /// A batch's transaction ended in doubt (its commit may have gone
    /// through): this stage's windows may lack its ids, so it ends, and the
    /// next one rebuilds them from what Kafka settled.
    in_doubt: bool,
}

/// One event of a batch that will be published.
struct Fresh {
    partition: i32,
    keys: DedupKeys,
    source: String,
    /// When the edge received it, in the windows' seconds: its first sighting.
    received: u32,
    /// The intake record's timestamp: when the edge received the event.
    received_at_millis: Option<i64>,
    /// The request's trace and span, when spans are exported.
    trace: Option<([u8; 16], [u8; 8])>,
}

impl Stage {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            if self.cluster_lost() {
                tracing::warn!(
                    "dedup stage: lost every Kafka broker, or the intake topic; leaving the group to rejoin once the topics are back"
                );
                self.abort();
                return;
            }
            if self.in_doubt {
                // Neither drained nor read again: the next stage starts
                // from the offsets and ids Kafka committed.
                return;
            }
            let batch = self.poll_batch();
            self.apply_rebalances();
            if batch.is_empty() {
                self.expire();
                continue;
            }
            self.process(&batch);
        }
        self.drain();
        self.consumer.unsubscribe();
    }

    fn cluster_lost(&self) -> bool {
        self.consumer.context().cluster_lost.load(Ordering::Relaxed)
    }

    /// On the way out, publishes what the partitions it owns still hold, so
    /// a replica stopped for a deploy leaves no acknowledged event waiting
    /// for the next owner: until three polls in a row bring nothing, or
    /// [`DRAIN_LIMIT`]. A member not yet given partitions waits for them.
    fn drain(&mut self) {
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut quiet = 0;
        while Instant::now() < deadline && quiet < 3 && !self.cluster_lost() {
            let batch = self.poll_batch();
            self.apply_rebalances();
            if batch.is_empty() {
                if self.assigned_once && self.unloaded.is_empty() {
                    quiet += 1;
                }
                continue;
            }
            quiet = 0;
            self.process(&batch);
        }
    }

    /// Up to `batch_max` records: those that arrive within a few
    /// milliseconds of the first.
    fn poll_batch(&mut self) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let first = self.consumer.poll(Duration::from_millis(100));
        self.last_poll = Instant::now();
        match first {
            Some(Ok(message)) => batch.push(message.detach()),
            Some(Err(err)) => {
                // Consumer errors arrive here, not at the context's `error`.
                self.consumer.context().note(&err);
                tracing::debug!(error = %err, "dedup stage: poll");
                return batch;
            }
            None => return batch,
        }
        while batch.len() < self.settings.batch_max {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => batch.push(message.detach()),
                Some(Err(_)) | None => break,
            }
        }
        batch
    }

    /// Loads the windows of partitions just given, forgets those taken.
    fn apply_rebalances(&mut self) {
        let changes = std::mem::take(
            &mut *self
                .consumer
                .context()
                .changes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for partition in changes.revoked {
            self.windows.remove(&partition);
            self.unloaded.remove(&partition);
        }
        self.assigned_once |= !changes.assigned.is_empty();
        self.unloaded.extend(changes.assigned);
        if self.unloaded.is_empty() {
            return;
        }
        let partitions: Vec<i32> = self.unloaded.iter().copied().collect();
        match self.load(&partitions) {
            Ok(windows) => {
                for (partition, window) in windows {
                    tracing::info!(
                        partition,
                        ids = window.len(),
                        "dedup stage: partition loaded"
                    );
                    self.unloaded.remove(&partition);
                    self.windows.insert(partition, window);
                }
            }
            Err(why) => {
                tracing::error!(partitions = ?partitions, error = %why, "dedup stage: cannot load the partitions' windows; trying again");
            }
        }
        self.report_entries();
    }

    fn report_entries(&self) {
        let entries = self.windows.values().map(PartitionWindow::len).sum();
        self.counts.entries.store(entries, Ordering::Relaxed);
        crate::ops::metrics::dedup_owned(entries, self.windows.len());
    }

    fn expire(&mut self) {
        let now = unix_now();
        for window in self.windows.values_mut() {
            window.expire(now);
        }
        self.report_entries();
    }

    /// The windows of `partitions` from their changelog partitions, each
    /// read to its true end: with transactions, the last stable offset Kafka
    /// reports to a `read_committed` reader; without, a marker of this load's
    /// own (some brokers report a high watermark short of the log's end).
    fn load(&self, partitions: &[i32]) -> Result<Vec<(i32, PartitionWindow)>, String> {
        let reader: BaseConsumer<LoaderContext> = self
            .client
            .clone()
            .set("group.id", format!("{}.loader", self.settings.group))
            .set("enable.auto.commit", "false")
            .set("isolation.level", isolation(&self.settings))
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "10")
            // For LoaderContext's view of open transactions.
            .set("statistics.interval.ms", "100")
            .create_with_context(LoaderContext {
                topic: self.settings.changelog_topic.clone(),
                ..LoaderContext::default()
            })
            .map_err(|err| err.to_string())?;
        let topic = &self.settings.changelog_topic;
        let mut assignment = TopicPartitionList::new();
        for &partition in partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(|err| err.to_string())?;
        }
        reader.assign(&assignment).map_err(|err| err.to_string())?;
        let nonce = record::random_nonce();
        if self.settings.transactions != Transactions::On {
            let value = record::encode_marker(&nonce);
            let keys: Vec<String> = partitions
                .iter()
                .map(|&p| self.writer.marker_key(p))
                .collect();
            let writes = partitions.iter().zip(&keys).map(|(&partition, key)| {
                self.producer.send(
                    FutureRecord::to(topic)
                        .partition(partition)
                        .key(key)
                        .payload(&value),
                    Duration::from_secs(10),
                )
            });
            for written in self
                .runtime
                .block_on(futures_util::future::join_all(writes))
            {
                written.map_err(|(err, _)| format!("cannot write a load marker: {err}"))?;
            }
        }
        let bucket = window::default_bucket(self.settings.window);
        let mut loaders: HashMap<i32, Loader> = HashMap::new();
        for &partition in partitions {
            loaders.insert(
                partition,
                Loader::new(self.settings.window, bucket).map_err(|e| e.to_string())?,
            );
        }
        let mut open: HashSet<i32> = partitions.iter().copied().collect();
        // Partitions read to their last stable offset, and since when.
        let mut at_stable_end: HashMap<i32, Instant> = HashMap::new();
        let started = Instant::now();
        let mut records = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !open.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "changelog partitions {open:?} were not read to their end within 120 s"
                ));
            }
            match reader.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    records += 1;
                    // Read on: its end is the next end-of-partition.
                    at_stable_end.remove(&partition);
                    match record::parse(message.key(), message.payload()) {
                        Ok(Content::Ids(ids)) => {
                            if let Some(loader) = loaders.get_mut(&partition) {
                                for (id, first_seen) in ids {
                                    loader.push(Fingerprint::from(id), first_seen);
                                }
                            }
                        }
                        Ok(Content::Marker(seen)) if seen == nonce => {
                            open.remove(&partition);
                        }
                        Ok(_) => {}
                        Err(why) => {
                            crate::ops::metrics::dedup_corrupt_record();
                            tracing::warn!(partition, error = %why, "dedup stage: skipped a damaged changelog record");
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition)))
                    if self.settings.transactions == Transactions::On =>
                {
                    at_stable_end.insert(partition, Instant::now());
                }
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(err)) => return Err(err.to_string()),
            }
            // A read_committed reader's end is the last stable offset: short
            // of the log's end while a transaction is open, such as the one
            // of the previous owner's last batch when it froze mid-commit.
            // Its ids must be in the window before this owner reads the
            // intake, or the second copy of an id it published is published
            // again: a partition is read once no transaction is open in it
            // (the last one committed, read on, or aborted).
            at_stable_end.retain(|&partition, &mut since| {
                if reader.context().settled_since(partition, since) {
                    open.remove(&partition);
                    false
                } else {
                    true
                }
            });
        }
        crate::ops::metrics::dedup_load(records, started.elapsed());
        let now = unix_now();
        Ok(loaders
            .into_iter()
            .map(|(partition, loader)| (partition, loader.finish(now)))
            .collect())
    }

    /// Publishes a batch's new events, records their ids and commits.
    fn process(&mut self, batch: &[OwnedMessage]) {
        let now = unix_now();
        let began = (std::time::SystemTime::now(), std::time::Instant::now());
        let mut fresh: Vec<Fresh> = Vec::new();
        let mut in_batch: HashSet<IdHash> = HashSet::new();
        let mut deliveries = Vec::new();
        let mut next: HashMap<i32, i64> = HashMap::new();
        // Counted once the batch is done: a batch read again counts once.
        let mut dropped: Vec<String> = Vec::new();
        // A partition whose window is not loaded yet: nothing of the batch
        // is published until it is, so nothing is published twice.
        if batch
            .iter()
            .any(|message| !self.windows.contains_key(&message.partition()))
        {
            self.rewind(batch);
            return;
        }
        // Self-fencing: past its session timeout (a frozen process, or a long
        // load) Kafka may already have given these partitions to another
        // member. Nothing is published; read again after the next poll,
        // which also hands over what was taken.
        if self.last_poll.elapsed() >= self.settings.session_timeout.mul_f32(0.8) {
            tracing::warn!(
                "dedup stage: no poll within the session timeout; the batch is read again after the next poll"
            );
            self.rewind(batch);
            return;
        }
        if self.settings.transactions == Transactions::On
            && let Err(err) = self.producer.begin_transaction()
        {
            tracing::error!(error = %err, "dedup stage: cannot begin a transaction");
            self.rewind(batch);
            return;
        }
        for message in batch {
            let partition = message.partition();
            next.insert(partition, message.offset() + 1);
            let Some(window) = self.windows.get(&partition) else {
                continue; // every partition's window was checked above
            };
            let routed = match intake::route(message.headers()) {
                Ok(routed) => routed,
                Err(why) => {
                    tracing::warn!(partition, offset = message.offset(), error = %why, "dedup stage: skipped an intake record no hookgate edge wrote");
                    self.counts.unreadable.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let keys = routed.keys;
            // Decided as of the event's receipt, not of this batch: how late
            // the stage gets to it (a load, an outage) changes nothing.
            let received = received_second(message, now);
            let seen = |hash: IdHash| {
                window.contains(Fingerprint::from(hash), received) || in_batch.contains(&hash)
            };
            if seen(keys.id) || keys.replay.is_some_and(seen) {
                dropped.push(routed.source);
                continue;
            }
            in_batch.insert(keys.id);
            if let Some(replay) = keys.replay {
                in_batch.insert(replay);
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(&routed.topic)
                .payload(message.payload().unwrap_or_default())
                .headers(routed.headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(millis) = message.timestamp().to_millis() {
                record = record.timestamp(millis);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((err, _)) => {
                    tracing::warn!(error = %err, "dedup stage: cannot publish; the batch is read again");
                    self.rewind(batch);
                    self.abort();
                    return;
                }
            }
            fresh.push(Fresh {
                partition,
                keys,
                source: routed.source,
                received,
                received_at_millis: message.timestamp().to_millis(),
                trace: crate::ops::spans::enabled()
                    .then(|| {
                        message
                            .headers()
                            .into_iter()
                            .flat_map(rdkafka::message::Headers::iter)
                            .find(|header| header.key == "traceparent")
                            .and_then(|header| header.value)
                            .and_then(crate::ops::spans::ids_of)
                    })
                    .flatten(),
            });
        }
        let acks = self
            .runtime
            .block_on(futures_util::future::join_all(deliveries));
        if acks.iter().any(|ack| !matches!(ack, Ok(Ok(_)))) {
            tracing::warn!(
                "dedup stage: Kafka did not acknowledge every event of a batch; it is read again"
            );
            self.rewind(batch);
            self.abort();
            return;
        }
        // The batch's new ids, one changelog record per partition.
        let mut by_partition: HashMap<i32, Vec<(IdHash, u32)>> = HashMap::new();
        for event in &fresh {
            let ids = by_partition.entry(event.partition).or_default();
            ids.push((event.keys.id, event.received));
            if let Some(replay) = event.keys.replay {
                ids.push((replay, event.received));
            }
        }
        let mut writes = Vec::new();
        for (partition, ids) in &by_partition {
            for chunk in ids.chunks(record::MAX_IDS_PER_RECORD) {
                let key = self.writer.ids_key(self.sequence);
                self.sequence += 1;
                let value = record::encode_ids(chunk);
                match self.producer.send_result(
                    FutureRecord::to(&self.settings.changelog_topic)
                        .partition(*partition)
                        .key(key.as_bytes())
                        .payload(&value),
                ) {
                    Ok(delivery) => writes.push(delivery),
                    Err((err, _)) => {
                        tracing::warn!(error = %err, "dedup stage: cannot write the changelog; the batch is read again");
                        self.rewind(batch);
                        self.abort();
                        return;
                    }
                }
            }
        }
        let offsets = offsets(&self.settings.intake_topic, &next);
        // The ids' acknowledgements first, either way: with none left in
        // flight, committing does not wait on rdkafka's flush, which serves
        // the producer's queue in turns with its polling thread and was
        // measured to add 100 ms to every transaction.
        let written = self
            .runtime
            .block_on(futures_util::future::join_all(writes));
        if self.settings.transactions == Transactions::On {
            // Nothing is committed before `commit_transaction`: a failure
            // up to there aborts, and the batch is read again.
            let offsets_sent = self
                .consumer
                .group_metadata()
                .ok_or_else(|| KafkaError::Global(rdkafka::types::RDKafkaErrorCode::State))
                .and_then(|metadata| {
                    self.producer.send_offsets_to_transaction(
                        &offsets,
                        &metadata,
                        Duration::from_secs(30),
                    )
                });
            if let Err(err) = offsets_sent {
                tracing::warn!(error = %err, "dedup stage: the batch's transaction did not commit; it is read again");
                self.rewind(batch);
                self.abort();
                return;
            }
            match self.commit_transaction() {
                Ok(()) => {}
                Err(KafkaError::Transaction(err)) if err.txn_requires_abort() => {
                    tracing::warn!(error = %err, "dedup stage: the batch's transaction did not commit; it is read again");
                    self.rewind(batch);
                    self.abort();
                    return;
                }
                Err(err) => {
                    // Reading the batch again with windows that lack its ids
                    // would publish it twice if the commit went through.
                    tracing::warn!(error = %err, "dedup stage: a batch's commit ended in doubt; the stage starts anew from what Kafka committed");
                    self.in_doubt = true;
                    return;
                }
            }
            for _ in &written {
                crate::ops::metrics::dedup_write(true);
            }
        } else {
            for ack in &written {
                crate::ops::metrics::dedup_write(matches!(ack, Ok(Ok(_))));
            }
            if written.iter().any(|ack| !matches!(ack, Ok(Ok(_)))) {
                // The events are in Kafka; their ids are not recorded: the
                // next owner would publish them again. Not committed, read
                // again here, they are recognised by the window below.
                tracing::warn!("dedup stage: the changelog did not take a batch's ids");
            }
            if let Err(err) = self
                .consumer
                .commit(&offsets, rdkafka::consumer::CommitMode::Sync)
            {
                tracing::warn!(error = %err, "dedup stage: cannot commit the intake offsets (the partitions may have moved)");
            }
        }
        for event in fresh {
            if let Some(window) = self.windows.get_mut(&event.partition) {
                window.insert(Fingerprint::from(event.keys.id), event.received);
                if let Some(replay) = event.keys.replay {
                    window.insert(Fingerprint::from(replay), event.received);
                }
            }
            self.counts.published.fetch_add(1, Ordering::Relaxed);
            let delay = event.received_at_millis.map_or(Duration::ZERO, |at| {
                Duration::from_millis(
                    u64::try_from(
                        crate::ops::clock::unix_millis(std::time::SystemTime::now()) - at,
                    )
                    .unwrap_or(0),
                )
            });
            if let Some((trace_id, request_span)) = event.trace {
                let mut span = Span::child(
                    "dedup.publish",
                    trace_id,
                    request_span,
                    began.0,
                    began.1.elapsed(),
                );
                span.attributes.push(opentelemetry::KeyValue::new(
                    "hookgate.source",
                    event.source.clone(),
                ));
                crate::ops::spans::record(span);
            }
            crate::ops::metrics::dedup_published(&event.source, delay);
        }
        for source in &dropped {
            crate::ops::metrics::dedup_dropped(source);
        }
        self.counts
            .dropped
            .fetch_add(dropped.len() as u64, Ordering::Relaxed);
        self.report_entries();
    }

    /// Commits the batch's transaction, asking again while librdkafka says
    /// the commit may be retried (a timeout, a coordinator moving).
    fn commit_transaction(&self) -> Result<(), KafkaError> {
        let mut attempts = 0;
        loop {
            match self.producer.commit_transaction(Duration::from_secs(30)) {
                Err(KafkaError::Transaction(err)) if err.is_retriable() && attempts < 5 => {
                    attempts += 1;
                    tracing::warn!(error = %err, attempts, "dedup stage: committing a batch again");
                }
                other => return other,
            }
        }
    }

    fn abort(&self) {
        if self.settings.transactions == Transactions::On {
            let _ = self.producer.abort_transaction(Duration::from_secs(30));
        }
    }

    /// Reads the batch's partitions again from its first offsets.
    fn rewind(&self, batch: &[OwnedMessage]) {
        let mut first: HashMap<i32, i64> = HashMap::new();
        for message in batch {
            first.entry(message.partition()).or_insert(message.offset());
        }
        for (partition, offset) in first {
            let _ = self.consumer.seek(
                &self.settings.intake_topic,
                partition,
                Offset::Offset(offset),
                Duration::from_secs(5),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// When the edge received `message` (its record's timestamp), in Unix
/// seconds, never later than `now` (an edge's clock ahead of this one's
/// would otherwise keep ids past the window).
fn received_second(message: &OwnedMessage, now: u32) -> u32 {
    message
        .timestamp()
        .to_millis()
        .and_then(|millis| u32::try_from(millis / 1000).ok())
        .map_or(now, |at| at.min(now))
}

/// `read_committed` where batches are transactions; elsewhere nothing is
/// ever aborted, and a broker without transactions (tansu) may not serve
/// that isolation level.
fn isolation(settings: &StageSettings) -> &'static str {
    if settings.transactions == Transactions::On {
        "read_committed"
    } else {
        "read_uncommitted"
    }
}

/// The next offset to read in each partition, to commit.
fn offsets(topic: &str, next: &HashMap<i32, i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for (partition, offset) in next {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    list
}
