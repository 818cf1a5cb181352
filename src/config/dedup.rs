//! `[dedup]`: the dedup window, the intake and dedup topics, the consumer
//! group of the dedup stages, and which parts of the pipeline a replica runs.
//! Nothing here changes on a reload: the stage's clients and the edge's
//! window are made at start-up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Problems, topic_layout_problems, topic_rule, valid_topic};

/// `[dedup]`: how long event ids are remembered, the intake topic the edges
/// hand events to, the log-compacted topic that keeps each partition's ids,
/// and the consumer group whose members (the dedup stages) own them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// A repeated id within this window is a duplicate.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Ids the edge remembers of its own recent deliveries at most; beyond
    /// it the oldest are forgotten first (the dedup stage still decides).
    pub max_entries: usize,
    /// The log-compacted topic the dedup stages write each partition's ids
    /// to and rebuild a partition's window from; created at start-up if
    /// missing.
    pub topic: String,
    /// Partitions of the dedup and intake topics when hookgate creates them:
    /// the units of ownership among the dedup stages (at most this many
    /// stages share the work).
    pub partitions: i32,
    /// Replication factor of the dedup topic when hookgate creates it; -1 takes
    /// the cluster's `default.replication.factor`.
    pub replication_factor: i32,
    /// Events per second the whole fleet accepts at peak, if known: at
    /// start-up hookgate says what the dedup stages will hold. 0: unknown.
    pub expected_events_per_second: f64,
    /// Settings of the replicated index that the dedup stage replaced:
    /// accepted so that a configuration written for it still starts, and
    /// named in a warning.
    #[serde(default, rename = "durability", skip_serializing)]
    pub removed_durability: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "fetch_wait", skip_serializing)]
    pub removed_fetch_wait: Option<serde::de::IgnoredAny>,
    /// The topic edges hand verified events to, partitioned by dedup key
    /// (`partitions` of them, as many as the dedup topic has).
    pub intake_topic: String,
    /// How long the intake topic keeps an event once hookgate created it:
    /// how long the dedup stages may be down before an acknowledged event
    /// is lost.
    #[serde(with = "humantime_serde")]
    pub intake_retention: Duration,
    /// The consumer group of the dedup stages on `intake_topic`.
    pub group: String,
    /// Static membership: a name of this replica's own that stays the same
    /// across its restarts (a pod's name; `env:NAME` reads it from the
    /// environment), so a restart keeps its partitions instead of moving
    /// them twice. Unset: dynamic membership.
    pub instance_id: Option<String>,
    /// Whether a dedup stage's batch (its events, its ids, its intake
    /// offsets) is one Kafka transaction: `auto` where the broker has them.
    pub transactions: Transactions,
    /// Intake records one batch of the stage takes at most.
    pub batch_max: usize,
    /// How long a dedup stage may go without a word to the group before
    /// Kafka gives its partitions to another (the consumer's
    /// `session.timeout.ms`); it stops publishing before that.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Whether this process runs a dedup stage beside its edge (`all`),
    /// only receives webhooks (`edge`) while stages elsewhere publish, or
    /// only runs a stage (`dedup`).
    pub role: Role,
}

/// `dedup.role` (or `serve --role`): which parts of the pipeline a replica
/// runs.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Edge and dedup stage in one process: one replica needs nothing else.
    #[default]
    All,
    /// Receives, verifies and hands events to the intake topic only.
    Edge,
    /// Runs the dedup stage only: publishes from the intake topic, and its
    /// webhook port answers health checks, nothing else.
    Dedup,
}

impl Role {
    /// Whether this replica receives webhooks.
    pub fn receives_webhooks(self) -> bool {
        self != Self::Dedup
    }

    /// Whether this replica runs a dedup stage.
    pub fn runs_stage(self) -> bool {
        self != Self::Edge
    }
}

/// `dedup.transactions`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transactions {
    /// Where the broker takes them (Apache Kafka), with the cooperative
    /// assignor; elsewhere (tansu) without, with an eager one.
    #[default]
    Auto,
    /// Always; a broker without them stops the stage at start-up.
    On,
    /// Never: a stage's crash can publish its last batch again.
    Off,
}

