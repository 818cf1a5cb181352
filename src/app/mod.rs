//! The one way to start hookgate: a validated configuration in, a running
//! gateway and its shutdown out. [`check`] is what start-up and
//! `check-config` check alike; [`launch`] opens the metrics port and the
//! webhook port and starts the gateway (`serve`); [`assemble`] builds the
//! pipeline with no port open (`redrive`, tests) and [`App::serve`] opens
//! one. The broker is chosen once and the sources built once; what runs
//! beside the pipeline is in `running`, what a reload may change in
//! [`reload`]. `main`, the integration tests and the benchmarks all start
//! hookgate here.

mod check;
pub mod reload;
mod running;
pub mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{Config, ConfigError, FieldError};
use crate::dedup::Dedup;
use crate::edge::tls::{Tls, TlsError, TlsMaterial};
use crate::kafka;
use crate::ops::admin::Admin;
use crate::ops::health::Health;
use crate::ops::reason::Reload;
use crate::pipeline::ingest::{Gateway, Live};
use crate::pipeline::source::Sources;

pub use self::check::{Checked, check};
use self::running::{Brokers, Running, create_topics, planned_topics, start_pipeline};

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
    #[error("{0}")]
    Tracing(String),
    #[error("cannot start the embedded Kafka: {0}")]
    Embedded(String),
    #[error("kafka: cannot create the event producer: {0}")]
    Producer(String),
}

impl StartError {
    /// Whether the configuration file is at fault (exit code 2, as for every
    /// problem `Config::load` finds), rather than the machine or Kafka.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::Sources(_) | Self::Tls(_) | Self::KafkaClient(_) | Self::Tracing(_)
        )
    }
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
/// series is registered with, and `/readyz` from the first moment), the
/// span exporter when `[tracing]` names a collector, then the webhook port,
/// then the gateway. Process-wide: the recorder and the exporter can be
/// installed once.
pub async fn launch(config: &Config) -> Result<App, StartError> {
    let admin = if config.metrics.enabled {
        let listener = bind("metrics.listen", config.metrics.listen).await?;
        let admin = Admin::install().map_err(StartError::Metrics)?;
        crate::kafka::statistics::describe();
        report_limits(config);
        admin.serve(listener);
        Some(admin)
    } else {
        None
    };
    if let Some(endpoint) = &config.tracing.otlp_endpoint {
        crate::ops::spans::install(endpoint, &config.tracing.service_name)
            .map_err(StartError::Tracing)?;
    }
    let listener = bind("server.listen", config.server.listen).await?;
    let mut app = start(config, listener).await?;
    if let Some(admin) = &admin {
        admin.watch(Arc::clone(app.health()));
    }
    app.admin = admin;
    Ok(app)
}

/// What the replica runs under that an alert reads ahead of time: its memory
/// limit, and when the certificate it shows Kafka expires (the edge's is
/// reported as it is loaded, and reloaded).
fn report_limits(config: &Config) {
    crate::ops::metrics::memory_limit(crate::ops::container::memory_limit().unwrap_or(0));
    let client_certificate = config.kafka.client.get("ssl.certificate.location");
    if let Some(path) = client_certificate.filter(|path| !path.trim().is_empty()) {
        match crate::ops::https::read_certificates(std::path::Path::new(path)) {
            Ok(chain) => {
                if let Some(expires_at) = crate::edge::tls::expiry(&chain) {
                    crate::ops::metrics::certificate_expiry("kafka_client", expires_at);
                }
            }
            Err(err) => {
                tracing::warn!(path = %path, "cannot read the Kafka client certificate to report its expiry: {err}")
            }
        }
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
        // The last requests' spans, off the async workers.
        let _ = tokio::task::spawn_blocking(crate::ops::spans::flush).await;
        drop(brokers);
    }
}
