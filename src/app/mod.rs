//! The one way to start hookgate: a validated configuration and a listener
//! in, a running gateway and its shutdown out. It chooses the broker (a
//! cluster, the embedded one, or none) once, builds the sources once,
//! assembles the pipeline, starts what runs beside it (the broker probe, the
//! dedup topic's reader, the server), reloads what may change while it serves,
//! and stops them in order. `main`, the integration tests and the benchmarks
//! all start hookgate here.

pub mod reload;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{Config, ConfigError, FieldError};
use crate::dedup::Dedup;
use crate::dedup::keeper::{Cluster, Keeper};
use crate::edge::tls::{Tls, TlsError, TlsMaterial};
use crate::kafka::embedded::EmbeddedKafka;
use crate::kafka::publish::{KafkaPublisher, Publisher};
use crate::kafka::{self, TopicSpec, TopicState};
use crate::ops::admin::Admin;
use crate::ops::health::Health;
use crate::ops::reason::Reload;
use crate::pipeline::ingest::{Gateway, Live};
use crate::pipeline::source::Sources;

/// Why hookgate could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{} error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Sources(Vec<FieldError>),
    #[error("{field}: {0}", field = .0.field())]
    Tls(TlsError),
    /// A librdkafka property this build cannot honour, named by its field.
    #[error("{0}")]
    KafkaClient(String),
    #[error("{field} {addr}: cannot listen: {source}")]
    Listen {
        field: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("cannot start the embedded Kafka: {0}")]
    Embedded(String),
    #[error("kafka: cannot create the event producer: {0}")]
    Producer(String),
}

impl StartError {
    /// Whether the configuration file is at fault (exit code 2, as for every
    /// problem `Config::load` finds), rather than the machine or Kafka.
    pub fn is_config_error(&self) -> bool {
        matches!(self, Self::Sources(_) | Self::Tls(_) | Self::KafkaClient(_))
    }
}

/// What start-up builds from a configuration before anything runs, and what
/// `check-config` checks: the sources with their secrets, the TLS
/// certificate and key, and every Kafka client's properties.
#[derive(Debug)]
pub struct Checked {
    pub sources: Sources,
    tls: Option<Arc<Tls>>,
}

/// Every check start-up makes before it runs anything, for `serve` and
/// `check-config` alike. Connects to nothing.
pub fn check(config: &Config) -> Result<Checked, StartError> {
    let sources = Sources::build(config).map_err(StartError::Sources)?;
    let tls = match &config.server.tls {
        Some(tls) => Some(Arc::new(
            Tls::load(tls, &config.base_dir).map_err(StartError::Tls)?,
        )),
        None => None,
    };
    check_kafka_clients(config).map_err(StartError::KafkaClient)?;
    Ok(Checked { sources, tls })
}

/// Binds `addr`, naming `field` if it cannot.
async fn bind(field: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            field,
            addr,
            source,
        })
}

/// `hookgate serve`'s start: the metrics port first (the recorder every
/// series is registered with, and `/readyz` from the first moment), then
/// the webhook port, then the gateway. Process-wide: the metrics recorder
/// can be installed once.
pub async fn launch(config: &Config) -> Result<App, StartError> {
    let admin = if config.metrics.enabled {
        let listener = bind("metrics.listen", config.metrics.listen).await?;
        let admin = Admin::install().map_err(StartError::Metrics)?;
        admin.serve(listener);
        Some(admin)
    } else {
        None
    };
    let listener = bind("server.listen", config.server.listen).await?;
    let mut app = start(config, listener).await?;
    if let Some(admin) = &admin {
        admin.watch(Arc::clone(app.health()));
    }
    app.admin = admin;
    Ok(app)
}

/// Where events go: chosen once, from `kafka.brokers`.
enum Brokers {
    /// A real cluster at these bootstrap servers.
    Cluster(String),
    /// librdkafka's in-process mock cluster; stops when dropped.
    Embedded(EmbeddedKafka),
    /// Nowhere: every event is acknowledged and thrown away.
    Null,
}

