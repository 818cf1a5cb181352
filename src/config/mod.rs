//! Typed configuration: defaults, the TOML file, and validation that reports every
//! problem at once, each naming its field. The only reader of the config file.

pub mod secret;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::edge::tls::TlsConfig;
use crate::pipeline::client_addr::{Cidr, ForwardedHeader, IpSet, TrustedProxies};
use crate::pipeline::locate::Locator;
use crate::pipeline::quarantine::QuarantineConfig;
use crate::pipeline::rate_limit::RateLimitConfig;
use crate::pipeline::route::{EVENT_PLACEHOLDER, topic_for};
use crate::verify::{HmacOptions, TokenOptions, VerifierKind};

/// The whole configuration, as written in the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub dedup: DedupConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub quarantine: QuarantineConfig,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// The folder of the config file; `file:` secrets are relative to it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[server]`: the webhook listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the webhook listener binds.
    pub listen: SocketAddr,
    /// Largest request body accepted, unless a source sets its own.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole body once headers arrived.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Time allowed from a connection's opening, or from the end of its
    /// previous response, until a request's headers have arrived; silent and
    /// slow connections are closed.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Open connections at most; beyond, a new one is answered 503 at once.
    pub max_connections: usize,
    /// Open connections from one client address at most (0: no limit, for
    /// hookgate behind a load balancer, whose address every client shares).
    pub max_connections_per_client: usize,
    /// Requests handled at once, at most; beyond, 503 `overloaded` at once.
    pub max_requests_in_flight: usize,
    /// Requests of one client handled at once, at most (0: no limit, as for
    /// `max_connections_per_client`); beyond, 503 `client_limit` for that
    /// client only. HTTP/2 streams count one each.
    pub max_requests_in_flight_per_client: usize,
    /// Request body bytes held at once across all requests, at most, counted
    /// as they arrive; beyond, 503 `overloaded`.
    pub max_buffered_body_bytes: usize,
    /// Request body bytes one client may hold at once (0: no limit); beyond,
    /// 503 `client_limit` for that client only.
    pub max_buffered_body_bytes_per_client: usize,
    /// The IPv6 prefix length that limits per client count as one client
    /// (an IPv6 host usually has a whole /64).
    pub ipv6_client_prefix: u8,
    /// How long a connection with no request open may stay, whatever
    /// keep-alive pings it answers; HTTP/1.1 connections are closed sooner,
    /// by `header_timeout`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// Bytes of request headers, at most, on HTTP/2 (also the bound on
    /// CONTINUATION frames).
    pub max_header_bytes: u32,
    /// Headers in one HTTP/1.1 request, at most; beyond, 431.
    pub max_headers: usize,
    /// How often an idle HTTP/2 connection is pinged, so that a peer gone
    /// silent does not keep its place.
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_interval: Duration,
    /// How long the answer to a ping may take before the connection is closed.
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_timeout: Duration,
    /// Streams an HTTP/2 client may reset before their answers are sent, at
    /// most; beyond, the connection is closed (the "rapid reset" attack,
    /// CVE-2023-44487).
    pub http2_max_pending_resets: usize,
    /// Whether an unreachable Kafka cluster makes `/readyz` say not ready. Off:
    /// a Kafka outage would take every replica out of rotation at once, and
    /// providers would get the load balancer's 502 instead of hookgate's 503
    /// with `Retry-After`.
    pub readiness_requires_kafka: bool,
    /// On SIGTERM, how long requests in flight may take to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Async worker threads; 0 means one per CPU core. librdkafka runs threads
    /// of its own beside them.
    pub workers: usize,
    /// HTTPS on `listen` with this certificate and key; plain HTTP without it
    /// (behind a load balancer that terminates TLS).
    pub tls: Option<TlsConfig>,
    /// Peers whose forwarding header names the client (load balancers,
    /// reverse proxies): CIDR ranges or addresses. Empty: the socket's
    /// address is the client, whatever the request says.
    pub trusted_proxies: Vec<Parsed<Cidr>>,
    /// The header `trusted_proxies` write the client's address to.
    pub client_address_header: ForwardedHeader,
}

impl ServerConfig {
    /// `trusted_proxies` and `client_address_header`, as the server reads them.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(
            IpSet::new(
                self.trusted_proxies
                    .iter()
                    .filter_map(|range| range.value().copied()),
            ),
            self.client_address_header,
        )
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_client: 1_000,
            max_requests_in_flight: 8_192,
            max_requests_in_flight_per_client: 1_024,
            max_buffered_body_bytes: 256 * 1024 * 1024,
            max_buffered_body_bytes_per_client: 32 * 1024 * 1024,
            ipv6_client_prefix: crate::pipeline::client_addr::DEFAULT_IPV6_CLIENT_PREFIX,
            idle_timeout: Duration::from_secs(30),
            http2_max_concurrent_streams: 100,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            http2_keep_alive_interval: Duration::from_secs(20),
            http2_keep_alive_timeout: Duration::from_secs(10),
            http2_max_pending_resets: 20,
            readiness_requires_kafka: false,
            shutdown_grace: Duration::from_secs(15),
            workers: 0,
            tls: None,
            trusted_proxies: Vec::new(),
            client_address_header: ForwardedHeader::default(),
        }
    }
}

