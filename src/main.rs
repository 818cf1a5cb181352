//! The `hookgate` command: the CLI, logs and the metrics port; `serve` hands a
//! loaded configuration and a listener to [`hookgate::app::start`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hookgate::app::{self, StartError};
use hookgate::config::{Config, LogFormat};
use hookgate::edge::tls::TlsMaterial;
use hookgate::kafka::consume::Start;
use hookgate::ops::admin::Admin;
use hookgate::ops::metrics;
use hookgate::pipeline::source::Sources;
use hookgate::tools::forward::{self as forwarding, ForwardRequest};
use hookgate::tools::outbound;
use hookgate::tools::redrive::{self as redriving, RedriveRequest};
use hookgate::tools::send::{self as sending, SendRequest};
use hookgate::tools::tail::{self, TailRequest};
use hookgate::verify::{SchemeOptions, VerifierKind};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tracing_subscriber::EnvFilter;

/// Webhook ingestion gateway: verifies provider signatures, drops duplicates, and
/// publishes each event to Kafka, answering 2xx only after Kafka acknowledged it.
#[derive(Debug, Parser)]
#[command(name = "hookgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The signature scheme, as a source's `verifier` names it.
    #[arg(long)]
    provider: VerifierKind,
    /// The signing key, `env:NAME` or `file:PATH`: the shared secret, or for
    /// discord (hex seed) and sendgrid (PKCS#8 PEM) the private key.
    #[arg(long)]
    secret: String,
    /// Where to POST: a source's URL on a running hookgate, http:// or https://.
    #[arg(long)]
    url: String,
    /// A PEM certificate authority to trust for https:// beside the
    /// system's (a private CA, or a self-signed certificate).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The payload to sign and send, from a file (`-` for stdin); a sample
    /// event in the provider's shape when absent.
    #[arg(long)]
    body: Option<PathBuf>,
    /// The event id; a new one for each run when absent.
    #[arg(long)]
    id: Option<String>,
    /// Send the same signed delivery this many times, as a provider retries.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// The URL the provider signs (square), when it is not --url.
    #[arg(long)]
    public_url: Option<String>,
    /// How long each delivery may wait for its answer (30s, 2m).
    #[arg(long, default_value_t = outbound::DEFAULT_TIMEOUT.into(), value_parser = outbound::parse_timeout)]
    timeout: humantime::Duration,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve webhooks as the config file says, until SIGINT or SIGTERM;
    /// SIGHUP reloads the file (sources, secrets, allowlists, rate limits,
    /// trusted proxies, TLS certificate).
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Which parts to run: `all` (receive webhooks and publish them
        /// once), `edge` (receive only) or `dedup` (publish only); overrides
        /// the file's `dedup.role`.
        #[arg(long, value_enum)]
        role: Option<hookgate::config::Role>,
    },
    /// Check a config file, secrets included, and print a summary; exits non-zero
    /// listing every error, each with its field.
    CheckConfig {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Send a correctly signed delivery for any provider to a URL and print
    /// what it answers; exits non-zero unless every answer is 2xx.
    Send(SendArgs),
    /// Print the records of a topic (key, headers, body) as downstream
    /// consumers receive them.
    ///
    /// Control characters (escape sequences, newlines) are shown as escapes
    /// such as \u{1b}: in keys and headers always, in bodies on a terminal. A
    /// body written to a file or a pipe is as it is.
    Tail {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// The topic to read.
        #[arg(long)]
        topic: String,
        /// Start at the oldest record instead of waiting for new ones.
        #[arg(long)]
        from_beginning: bool,
        /// Stop at the end of the topic instead of following it.
        #[arg(long)]
        no_follow: bool,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
        /// Write keys, headers and bodies as they are, control characters
        /// included (a quarantined forgery's escape sequences reach the
        /// terminal).
        #[arg(long)]
        raw: bool,
    },
    /// POST each record of a topic (events, or a quarantine) to a URL with
    /// its original body and provider headers, and print what it answered:
    /// the `stripe listen --forward-to` of every provider.
    ///
    /// A quarantined request was never verified, so it goes with only what
    /// its provider sends: the headers of its scheme's signature, id and
    /// event type, those the provider documents, Content-Type and User-Agent
    /// (for `token` sources, whose header is configured, and records that do
    /// not name their provider, only the last two), plus each --header; its
    /// query only with --keep-query; and never re-signed.
    Forward(ForwardArgs),
    /// Send a source's quarantined requests through the pipeline again, with
    /// the source's configuration as it is now (after a secret was fixed):
    /// verified again, deduplicated, published. Exits non-zero if any is
    /// still refused.
    Redrive(RedriveArgs),
}