impl Brokers {
    fn choose(config: &Config, sources: &Sources) -> Result<Self, StartError> {
        if config.kafka.is_null() {
            tracing::warn!(
                "kafka.brokers = \"null\": every event is acknowledged and THROWN AWAY. \
                 For measuring hookgate without Kafka only; never point a provider at it."
            );
            Ok(Self::Null)
        } else if config.kafka.is_embedded() {
            let embedded = EmbeddedKafka::start(&sources.topics(), &config.dedup)
                .map_err(|err| StartError::Embedded(err.to_string()))?;
            tracing::warn!(
                bootstrap_servers = %embedded.bootstrap_servers(),
                "kafka.brokers = \"embedded\": events go to an IN-MEMORY mock Kafka cluster and are LOST when hookgate stops. \
                 Not durable; for trying hookgate out only."
            );
            Ok(Self::Embedded(embedded))
        } else {
            Ok(Self::Cluster(config.kafka.brokers.clone()))
        }
    }

    fn bootstrap_servers(&self) -> String {
        match self {
            Self::Cluster(servers) => servers.clone(),
            Self::Embedded(embedded) => embedded.bootstrap_servers(),
            Self::Null => crate::config::NULL_BROKERS.to_owned(),
        }
    }

    /// The embedded cluster's admin API does not answer; its topics are
    /// made when it starts.
    fn creates_topics(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

/// A running hookgate. Dropping it without [`App::shutdown`] stops the
/// server but flushes nothing.
pub struct App {
    /// As started: what a reload compares with to tell what needs a restart.
    config: Config,
    tls: Option<Arc<Tls>>,
    restart_pending: AtomicBool,
    running: Running,
    /// The webhook port; none for a pipeline assembled without one.
    server: Option<Server>,
    /// The metrics port, when [`launch`] started it.
    admin: Option<Admin>,
    /// Last to go: the embedded cluster outlives the clients that use it.
    brokers: Brokers,
}

/// The webhook port's server task.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.server.as_ref().map(|server| server.addr))
            .finish_non_exhaustive()
    }
}

/// Starts hookgate serving on `listener`. Nothing here waits for Kafka: until
/// the dedup topics are made or checked `/readyz` says not ready and webhooks
/// are answered 503. Needs a Tokio runtime, and the metrics recorder installed
/// first if metrics are wanted (the sources register their series here).
pub async fn start(config: &Config, listener: TcpListener) -> Result<App, StartError> {
    let mut app = assemble(config).await?;
    app.serve(listener);
    Ok(app)
}

/// The pipeline and everything beside it, with no port open: requests go in
/// through [`App::gateway`] (`hookgate redrive`, tests). [`App::serve`] opens
/// the webhook port.
pub async fn assemble(config: &Config) -> Result<App, StartError> {
    let Checked { sources, tls } = check(config)?;
    let brokers = Brokers::choose(config, &sources)?;
    let bootstrap_servers = brokers.bootstrap_servers();
    let running = start_pipeline(
        config,
        sources,
        &bootstrap_servers,
        brokers.creates_topics(),
    )?;
    Ok(App {
        config: config.clone(),
        tls,
        restart_pending: AtomicBool::new(false),
        running,
        server: None,
        admin: None,
        brokers,
    })
}

impl App {
    /// Serves webhooks on `listener` until [`App::shutdown`].
    pub fn serve(&mut self, listener: TcpListener) {
        let addr = listener.local_addr().unwrap_or(self.config.server.listen);
        let (stop, stopped) = oneshot::channel::<()>();
        let gateway = Arc::clone(&self.running.gateway);
        let server_config = self.config.server.clone();
        let tls = self.tls.clone();
        let task = tokio::spawn(async move {
            crate::edge::server::run(listener, gateway, &server_config, tls, async {
                let _ = stopped.await;
            })
            .await;
        });
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(listen = %addr, scheme, brokers = %self.bootstrap_servers(), "hookgate is serving webhooks; ready once its dedup topics are made or checked");
        if let Some(old) = self.server.replace(Server { addr, stop, task }) {
            let _ = old.stop.send(());
        }
    }