/// The broker list that starts librdkafka's in-process mock cluster instead.
pub const EMBEDDED_BROKERS: &str = "embedded";
/// The broker list that publishes nowhere: every event is acknowledged at once
/// and kept nowhere, for measuring hookgate itself. Never for real traffic.
pub const NULL_BROKERS: &str = "null";

/// `[kafka]`: where verified events go. Its `Debug` leaves out the values of
/// `client` and `producer`, which may be secrets.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`, or `embedded` for an in-memory
    /// mock cluster (not durable: for trying hookgate out).
    pub brokers: String,
    /// How long a request may wait for Kafka, all told, before it is answered
    /// 503. Keep it below the providers' timeouts (Slack's is 3 s). Read it
    /// with [`KafkaConfig::produce_timeout`].
    #[serde(default, with = "humantime_serde")]
    produce_timeout: Option<Duration>,
    /// The same in milliseconds: the spelling before durations were written
    /// as durations, still read (with a warning) so old files keep working.
    #[serde(default)]
    produce_timeout_ms: Option<u64>,
    /// `Retry-After` sent with a 503 or 409, in whole seconds. Read it with
    /// [`KafkaConfig::retry_after_secs`].
    #[serde(default, with = "humantime_serde")]
    retry_after: Option<Duration>,
    /// The same in seconds: the older spelling, still read with a warning.
    #[serde(default)]
    retry_after_secs: Option<u32>,
    /// The producer's `client.id`.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Create the sources' topics at start-up when they are missing.
    #[serde(default = "default_true")]
    pub create_topics: bool,
    /// Partitions of a source topic hookgate creates.
    #[serde(default = "default_topic_partitions")]
    pub topic_partitions: i32,
    /// Replication factor of a source topic hookgate creates; -1 takes the
    /// cluster's `default.replication.factor`.
    #[serde(default = "default_replication_factor")]
    pub topic_replication_factor: i32,
    /// librdkafka properties for every client hookgate makes (the event producer,
    /// the dedup topic's producer and consumer, the admin client): security,
    /// SASL, TLS and the like. A value written `env:NAME` or `file:PATH` is
    /// read from there at load, as webhook secrets are (`sasl.password`).
    #[serde(default)]
    pub client: BTreeMap<String, String>,
    /// librdkafka properties for the event producer only, passed through as they are.
    #[serde(default)]
    pub producer: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}
fn default_topic_partitions() -> i32 {
    6
}
fn default_replication_factor() -> i32 {
    -1
}
const DEFAULT_PRODUCE_TIMEOUT: Duration = Duration::from_millis(2500);
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
const PRODUCE_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(120);
fn default_client_id() -> String {
    "hookgate".into()
}