#[derive(Debug, clap::Args)]
struct ForwardArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic to read.
    #[arg(long)]
    topic: String,
    /// Where to POST each record, http:// or https://.
    #[arg(long)]
    to: String,
    /// Where to start: beginning, end (only new records), offset:N, a time
    /// (2026-11-30T12:00:00Z) or a duration ago (2h).
    #[arg(long, default_value = "end")]
    from: Start,
    /// Stop at the end of the topic instead of following it.
    #[arg(long)]
    no_follow: bool,
    /// Stop after this many records.
    #[arg(long)]
    max: Option<u64>,
    /// Sign each delivery anew for the target with this provider's scheme
    /// (needs --resign-secret).
    #[arg(long, requires = "resign_secret")]
    provider: Option<VerifierKind>,
    /// The target's secret, `env:NAME` or `file:PATH` (needs --provider).
    /// Events only: the run stops at a quarantined request, which was never
    /// verified and so is not signed as genuine.
    #[arg(long, requires = "provider")]
    resign_secret: Option<String>,
    /// Send a quarantined request's query string too (it may be anyone's).
    #[arg(long)]
    keep_query: bool,
    /// A quarantined request's header to send beside its provider's own
    /// (such as a `[sources.token]` header); repeatable.
    #[arg(long = "header", value_name = "NAME", value_parser = parse_header_name)]
    headers: Vec<http::HeaderName>,
    /// A PEM certificate authority to trust for https:// beside the system's.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// How long each delivery may wait for its answer before it is reported
    /// without one and the next is sent (30s, 2m).
    #[arg(long, default_value_t = outbound::DEFAULT_TIMEOUT.into(), value_parser = outbound::parse_timeout)]
    timeout: humantime::Duration,
}

/// Where a tool that reads Kafka finds the cluster: the gateway's own
/// settings, so it reaches a cluster with TLS or SASL as the gateway does.
#[derive(Debug, clap::Args)]
struct KafkaArgs {
    /// Bootstrap servers, host:port[,host:port…]; the config file's
    /// `[kafka] brokers` if absent.
    #[arg(long, required_unless_present = "config")]
    brokers: Option<String>,
    /// The gateway's TOML config: its `[kafka] brokers` and `[kafka.client]`
    /// properties (TLS, SASL; `env:` and `file:` values read as the gateway
    /// reads them).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// A librdkafka property over the config's, such as
    /// `security.protocol=sasl_ssl`; a value `env:NAME` or `file:PATH` is read
    /// from there. Repeatable.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

impl KafkaArgs {
    /// The client settings these arguments give.
    fn client(&self) -> Result<rdkafka::ClientConfig, String> {
        let (mut client, brokers) = match &self.config {
            Some(path) => {
                let config = Config::load(path).map_err(|err| err.to_string())?;
                let client = hookgate::kafka::client_config(&config.kafka, &config.kafka.brokers);
                (client, Some(config.kafka.brokers))
            }
            None => (rdkafka::ClientConfig::new(), None),
        };
        for (key, value) in &self.properties {
            let value = hookgate::config::secret::resolve_setting(value, std::path::Path::new("."))
                .map_err(|err| format!("--kafka-property {key}: {err}"))?;
            client.set(key, value);
        }
        match self.brokers.clone().or(brokers) {
            Some(brokers) => client.set("bootstrap.servers", brokers),
            None => return Err("give --brokers or --config".into()),
        };
        Ok(client)
    }