    /// Where webhooks are served (the configured address while no port is
    /// open).
    pub fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map_or(self.config.server.listen, |server| server.addr)
    }

    /// Readiness, for `/readyz` on the metrics port and for tests.
    pub fn health(&self) -> &Arc<Health> {
        &self.running.health
    }

    /// The pipeline, callable without a socket.
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.running.gateway
    }

    /// The Kafka cluster's bootstrap servers (the embedded cluster's
    /// address when hookgate runs it).
    pub fn bootstrap_servers(&self) -> String {
        self.brokers.bootstrap_servers()
    }

    /// The edge's dedup index.
    pub fn dedup(&self) -> &Dedup {
        &self.running.dedup
    }

    /// Reads the configuration file again and serves new requests with it:
    /// sources (secrets, allowlists, rate limits), trusted proxies and the
    /// TLS certificate and key (read again even when their paths did not
    /// change, for a renewed certificate). Requests in flight finish with
    /// what they began with. A file, source or certificate that is refused
    /// changes nothing; each problem is logged by field. Settings that only a
    /// restart applies are logged and left as they run.
    pub fn reload(&self, path: &Path) -> Reload {
        match self.try_reload(path) {
            Ok(restart_needed) => {
                let pending = !restart_needed.is_empty();
                self.restart_pending.store(pending, Ordering::Relaxed);
                crate::ops::metrics::config_reload(Reload::Applied, pending);
                if pending {
                    tracing::warn!(
                        needs_restart = %restart_needed.join(", "),
                        "configuration reloaded: sources, allowlists, rate limits, trusted proxies and TLS material apply now; the settings named need a restart and keep their running values"
                    );
                } else {
                    tracing::info!("configuration reloaded: new requests are served with it");
                }
                Reload::Applied
            }
            Err(errors) => {
                crate::ops::metrics::config_reload(
                    Reload::Invalid,
                    self.restart_pending.load(Ordering::Relaxed),
                );
                for error in &errors {
                    tracing::error!(field = %error.field, "configuration reload refused: {}", error.message);
                }
                tracing::error!(
                    errors = errors.len(),
                    "configuration reload refused: the running configuration stays"
                );
                Reload::Invalid
            }
        }
    }

    fn try_reload(&self, path: &Path) -> Result<Vec<String>, Vec<FieldError>> {
        let file = Config::load(path).map_err(|err| match err {
            ConfigError::Invalid { errors, .. } => errors,
            other => vec![FieldError {
                field: path.display().to_string(),
                message: other.to_string(),
            }],
        })?;
        let restart_needed = crate::app::reload::restart_needed(&self.config, &file);
        let config = crate::app::reload::applied(&self.config, &file);
        let live = self.running.gateway.live();
        let sources = Sources::rebuild(&config, Some(&live.sources))?;
        // Checked even when TLS waits for a restart: that restart must not
        // find a certificate it cannot use.
        let material = match &config.server.tls {
            Some(tls) => Some(
                TlsMaterial::load(tls, &config.base_dir)
                    .map_err(|err| vec![FieldError::from(err)])?,
            ),
            None => None,
        };
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        let known = live.sources.topics();
        let new_topics: Vec<String> = sources
            .topics()
            .into_iter()
            .filter(|topic| !known.contains(topic))
            .collect();
        if !new_topics.is_empty() {
            if self.brokers.creates_topics() && self.config.kafka.create_topics {
                tokio::spawn(create_topics(
                    kafka::client_config(&self.config.kafka, &self.brokers.bootstrap_servers()),
                    planned_topics(&config, &sources, new_topics),
                    self.config.kafka.topic_partitions,
                    self.config.kafka.topic_replication_factor,
                ));
            } else {
                tracing::warn!(topics = ?new_topics, "the reloaded sources publish to topics hookgate did not create: create them, or their events get 503");
            }
        }
        self.running.gateway.replace(Live {
            sources,
            proxies: config.server.trusted_proxies(),
        });
        if let (Some(tls), Some(material)) = (&self.tls, material) {
            tls.install(material);
        }
        Ok(restart_needed)
    }

    /// Stops accepting, lets requests in flight finish (`server.shutdown_grace`),
    /// writes what is still queued for Kafka, then stops the rest.
    pub async fn shutdown(self) {
        let Self {
            running,
            server,
            brokers,
            ..
        } = self;
        if let Some(server) = server {
            let _ = server.stop.send(());
            let _ = server.task.await;
        }
        running.shutdown().await;
        drop(brokers);
    }
}