/// librdkafka properties hookgate sets itself because its guarantees rest on them.
pub const RESERVED_PRODUCER_PROPERTIES: [&str; 6] = [
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("produce_timeout", &self.produce_timeout())
            .field("client", &self.client.keys().collect::<Vec<_>>())
            .field("producer", &self.producer.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KafkaConfig {
    /// Replaces each `env:NAME` or `file:PATH` value of `[kafka.client]` and
    /// `[kafka.producer]` with what it names; an error names the property,
    /// never a value.
    fn resolve_references(&mut self, base_dir: &Path) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (table, properties) in [
            ("kafka.client", &mut self.client),
            ("kafka.producer", &mut self.producer),
        ] {
            for (key, value) in properties.iter_mut() {
                match crate::config::secret::resolve_setting(value, base_dir) {
                    Ok(resolved) => *value = resolved,
                    Err(message) => errors.push(FieldError {
                        field: format!("{table}.\"{key}\""),
                        message,
                    }),
                }
            }
        }
        errors
    }

    pub fn is_embedded(&self) -> bool {
        self.brokers == EMBEDDED_BROKERS
    }

    /// Whether events go nowhere (`brokers = "null"`), for benchmarks.
    pub fn is_null(&self) -> bool {
        self.brokers == NULL_BROKERS
    }

    /// The most a request waits on Kafka (`produce_timeout`, or the older
    /// `produce_timeout_ms`); also librdkafka's `message.timeout.ms`.
    pub fn produce_timeout(&self) -> Duration {
        self.produce_timeout
            .or(self.produce_timeout_ms.map(Duration::from_millis))
            .unwrap_or(DEFAULT_PRODUCE_TIMEOUT)
    }

    /// Seconds sent in `Retry-After` (`retry_after`, or the older `retry_after_secs`).
    pub fn retry_after_secs(&self) -> u32 {
        self.retry_after_secs.unwrap_or_else(|| {
            let retry_after = self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
            u32::try_from(retry_after.as_secs()).unwrap_or(u32::MAX)
        })
    }

    /// The older spellings in use, each with the one that replaces it.
    fn deprecated_fields(&self) -> Vec<(&'static str, &'static str)> {
        let mut found = Vec::new();
        if self.produce_timeout_ms.is_some() {
            found.push(("kafka.produce_timeout_ms", "kafka.produce_timeout"));
        }
        if self.retry_after_secs.is_some() {
            found.push(("kafka.retry_after_secs", "kafka.retry_after"));
        }
        found
    }
}

/// `[dedup]`: how long event ids are remembered, the intake topic the edges
/// hand events to, the log-compacted topic that keeps each partition's ids,
/// and the consumer group whose members (the dedup stages) own them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
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
    #[serde(default, rename = "durability")]
    pub removed_durability: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "fetch_wait")]
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
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
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
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
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

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` here; a separate port from webhooks so it is never exposed with them.
    pub listen: SocketAddr,
    /// Set false to serve no metrics.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            enabled: true,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` or `logfmt` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `hookgate=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    Logfmt,
}

/// `[[sources]]`: one provider endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Names the source in metrics, logs and Kafka headers.
    pub name: String,
    /// The URL path providers POST to.
    pub path: String,
    /// The only client addresses (CIDR ranges or addresses) this source
    /// takes requests from; any if unset. Checked before the body is read.
    pub allow: Option<Vec<Parsed<Cidr>>>,
    /// The signature scheme.
    pub verifier: VerifierKind,
    /// `env:NAME` or `file:PATH`; several while a secret is being rotated.
    pub secrets: Vec<String>,
    /// The Kafka topic events are published to; with `{event}` in it, a topic
    /// per event type from `events`.
    pub topic: String,
    /// The event types a `{event}` topic routes; others go to `fallback_topic`
    /// or are refused.
    pub events: Option<Vec<String>>,
    /// Where a `{event}` source's unlisted event types go.
    pub fallback_topic: Option<String>,
    /// Where requests this source refuses after reading their body are kept
    /// (with their headers, reason and client) for `hookgate redrive`.
    pub quarantine_topic: Option<String>,
    /// Overrides the scheme's event type location: `header:NAME` or `json:/pointer`.
    pub event_type: Option<Parsed<Locator>>,
    /// Overrides `server.max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// Overrides the timestamp tolerance of timestamped schemes: the provider's
    /// own where it documents one (Paddle 5 s, Calendly 3 min), else 300 s.
    #[serde(default, with = "humantime_serde")]
    pub tolerance: Option<Duration>,
    /// Overrides the scheme's event id location: `header:NAME`, `json:/pointer`
    /// or `body-sha256`.
    pub event_id: Option<Parsed<Locator>>,
    /// The Kafka record key.
    #[serde(default)]
    pub key: KeyMode,
    /// Overrides the scheme's list of provider headers copied to Kafka headers.
    pub forward_headers: Option<Vec<Parsed<http::HeaderName>>>,
    /// Options of the `hmac` verifier.
    pub hmac: Option<HmacOptions>,
    /// Where a `token` source's sender puts its token.
    pub token: Option<TokenOptions>,
    /// The URL the provider was given for this source, for schemes that sign
    /// it (Square): as the provider sees it, before any proxy.
    pub public_url: Option<String>,
    /// Requests a second this source accepts; unlimited if unset.
    pub rate_limit: Option<RateLimitConfig>,
    /// Log each request's body (up to 4 KiB), for debugging a sender. Bodies
    /// carry customer data: leave it off in production.
    #[serde(default)]
    pub log_bodies: bool,
    /// Treat a delivery whose signed content (the body, or Mailgun's token)
    /// was already accepted within the dedup window as a duplicate, whatever
    /// its event id; the scheme's default where unset.
    pub replay_guard: Option<bool>,
}

/// What keys a source's Kafka records.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// The event id, so every copy of an event lands in one partition, in order.
    #[default]
    EventId,
    /// No key: records spread over partitions.
    None,
}

/// A value written as text in the configuration, parsed once, when the file
/// is read: [`Config::validate`] reports a value that does not parse, with its
/// field, among every other problem; everything after uses the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    text: String,
    value: Result<T, String>,
}

impl<T> Parsed<T> {
    /// The parsed value; `None` only in a configuration that failed validation.
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }

    fn error(&self) -> Option<&str> {
        self.value.as_ref().err().map(String::as_str)
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value = text.parse().map_err(|err: T::Err| err.to_string());
        Ok(Self { text, value })
    }
}