    /// The bootstrap servers, for messages.
    fn brokers(client: &rdkafka::ClientConfig) -> &str {
        client.get("bootstrap.servers").unwrap_or("?")
    }
}

/// `KEY=VALUE`, split at the first `=`.
fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[derive(Debug, clap::Args)]
struct RedriveArgs {
    /// The TOML config file the gateway runs with (the fixed one).
    #[arg(long, short)]
    config: PathBuf,
    /// The source whose quarantined requests to re-drive.
    #[arg(long)]
    source: String,
    /// The quarantine topic; the source's quarantine_topic if absent.
    #[arg(long)]
    from_topic: Option<String>,
    /// Only requests received within this long (2h), or since this time.
    #[arg(long)]
    since: Option<String>,
    /// Only requests refused for this reason (signature_mismatch, …); repeatable.
    #[arg(long)]
    reason: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config: path } => match Config::load(&path)
            .map_err(|e| e.to_string())
            .and_then(|config| {
                let sources = build_sources(&config, &path)?;
                if let Some(tls) = &config.server.tls {
                    TlsMaterial::load(tls, &config.base_dir)
                        .map_err(|err| format!("{} has {}: {err}", path.display(), err.field()))?;
                }
                app::check_kafka_clients(&config)?;
                Ok((config, sources))
            }) {
            Ok((config, sources)) => {
                print_summary(&config, &sources);
                for warning in config.warnings() {
                    println!("warning: {warning}");
                }
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::from(2)
            }
        },
        Command::Send(args) => send(args),
        Command::Tail {
            kafka,
            topic,
            from_beginning,
            no_follow,
            max,
            raw,
        } => {
            let client = match kafka.client() {
                Ok(client) => client,
                Err(message) => {
                    eprintln!("hookgate tail: {message}");
                    return ExitCode::from(2);
                }
            };
            let request = TailRequest {
                client,
                topic,
                from_beginning,
                follow: !no_follow,
                max,
                output: tail::Output::stdout(raw),
            };
            match tail::tail(&request, &mut std::io::stdout().lock()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!(
                        "hookgate tail: reading {} from {}: {err}",
                        request.topic,
                        KafkaArgs::brokers(&request.client)
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Forward(args) => forward(args),
        Command::Redrive(args) => redrive(args),
        Command::Serve { config: path, role } => {
            let config = match Config::load(&path) {
                Ok(mut config) => {
                    if let Some(role) = role {
                        config.dedup.role = role;
                    }
                    config
                }
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(2);
                }
            };
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if config.server.workers > 0 {
                builder.worker_threads(config.server.workers);
            }
            let runtime = match builder.enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config, &path)) {
                Ok(()) => ExitCode::SUCCESS,
                // A source whose secret cannot be read is a configuration
                // error, like those `Config::load` finds.
                Err(ServeError::Config(message)) => {
                    eprintln!("{message}");
                    ExitCode::from(2)
                }
                Err(ServeError::Failed(message)) => {
                    tracing::error!("{message}");
                    eprintln!("hookgate: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn send(args: SendArgs) -> ExitCode {
    let SendArgs {
        provider: kind,
        secret,
        url,
        ca,
        body,
        id,
        repeat,
        public_url,
        timeout,
    } = args;
    let url = url.as_str();
    let fail = |message: String| {
        eprintln!("hookgate send: {message}");
        ExitCode::from(2)
    };
    let secret = match hookgate::config::secret::resolve(&secret, std::path::Path::new(".")) {
        Ok(secret) => secret,
        Err(err) => return fail(format!("--secret: {err}")),
    };
    let payload = match sending::read_payload(body.as_deref()) {
        Ok(payload) => payload,
        Err(message) => return fail(message),
    };
    let event_id = id.unwrap_or_else(sending::fresh_event_id);
    let request = SendRequest {
        kind,
        secret: &secret,
        url,
        payload,
        event_id,
        options: SchemeOptions {
            hmac: None,
            public_url: Some(public_url.as_deref().unwrap_or(url)),
            token: None,
        },
        ca: ca.as_deref(),
        timeout: timeout.into(),
    };
    let delivery = match request.sign() {
        Ok(delivery) => delivery,
        Err(err) => return fail(err.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(request.post(&delivery, repeat.max(1))) {
        Ok(answers) => {
            for answer in &answers {
                println!("HTTP {} {}", answer.status, answer.body);
            }
            if answers.iter().all(|a| (200..300).contains(&a.status)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => fail(err.to_string()),
    }
}

fn forward(args: ForwardArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("hookgate forward: {message}");
        ExitCode::from(2)
    };
    let secret =
        match args.resign_secret.as_deref().map(|reference| {
            hookgate::config::secret::resolve(reference, std::path::Path::new("."))
        }) {
            None => None,
            Some(Ok(secret)) => Some(secret),
            Some(Err(err)) => return fail(format!("--resign-secret: {err}")),
        };
    let client = match args.kafka.client() {
        Ok(client) => client,
        Err(message) => return fail(message),
    };
    let request = ForwardRequest {
        client,
        topic: &args.topic,
        start: args.from,
        follow: !args.no_follow,
        max: args.max,
        to: &args.to,
        resign: args.provider.zip(secret.as_ref()),
        keep_query: args.keep_query,
        extra_headers: &args.headers,
        ca: args.ca.as_deref(),
        timeout: args.timeout.into(),
    };
    match forwarding::forward(&request, &mut std::io::stdout().lock()) {
        Ok(summary) if summary.refused + summary.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => fail(err.to_string()),
    }
}

/// `--header`'s value: an HTTP header name, any case.
fn parse_header_name(name: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("{name:?} is not an HTTP header name"))
}

fn redrive(args: RedriveArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("hookgate redrive: {message}");
        ExitCode::from(2)
    };
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => return fail(err.to_string()),
    };
    let start = match args.since.as_deref().map(str::parse::<Start>) {
        None => Start::Beginning,
        Some(Ok(start)) => start,
        Some(Err(err)) => return fail(format!("--since {err}")),
    };
    let request = RedriveRequest {
        config,
        source: args.source,
        topic: args.from_topic,
        start,
        reasons: args.reason,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the async runtime: {err}")),
    };
    let mut out = std::io::stdout().lock();
    match runtime.block_on(redriving::redrive(request, &mut out)) {
        Ok(summary) if summary.still_refused.is_empty() && summary.truncated == 0 => {
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(err) => fail(err.to_string()),
    }
}

fn build_sources(config: &Config, path: &std::path::Path) -> Result<Sources, String> {
    Sources::build(config)
        .map_err(|errors| format!("{} has {}", path.display(), StartError::Sources(errors)))
}

fn print_summary(config: &Config, sources: &Sources) {
    println!("configuration OK");
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("  listen:  {scheme}://{}", config.server.listen);
    if !config.server.trusted_proxies.is_empty() {
        println!(
            "  proxies: {} trusted range(s), client address from {:?}",
            config.server.trusted_proxies.len(),
            config.server.client_address_header
        );
    }
    println!(
        "  kafka:   {} (produce timeout {:?})",
        config.kafka.brokers,
        config.kafka.produce_timeout()
    );
    println!(
        "  dedup:   window {}, at most {} ids, topic {}",
        humantime::format_duration(config.dedup.window),
        config.dedup.max_entries,
        config.dedup.topic
    );
    if config.metrics.enabled {
        println!("  metrics: http://{}/metrics", config.metrics.listen);
    }
    let mut rows: Vec<_> = sources.iter().collect();
    rows.sort_by_key(|(path, _)| *path);
    for (path, source) in rows {
        println!(
            "  source {:<16} POST {:<28} verifier {:<18} id {:<30} -> {}{}",
            source.name.as_str(),
            path,
            source.kind.name(),
            source.event_id.to_string(),
            source.topic,
            source
                .allow
                .as_ref()
                .map(|allow| format!(" (from {} range(s) only)", allow.len()))
                .unwrap_or_default()
        );
    }
}

/// Why `serve` stopped before its time.
enum ServeError {
    /// Exit code 2, as for every configuration error.
    Config(String),
    Failed(String),
}

impl From<String> for ServeError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

async fn serve(config: Config, path: &std::path::Path) -> Result<(), ServeError> {
    // First: SIGHUP's default action ends the process, and a config
    // reloader may send one while hookgate is still starting.
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let _log_writer = init_logging(&config);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let admin = if config.metrics.enabled {
        let listener = tokio::net::TcpListener::bind(config.metrics.listen)
            .await
            .map_err(|err| {
                format!(
                    "metrics.listen {}: cannot listen: {err}",
                    config.metrics.listen
                )
            })?;
        let prometheus = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &metrics::LATENCY_BUCKETS,
            )
            .and_then(|builder| builder.install_recorder())
            .map_err(|err| format!("metrics: cannot install the Prometheus recorder: {err}"))?;
        metrics::describe();
        let admin = Admin::new(prometheus);
        admin.serve(listener);
        Some(admin)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|err| {
            format!(
                "server.listen {}: cannot listen: {err}",
                config.server.listen
            )
        })?;
    let app = app::start(&config, listener)
        .await
        .map_err(|err| match err {
            StartError::Sources(_) | StartError::Tls(_) => {
                ServeError::Config(format!("{} has {err}", path.display()))
            }
            err => ServeError::Failed(err.to_string()),
        })?;
    if let Some(admin) = &admin {
        admin.watch(Arc::clone(app.health()));
    }
    #[cfg(unix)]
    serve_until_shutdown(&app, path, hangups).await;
    #[cfg(not(unix))]
    shutdown_signal().await;
    app.shutdown().await;
    Ok(())
}

/// Logs go through a non-blocking writer that drops lines rather than stall
/// requests when the output cannot keep up.
fn init_logging(config: &Config) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours for a person at a terminal, never in a file or a collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Logfmt => builder
            .event_format(tracing_logfmt::EventsFormatter::default())
            .init(),
        LogFormat::Text => builder.init(),
    }
    guard
}

/// Waits for SIGINT or SIGTERM, reloading the configuration on each SIGHUP.
#[cfg(unix)]
async fn serve_until_shutdown(
    app: &app::App,
    path: &std::path::Path,
    hangups: std::io::Result<tokio::signal::unix::Signal>,
) {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let Ok(mut hangups) = hangups else {
        tracing::warn!("cannot listen for SIGHUP: reloading needs a restart");
        return shutdown.await;
    };
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            Some(()) = hangups.recv() => {
                tracing::info!(config = %path.display(), "SIGHUP received: reloading the configuration");
                app.reload(path);
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