/// Creates, and drops at once, every kind of Kafka client hookgate makes, with
/// the configured properties and no bootstrap servers, so that nothing
/// connects: a property this build cannot honour (TLS, a SASL mechanism) or a
/// misspelt one fails here, named, rather than at `serve`.
fn check_kafka_clients(config: &Config) -> Result<(), String> {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;
    if config.kafka.is_null() || config.kafka.is_embedded() {
        return Ok(());
    }
    let field = |err: &rdkafka::error::KafkaError| {
        let key = match err {
            rdkafka::error::KafkaError::ClientConfig(_, _, key, _) => Some(key.as_str()),
            _ => None,
        };
        match key {
            Some(key) if config.kafka.producer.contains_key(key) => {
                format!("kafka.producer.{key:?}")
            }
            Some(key) if config.kafka.client.contains_key(key) => format!("kafka.client.{key:?}"),
            _ => "kafka.client".to_owned(),
        }
    };
    crate::kafka::publish::producer_config(&config.kafka, "")
        .create::<BaseProducer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    kafka::client_config(&config.kafka, "")
        .set("group.id", "hookgate.check-config")
        .create::<BaseConsumer>()
        .map_err(|err| format!("{}: {}", field(&err), kafka::redacted(&err)))?;
    Ok(())
}

/// The pipeline and what runs beside it.
#[derive(Debug)]
struct Running {
    gateway: Arc<Gateway>,
    health: Arc<Health>,
    publisher: Arc<Publisher>,
    dedup: Dedup,
    probe: tokio::task::JoinHandle<()>,
    queue_sampler: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    /// This replica's dedup topics and stage; absent with the null publisher.
    keeper: Option<Keeper>,
}

/// Assembles the pipeline against `bootstrap_servers`. `create_topics` is
/// false for the embedded cluster, whose admin API does not answer (its topics
/// are made there). With `kafka.brokers = "null"` nothing is published and
/// nothing is kept.
fn start_pipeline(
    config: &Config,
    sources: Sources,
    bootstrap_servers: &str,
    creates_topics: bool,
) -> Result<Running, StartError> {
    // A second delivery waits for the first one's outcome a little longer
    // than handing it to Kafka may take, so it normally learns it.
    let wait_limit = config.kafka.produce_timeout() + Duration::from_secs(2);
    let health = Arc::new(Health::new(config.server.readiness_requires_kafka));
    let (publisher, dedup, keeper) = if config.kafka.is_null() {
        // Nothing to replay and nowhere to write: the index lives in memory.
        health.dedup_loaded();
        (
            Publisher::null(),
            Dedup::in_memory(&config.dedup, wait_limit),
            None,
        )
    } else {
        let kafka = KafkaPublisher::new(&config.kafka, bootstrap_servers)
            .map_err(|err| StartError::Producer(kafka::redacted(&err)))?;
        let client = crate::kafka::client_config(&config.kafka, bootstrap_servers);
        if config.kafka.create_topics && creates_topics {
            tokio::spawn(create_topics(
                client.clone(),
                planned_topics(config, &sources, sources.topics()),
                config.kafka.topic_partitions,
                config.kafka.topic_replication_factor,
            ));
        }
        // The edge remembers what it handed over itself, for a while: its
        // own repeats are answered `duplicate` at once. The stage, owner of
        // each id's partition, decides what is published.
        let dedup = Dedup::recent(&config.dedup, wait_limit);
        let keeper = Keeper::start(
            client,
            config.dedup.clone(),
            Cluster {
                creates_topics,
                embedded: config.kafka.is_embedded(),
            },
            Arc::clone(&health),
        );
        (Publisher::Kafka(kafka), dedup, Some(keeper))
    };
    let publisher = Arc::new(publisher);
    crate::ops::metrics::capacities(crate::ops::metrics::Capacities {
        dedup_entries: config.dedup.max_entries,
        connections: config.server.max_connections,
        requests_in_flight: config.server.max_requests_in_flight,
        queue_messages: if config.kafka.is_null() {
            0
        } else {
            crate::kafka::publish::producer_config(&config.kafka, bootstrap_servers)
                .get("queue.buffering.max.messages")
                .and_then(|max| max.parse().ok())
                .unwrap_or(0)
        },
    });
    let probe = publisher.watch(Arc::clone(&health), Duration::from_secs(2));
    let sweeper = dedup.spawn_sweeper();
    let queue_sampler = {
        let publisher = Arc::clone(&publisher);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                crate::ops::metrics::kafka_queue(publisher.queued());
            }
        })
    };
    let gateway = Arc::new(Gateway::new(
        config,
        sources,
        dedup.clone(),
        Arc::clone(&publisher),
        Arc::clone(&health),
    ));
    Ok(Running {
        gateway,
        health,
        publisher,
        dedup,
        probe,
        queue_sampler,
        sweeper,
        keeper,
    })
}