/// A problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<crate::edge::tls::TlsError> for FieldError {
    fn from(err: crate::edge::tls::TlsError) -> Self {
        Self {
            field: err.field().to_owned(),
            message: err.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has {} error(s):\n{}", .errors.len(), list(.errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a source may not publish to the dedup topic.
fn dedup_topic_taken(topic: &str) -> String {
    format!(
        "{topic:?} is the dedup topic (dedup.topic): events there would be read as dedup records"
    )
}

impl Config {
    /// Reads and parses a config file, then checks every field that can be checked
    /// without building sources (see [`crate::pipeline::source::Sources::build`] for the rest).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        config.base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut errors = config.validate();
        let base_dir = config.base_dir.clone();
        errors.extend(config.kafka.resolve_references(&base_dir));
        // A pod's name, say, from its environment: `env:POD_NAME`.
        if let Some(instance) = &mut config.dedup.instance_id {
            match crate::config::secret::resolve_setting(instance, &base_dir) {
                Ok(resolved) => *instance = resolved.trim().to_owned(),
                Err(message) => errors.push(FieldError {
                    field: "dedup.instance_id".into(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                errors,
            })
        }
    }

    /// Parses TOML text; the message carries the line and the offending key.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }

    /// Settings that are valid but will not do what they seem to: said at
    /// start-up and by `check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let dedup = &self.dedup;
        let ids = dedup.expected_events_per_second * dedup.window.as_secs_f64();
        if ids > 0.0 {
            warnings.push(format!(
                "dedup: at {} events/s the dedup stages together hold {:.0} ids of a {:.1} h window \
                 (about {:.1} GiB of memory, {:.0} s to load, divided among the replicas that run a stage; \
                 each id twice for sources with the replay guard); at most dedup.partitions = {} stages share it",
                dedup.expected_events_per_second,
                ids.ceil(),
                dedup.window.as_secs_f64() / 3600.0,
                ids * DEDUP_BYTES_PER_ID / f64::from(1u32 << 30),
                ids / DEDUP_LOAD_IDS_PER_SEC,
                dedup.partitions,
            ));
        }
        if dedup.removed_durability.is_some() {
            warnings.push("dedup.durability is no longer used and can be removed: a 2xx always means the event is in the intake topic, which is the durable record".into());
        }
        if dedup.removed_fetch_wait.is_some() {
            warnings.push("dedup.fetch_wait is no longer used and can be removed: replicas no longer follow each other's ids".into());
        }
        for (old, new) in self.kafka.deprecated_fields() {
            warnings.push(format!(
                "{old} is the older spelling of {new}: write {new} as a duration (\"2500ms\", \"5s\")"
            ));
        }
        warnings
    }

    /// Every problem found, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };

        if self.server.max_body_bytes == 0 {
            fail("server.max_body_bytes", "must be at least 1".into());
        }
        for (field, value) in [
            ("server.max_connections", self.server.max_connections),
            (
                "server.max_requests_in_flight",
                self.server.max_requests_in_flight,
            ),
            (
                "server.http2_max_concurrent_streams",
                self.server.http2_max_concurrent_streams as usize,
            ),
            (
                "server.max_header_bytes",
                self.server.max_header_bytes as usize,
            ),
            ("server.max_headers", self.server.max_headers),
            (
                "server.http2_max_pending_resets",
                self.server.http2_max_pending_resets,
            ),
        ] {
            if value == 0 {
                fail(field, "must be at least 1".into());
            }
        }
        if self.server.max_buffered_body_bytes < self.server.max_body_bytes {
            fail(
                "server.max_buffered_body_bytes",
                format!(
                    "{} is less than server.max_body_bytes ({}): no body of the largest size could be read",
                    self.server.max_buffered_body_bytes, self.server.max_body_bytes
                ),
            );
        }
        let per_client_bytes = self.server.max_buffered_body_bytes_per_client;
        if per_client_bytes != 0 && per_client_bytes < self.server.max_body_bytes {
            fail(
                "server.max_buffered_body_bytes_per_client",
                format!(
                    "{per_client_bytes} is less than server.max_body_bytes ({}): no client could send a body of the largest size (0 turns the share off)",
                    self.server.max_body_bytes
                ),
            );
        }
        if self.server.ipv6_client_prefix == 0 || self.server.ipv6_client_prefix > 128 {
            fail(
                "server.ipv6_client_prefix",
                format!(
                    "{} is not an IPv6 prefix length: give 1 to 128 (64 counts each /64 as one client)",
                    self.server.ipv6_client_prefix
                ),
            );
        }
        for (field, value) in [
            ("server.body_timeout", self.server.body_timeout),
            ("server.header_timeout", self.server.header_timeout),
            ("server.idle_timeout", self.server.idle_timeout),
            (
                "server.http2_keep_alive_interval",
                self.server.http2_keep_alive_interval,
            ),
            (
                "server.http2_keep_alive_timeout",
                self.server.http2_keep_alive_timeout,
            ),
        ] {
            if value.is_zero() {
                fail(field, "must be longer than 0s".into());
            }
        }

        if self.kafka.brokers.trim().is_empty() {
            fail(
                "kafka.brokers",
                "list at least one host:port, or `embedded`".into(),
            );
        }
        let kafka = &self.kafka;
        for (old, new, both) in [
            (
                "kafka.produce_timeout_ms",
                "kafka.produce_timeout",
                kafka.produce_timeout.is_some() && kafka.produce_timeout_ms.is_some(),
            ),
            (
                "kafka.retry_after_secs",
                "kafka.retry_after",
                kafka.retry_after.is_some() && kafka.retry_after_secs.is_some(),
            ),
        ] {
            if both {
                fail(old, format!("is the older spelling of {new}; keep one"));
            }
        }
        let produce_timeout_field = if kafka.produce_timeout_ms.is_some() {
            "kafka.produce_timeout_ms"
        } else {
            "kafka.produce_timeout"
        };
        if !PRODUCE_TIMEOUT_RANGE.contains(&kafka.produce_timeout()) {
            fail(
                produce_timeout_field,
                format!("{:?} is outside 100ms..=120s", kafka.produce_timeout()),
            );
        }
        if let Some(retry_after) = kafka.retry_after
            && (retry_after.subsec_nanos() != 0 || retry_after > Duration::from_secs(86_400))
        {
            fail(
                "kafka.retry_after",
                format!("{retry_after:?}: Retry-After is sent in whole seconds, from 0s to 24h"),
            );
        }
        for (table, properties) in [
            ("kafka.client", &self.kafka.client),
            ("kafka.producer", &self.kafka.producer),
        ] {
            for key in properties.keys() {
                if RESERVED_PRODUCER_PROPERTIES.contains(&key.as_str()) {
                    fail(
                        &format!("{table}.\"{key}\""),
                        "is set by hookgate (idempotent, acks=all, timeout from kafka.produce_timeout) and may not be overridden".into(),
                    );
                }
            }
        }

        for (field, message) in topic_layout_problems(
            ("kafka.topic_partitions", self.kafka.topic_partitions),
            (
                "kafka.topic_replication_factor",
                self.kafka.topic_replication_factor,
            ),
        ) {
            fail(field, message);
        }
        if self.dedup.window < Duration::from_secs(1) {
            fail("dedup.window", "must be at least 1s".into());
        }
        if self.dedup.max_entries == 0 {
            fail("dedup.max_entries", "must be at least 1".into());
        }
        if self.dedup.intake_retention < Duration::from_secs(3600) {
            fail(
                "dedup.intake_retention",
                format!(
                    "{:?} leaves the dedup stages too little time to publish what was acknowledged: give at least 1h",
                    self.dedup.intake_retention
                ),
            );
        }
        if self.dedup.batch_max == 0 {
            fail("dedup.batch_max", "must be at least 1".into());
        }
        // Kafka's own bounds (group.min/max.session.timeout.ms by default).
        if !(Duration::from_secs(6)..=Duration::from_secs(300))
            .contains(&self.dedup.session_timeout)
        {
            fail(
                "dedup.session_timeout",
                format!(
                    "{:?} is outside what brokers accept by default: give 6s to 300s",
                    self.dedup.session_timeout
                ),
            );
        }
        if !valid_topic(&self.dedup.intake_topic) {
            fail("dedup.intake_topic", topic_rule(&self.dedup.intake_topic));
        } else if self.dedup.intake_topic == self.dedup.topic
            || self
                .sources
                .iter()
                .any(|s| s.topic == self.dedup.intake_topic)
        {
            fail(
                "dedup.intake_topic",
                format!(
                    "{:?} is also the dedup topic or a source's event topic",
                    self.dedup.intake_topic
                ),
            );
        }
        if !valid_topic(&self.dedup.topic) {
            fail("dedup.topic", topic_rule(&self.dedup.topic));
        } else if self.sources.iter().any(|s| s.topic == self.dedup.topic) {
            fail(
                "dedup.topic",
                format!("{:?} is also a source's event topic", self.dedup.topic),
            );
        }
        let rate = self.dedup.expected_events_per_second;
        if !rate.is_finite() || rate < 0.0 {
            fail(
                "dedup.expected_events_per_second",
                format!("{rate}: use 0 (unknown) or a positive rate"),
            );
        }
        for (field, message) in topic_layout_problems(
            ("dedup.partitions", self.dedup.partitions),
            ("dedup.replication_factor", self.dedup.replication_factor),
        ) {
            fail(field, message);
        }
        if self.metrics.enabled && self.metrics.listen == self.server.listen {
            fail("metrics.listen", "must differ from server.listen".into());
        }

        if self.sources.is_empty() {
            fail("sources", "define at least one [[sources]]".into());
        }
        let mut names = HashSet::new();
        let mut paths = HashSet::new();
        // Every topic a source publishes events to, which no quarantine may share.
        let event_topics: HashSet<String> = self
            .sources
            .iter()
            .flat_map(|source| {
                if source.topic.contains(EVENT_PLACEHOLDER) {
                    source
                        .events
                        .iter()
                        .flatten()
                        .map(|event| topic_for(&source.topic, event))
                        .chain(source.fallback_topic.clone())
                        .collect::<Vec<_>>()
                } else {
                    vec![source.topic.clone()]
                }
            })
            .collect();
        for (i, source) in self.sources.iter().enumerate() {
            let at = |field: &str| format!("sources[{i}].{field}");
            if !valid_name(&source.name) {
                fail(
                    &at("name"),
                    format!(
                        "{:?}: use 1-64 of a-z, 0-9, '-', '_' or '.', starting with a letter or digit",
                        source.name
                    ),
                );
            } else if !names.insert(source.name.as_str()) {
                fail(
                    &at("name"),
                    format!("{:?} is used by another source", source.name),
                );
            }
            if !source.path.starts_with('/') || source.path.contains(['?', '#', ' ']) {
                fail(
                    &at("path"),
                    format!("{:?} must start with '/' and hold no query", source.path),
                );
            } else if crate::ops::health::PATHS.contains(&source.path.as_str()) {
                fail(
                    &at("path"),
                    format!("{} is reserved for health checks", source.path),
                );
            } else if !paths.insert(source.path.as_str()) {
                fail(
                    &at("path"),
                    format!("{} is used by another source", source.path),
                );
            }
            if !valid_topic(&source.topic.replace(EVENT_PLACEHOLDER, "x")) {
                fail(&at("topic"), topic_rule(&source.topic));
            } else if source.topic.contains(EVENT_PLACEHOLDER) {
                match source.events.as_deref() {
                    None | Some([]) => fail(
                        &at("events"),
                        "a topic with {event} needs the list of event types it routes".into(),
                    ),
                    Some(events) => {
                        for (j, event) in events.iter().enumerate() {
                            let topic = topic_for(&source.topic, event);
                            if event.is_empty() || !valid_topic(&topic) {
                                fail(&at(&format!("events[{j}]")), topic_rule(&topic));
                            } else if topic == self.dedup.topic {
                                fail(&at(&format!("events[{j}]")), dedup_topic_taken(&topic));
                            }
                        }
                    }
                }
                match &source.event_type {
                    Some(parsed) => {
                        if let Some(message) = parsed.error() {
                            fail(&at("event_type"), message.to_owned());
                        }
                    }
                    None if source.verifier.defaults().event_type.is_none() => fail(
                        &at("event_type"),
                        format!(
                            "the {} verifier names no event type: set event_type = \"header:NAME\" or \"json:/pointer\"",
                            source.verifier.name()
                        ),
                    ),
                    None => {}
                }
                if let Some(fallback) = &source.fallback_topic {
                    if !valid_topic(fallback) {
                        fail(&at("fallback_topic"), topic_rule(fallback));
                    } else if *fallback == self.dedup.topic {
                        fail(&at("fallback_topic"), dedup_topic_taken(fallback));
                    }
                }
            } else {
                for (field, set) in [
                    ("events", source.events.is_some()),
                    ("fallback_topic", source.fallback_topic.is_some()),
                    ("event_type", source.event_type.is_some()),
                ] {
                    if set {
                        fail(
                            &at(field),
                            "only used with a topic containing {event}".into(),
                        );
                    }
                }
            }
            if source.secrets.is_empty() {
                fail(&at("secrets"), "at least one secret is required".into());
            }
            if source.max_body_bytes == Some(0) {
                fail(&at("max_body_bytes"), "must be at least 1".into());
            }
            let defaults = source.verifier.defaults();
            if source.tolerance.is_some() && !defaults.timestamped {
                fail(
                    &at("tolerance"),
                    format!("the {} verifier signs no timestamp", source.verifier.name()),
                );
            }
            if let Some(url) = &source.public_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                fail(
                    &at("public_url"),
                    format!("{url:?} must be an absolute http:// or https:// URL"),
                );
            }
            for (table, set, owner) in [
                ("hmac", source.hmac.is_some(), VerifierKind::Hmac),
                ("token", source.token.is_some(), VerifierKind::Token),
            ] {
                if set && source.verifier != owner {
                    fail(
                        &at(table),
                        format!(
                            "only used with verifier = {:?}, not {:?}",
                            owner.name(),
                            source.verifier.name()
                        ),
                    );
                }
            }
            if let Some(message) = source.event_id.as_ref().and_then(Parsed::error) {
                fail(&at("event_id"), message.to_owned());
            }
            for (field, message) in source.rate_limit.iter().flat_map(RateLimitConfig::problems) {
                fail(&at(&format!("rate_limit.{field}")), message);
            }
            for (j, name) in source.forward_headers.iter().flatten().enumerate() {
                if name.error().is_some() {
                    fail(
                        &at(&format!("forward_headers[{j}]")),
                        format!("{:?} is not a valid header name", name.text()),
                    );
                }
            }
            if let Some(topic) = &source.quarantine_topic {
                if !valid_topic(topic) {
                    fail(&at("quarantine_topic"), topic_rule(topic));
                } else if *topic == self.dedup.topic {
                    fail(&at("quarantine_topic"), dedup_topic_taken(topic));
                } else if event_topics.contains(topic.as_str()) {
                    fail(
                        &at("quarantine_topic"),
                        format!(
                            "{topic:?} is a topic sources publish events to: its consumers would read refused, unverified requests as events"
                        ),
                    );
                }
            }
            if let Some(allow) = &source.allow {
                if allow.is_empty() {
                    fail(
                        &at("allow"),
                        "an empty allowlist refuses every request: list the sender's ranges, or leave allow out to take any address".into(),
                    );
                }
                for (j, range) in allow.iter().enumerate() {
                    if let Some(message) = range.error() {
                        fail(&at(&format!("allow[{j}]")), message.to_owned());
                    }
                }
            }
        }
        for (field, message) in self.quarantine.problems() {
            fail(&format!("quarantine.{field}"), message);
        }
        for (j, range) in self.server.trusted_proxies.iter().enumerate() {
            if let Some(message) = range.error() {
                fail(&format!("server.trusted_proxies[{j}]"), message.to_owned());
            }
        }
        if let Some(tls) = &self.server.tls
            && tls.handshake_timeout.is_zero()
        {
            fail(
                "server.tls.handshake_timeout",
                "must be more than 0s".into(),
            );
        }
        errors
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What is wrong with the partitions and replication factor of topics
/// hookgate creates, each with its field.
fn topic_layout_problems(
    (partitions_field, partitions): (&'static str, i32),
    (replication_field, replication): (&'static str, i32),
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !(1..=10_000).contains(&partitions) {
        problems.push((
            partitions_field,
            format!("{partitions} is outside 1..=10000"),
        ));
    }
    if replication == 0 || replication < -1 {
        problems.push((
            replication_field,
            format!("{replication}: use -1 for the cluster default, or 1 and up"),
        ));
    }
    problems
}

fn topic_rule(topic: &str) -> String {
    format!("{topic:?}: a Kafka topic is 1-249 of a-z, A-Z, 0-9, '.', '_', '-'")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [kafka]
        brokers = "127.0.0.1:9092"

        [[sources]]
        name = "github"
        path = "/webhooks/github"
        verifier = "github"
        secrets = ["env:GITHUB_WEBHOOK_SECRET"]
        topic = "webhooks.github"
    "#;

    #[test]
    fn defaults_fill_what_is_not_written() {
        let config = Config::parse(MINIMAL).expect("parses");
        assert!(config.validate().is_empty());
        assert_eq!(config.server.max_body_bytes, 1024 * 1024);
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(2500));
        assert_eq!(config.kafka.retry_after_secs(), 5);
        assert_eq!(config.dedup.window, Duration::from_secs(72 * 3600));
        assert_eq!(config.sources[0].key, KeyMode::EventId);
    }

    #[test]
    fn the_older_millisecond_and_second_spellings_still_work_with_a_warning() {
        let old = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout_ms = 1500\nretry_after_secs = 2",
        );
        let config = Config::parse(&old).expect("parses");
        assert!(config.validate().is_empty());
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(1500));
        assert_eq!(config.kafka.retry_after_secs(), 2);
        let warnings = config.warnings().join("\n");
        assert!(
            warnings.contains(
                "kafka.produce_timeout_ms is the older spelling of kafka.produce_timeout"
            ),
            "{warnings}"
        );
        assert!(
            warnings.contains("kafka.retry_after_secs is the older spelling of kafka.retry_after"),
            "{warnings}"
        );

        let new = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout = \"1500ms\"\nretry_after = \"2s\"",
        );
        let config = Config::parse(&new).expect("parses");
        assert!(config.validate().is_empty() && config.warnings().is_empty());
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(1500));
        assert_eq!(config.kafka.retry_after_secs(), 2);

        let both = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout = \"1s\"\nproduce_timeout_ms = 1000\nretry_after = \"1500ms\"",
        );
        let errors = Config::parse(&both).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["kafka.produce_timeout_ms", "kafka.retry_after"],
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_keys_and_verifiers_are_named() {
        let typo = MINIMAL
            .replace("max_entries", "x")
            .replace("[kafka]", "[kafka]\nbroker = \"x\"");
        let err = Config::parse(&typo).unwrap_err();
        assert!(err.contains("unknown field `broker`"), "{err}");
        let err = Config::parse(
            &MINIMAL.replace("\"github\"\n        secrets", "\"gitlub\"\n        secrets"),
        )
        .unwrap_err();
        assert!(
            err.contains("unknown variant `gitlub`") && err.contains("standard-webhooks"),
            "{err}"
        );
    }

    #[test]
    fn every_error_is_reported_with_its_field() {
        let text = format!(
            "{MINIMAL}
            [[sources]]
            name = \"GitHub\"
            path = \"/webhooks/github\"
            verifier = \"github\"
            secrets = []
            topic = \"bad topic\"
            tolerance = \"5m\"
            event_id = \"json:id\"
            "
        )
        .replace("[kafka]", "[dedup]\nmax_entries = 0\ntopic = \"webhooks.github\"\npartitions = 0\nreplication_factor = 0\n[kafka]\nproduce_timeout = \"5ms\"\nclient = { \"bootstrap.servers\" = \"x\" }\nproducer = { acks = \"1\" }");
        let errors = Config::parse(&text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "kafka.produce_timeout",
                "kafka.client.\"bootstrap.servers\"",
                "kafka.producer.\"acks\"",
                "dedup.max_entries",
                "dedup.topic",
                "dedup.partitions",
                "dedup.replication_factor",
                "sources[1].name",
                "sources[1].path",
                "sources[1].topic",
                "sources[1].secrets",
                "sources[1].tolerance",
                "sources[1].event_id",
            ]
        );
    }

    #[test]
    fn kafka_properties_can_come_from_the_environment_and_files_and_are_not_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("kafka.password"), "from-a-file\n").expect("write");
        let mut kafka: KafkaConfig = toml::from_str(
            "brokers = \"b:9092\"\n[client]\n\"sasl.password\" = \"file:kafka.password\"\n\"sasl.username\" = \"env:HOOKGATE_TEST_UNSET_VARIABLE\"\n\"security.protocol\" = \"sasl_ssl\"\n",
        )
        .expect("parses");
        let errors = kafka.resolve_references(dir.path());
        assert_eq!(kafka.client["sasl.password"], "from-a-file");
        assert_eq!(kafka.client["security.protocol"], "sasl_ssl");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "kafka.client.\"sasl.username\"");
        assert!(errors[0].message.contains("HOOKGATE_TEST_UNSET_VARIABLE"));
        assert!(!format!("{kafka:?}").contains("from-a-file"));
    }

    #[test]
    fn a_quarantine_shares_no_topic_consumers_read_as_events() {
        let text = "[kafka]\nbrokers = \"b:9092\"\n\
            [[sources]]\nname = \"a\"\npath = \"/a\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"gh.{event}\"\nevents = [\"push\"]\nfallback_topic = \"gh.other\"\nquarantine_topic = \"q\"\n\
            [[sources]]\nname = \"b\"\npath = \"/b\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"b\"\nquarantine_topic = \"gh.push\"\n\
            [[sources]]\nname = \"c\"\npath = \"/c\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"c\"\nquarantine_topic = \"gh.other\"\n\
            [[sources]]\nname = \"d\"\npath = \"/d\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"d\"\nquarantine_topic = \"q\"\n";
        let errors = Config::parse(text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        // A quarantine shared by sources is fine; one on an event topic is not.
        assert_eq!(
            fields,
            ["sources[1].quarantine_topic", "sources[2].quarantine_topic"],
            "{errors:?}"
        );
    }

    #[test]
    fn no_route_of_a_source_can_reach_the_dedup_topic() {
        let text = "[kafka]\nbrokers = \"b:9092\"\n[[sources]]\nname = \"s\"\npath = \"/s\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\ntopic = \"hookgate.{event}\"\nevents = [\"push\", \"dedup\"]\nfallback_topic = \"hookgate.dedup\"\n";
        let errors = Config::parse(text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["sources[0].events[1]", "sources[0].fallback_topic"]
        );
        assert!(
            errors[0].message.contains("is the dedup topic"),
            "{errors:?}"
        );
    }

    #[test]
    fn routing_by_event_type_is_checked_field_by_field() {
        let source = |verifier: &str, extra: &str| {
            format!(
                "[kafka]\nbrokers = \"b:9092\"\n[[sources]]\nname = \"s\"\npath = \"/s\"\nverifier = \"{verifier}\"\nsecrets = [\"env:X\"]\n{extra}"
            )
        };
        let fields = |text: String| -> Vec<String> {
            Config::parse(&text)
                .expect("parses")
                .validate()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        let good = source(
            "github",
            "topic = \"gh.{event}\"\nevents = [\"push\", \"x/y\"]\nfallback_topic = \"gh.other\"\n",
        );
        assert!(fields(good).is_empty());
        assert_eq!(
            fields(source("github", "topic = \"gh.{event}\"\n")),
            ["sources[0].events"]
        );
        assert_eq!(
            fields(source("hmac", "topic = \"h.{event}\"\nevents = [\"a\"]\n")),
            ["sources[0].event_type"]
        );
        assert_eq!(
            fields(source(
                "github",
                "topic = \"gh\"\nevents = [\"a\"]\nfallback_topic = \"x\"\n"
            )),
            ["sources[0].events", "sources[0].fallback_topic"]
        );
        assert_eq!(
            fields(source(
                "github",
                "topic = \"gh.{event}\"\nevents = [\"\"]\nfallback_topic = \"bad topic\"\n"
            )),
            ["sources[0].events[0]", "sources[0].fallback_topic"]
        );
    }
}