/// Memory per id of a dedup stage's window, measured at 200 M ids
/// (`docs/benchmarks.md`), rounded up.
pub const DEDUP_BYTES_PER_ID: f64 = 11.0;
/// Ids a stage loads per second from the dedup topic when it takes a
/// partition, a conservative figure of those measured (`docs/benchmarks.md`).
pub const DEDUP_LOAD_IDS_PER_SEC: f64 = 2_000_000.0;

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(72 * 3600),
            max_entries: 10_000_000,
            topic: "hookgate.dedup".into(),
            partitions: 6,
            replication_factor: -1,
            expected_events_per_second: 0.0,
            removed_durability: None,
            removed_fetch_wait: None,
            intake_topic: "hookgate.intake".into(),
            intake_retention: Duration::from_secs(7 * 24 * 3600),
            group: "hookgate.dedup".into(),
            instance_id: None,
            transactions: Transactions::Auto,
            batch_max: 500,
            session_timeout: Duration::from_secs(10),
            role: Role::All,
        }
    }
}

impl DedupConfig {
    /// Every problem with `[dedup]`, each naming its field; `source_topics`
    /// are the topics `[[sources]]` publish to, which neither dedup topic may be.
    pub(super) fn check(&self, source_topics: &[&str], problems: &mut Problems<'_>) {
        if self.window < Duration::from_secs(1) {
            problems.add("window", "must be at least 1s");
        }
        if self.max_entries == 0 {
            problems.add("max_entries", "must be at least 1");
        }
        if self.intake_retention < Duration::from_secs(3600) {
            problems.add(
                "intake_retention",
                format!(
                    "{:?} leaves the dedup stages too little time to publish what was acknowledged: give at least 1h",
                    self.intake_retention
                ),
            );
        }
        if self.batch_max == 0 {
            problems.add("batch_max", "must be at least 1");
        }
        // Kafka's own bounds (group.min/max.session.timeout.ms by default).
        if !(Duration::from_secs(6)..=Duration::from_secs(300)).contains(&self.session_timeout) {
            problems.add(
                "session_timeout",
                format!(
                    "{:?} is outside what brokers accept by default: give 6s to 300s",
                    self.session_timeout
                ),
            );
        }
        if !valid_topic(&self.intake_topic) {
            problems.add("intake_topic", topic_rule(&self.intake_topic));
        } else if self.intake_topic == self.topic
            || source_topics.contains(&self.intake_topic.as_str())
        {
            problems.add(
                "intake_topic",
                format!(
                    "{:?} is also the dedup topic or a source's event topic",
                    self.intake_topic
                ),
            );
        }
        if !valid_topic(&self.topic) {
            problems.add("topic", topic_rule(&self.topic));
        } else if source_topics.contains(&self.topic.as_str()) {
            problems.add(
                "topic",
                format!("{:?} is also a source's event topic", self.topic),
            );
        }
        let rate = self.expected_events_per_second;
        if !rate.is_finite() || rate < 0.0 {
            problems.add(
                "expected_events_per_second",
                format!("{rate}: use 0 (unknown) or a positive rate"),
            );
        }
        for (field, message) in topic_layout_problems(
            ("partitions", self.partitions),
            ("replication_factor", self.replication_factor),
        ) {
            problems.add(field, message);
        }
    }

    /// What the dedup stages will hold, and settings that are no longer used.
    pub(super) fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let ids = self.expected_events_per_second * self.window.as_secs_f64();
        if ids > 0.0 {
            warnings.push(format!(
                "dedup: at {} events/s the dedup stages together hold {:.0} ids of a {:.1} h window \
                 (about {:.1} GiB of memory, {:.0} s to load, divided among the replicas that run a stage; \
                 each id twice for sources with the replay guard); at most dedup.partitions = {} stages share it",
                self.expected_events_per_second,
                ids.ceil(),
                self.window.as_secs_f64() / 3600.0,
                ids * DEDUP_BYTES_PER_ID / f64::from(1u32 << 30),
                ids / DEDUP_LOAD_IDS_PER_SEC,
                self.partitions,
            ));
        }
        if self.removed_durability.is_some() {
            warnings.push("dedup.durability is no longer used and can be removed: a 2xx always means the event is in the intake topic, which is the durable record".into());
        }
        if self.removed_fetch_wait.is_some() {
            warnings.push("dedup.fetch_wait is no longer used and can be removed: replicas no longer follow each other's ids".into());
        }
        warnings
    }
}