/// A topic to create and the settings it is created with.
type PlannedTopic = (String, Vec<(&'static str, String)>);

/// `topics` with their settings: a quarantine topic is bounded in time and
/// bytes (`[quarantine]`), event topics take the cluster's defaults.
fn planned_topics(config: &Config, sources: &Sources, topics: Vec<String>) -> Vec<PlannedTopic> {
    let quarantines = sources.quarantine_topics();
    topics
        .into_iter()
        .map(|topic| {
            let settings = if quarantines.contains(&topic) {
                crate::pipeline::quarantine::topic_settings(&config.quarantine)
            } else {
                Vec::new()
            };
            (topic, settings)
        })
        .collect()
}

/// Creates the sources' missing topics, retrying while Kafka is unreachable.
/// Publishing does not wait for it: an event for a missing topic gets 503.
/// A topic with settings of its own (a quarantine) that already exists is
/// checked, and the log says which of them it lacks.
async fn create_topics(
    client: rdkafka::ClientConfig,
    topics: Vec<PlannedTopic>,
    partitions: i32,
    replication_factor: i32,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let specs: Vec<TopicSpec<'_>> = topics
            .iter()
            .map(|(name, configs)| TopicSpec {
                name,
                partitions,
                replication_factor,
                configs,
            })
            .collect();
        let options = kafka::admin_options(Duration::from_secs(10));
        let admin = kafka::admin(&client);
        let created = match &admin {
            Ok(admin) => kafka::create_topics(admin, &specs, &options).await,
            Err(err) => Err(err.clone()),
        };
        match created {
            Ok(states) => {
                for (topic, state) in states {
                    match state {
                        TopicState::Created => {
                            tracing::info!(%topic, partitions, "created the topic");
                        }
                        TopicState::Existed => {
                            let wanted = topics
                                .iter()
                                .find(|(name, _)| *name == topic)
                                .map(|(_, settings)| settings.as_slice())
                                .unwrap_or_default();
                            if let (Ok(admin), false) = (&admin, wanted.is_empty()) {
                                check_quarantine_settings(admin, &topic, wanted, &options).await;
                            }
                        }
                        TopicState::Failed(why) => tracing::warn!(
                            %topic,
                            "cannot create the topic ({why}): its events will get 503 until it exists"
                        ),
                    }
                }
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot reach Kafka to create the sources' topics; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Logs which of `wanted` an existing topic lacks: hookgate leaves a topic it
/// did not create as it is.
async fn check_quarantine_settings(
    admin: &rdkafka::admin::AdminClient<kafka::Logged>,
    topic: &str,
    wanted: &[(&'static str, String)],
    options: &rdkafka::admin::AdminOptions,
) {
    match kafka::topic_configs(admin, topic, options).await {
        Ok(actual) => {
            let differences = kafka::config_differences(wanted, &actual);
            if !differences.is_empty() {
                tracing::warn!(
                    %topic,
                    differences = %differences.join("; "),
                    "the quarantine topic exists with settings other than [quarantine] asks for: it may keep more, or less, than quarantine.retention and quarantine.retention_bytes say"
                );
            }
        }
        Err(why) => {
            tracing::warn!(%topic, %why, "cannot read the quarantine topic's settings");
        }
    }
}

impl Running {
    /// After the server stopped: writes what is still queued for Kafka (events
    /// first, then their dedup records), then stops the reader.
    async fn shutdown(self) {
        self.probe.abort();
        self.queue_sampler.abort();
        self.sweeper.abort();
        let Self {
            publisher, keeper, ..
        } = self;
        let flushed =
            tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(5))).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::warn!("some events were still queued for Kafka at exit");
        }
        if let Some(keeper) = keeper {
            keeper.stop().await;
        }
    }
}
