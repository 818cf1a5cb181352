//! The `hookgate` command: loads and checks configuration, sets up logs and
//! metrics, connects to Kafka (or starts the embedded one), then serves.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use hookgate::config::{Config, LogFormat};
use hookgate::embedded::EmbeddedKafka;
use hookgate::source::Sources;
use hookgate::{gateway, metrics, server};
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve webhooks as the config file says, until SIGINT or SIGTERM.
    Serve {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a config file, secrets included, and print a summary; exits non-zero
    /// listing every error, each with its field.
    CheckConfig {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config: path } => match Config::load(&path)
            .map_err(|e| e.to_string())
            .and_then(|config| {
                let sources = build_sources(&config, &path)?;
                Ok((config, sources))
            }) {
            Ok((config, sources)) => {
                print_summary(&config, &sources);
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config: path } => {
            let config = match Config::load(&path) {
                Ok(config) => config,
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(2);
                }
            };
            // Secrets are checked before anything starts; the sources are built
            // again once the metrics recorder is installed, so their handles count.
            if let Err(message) = build_sources(&config, &path) {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config, &path)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    tracing::error!("{message}");
                    eprintln!("hookgate: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn build_sources(config: &Config, path: &std::path::Path) -> Result<Sources, String> {
    Sources::build(config).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
        format!(
            "{} has {} error(s):\n{}",
            path.display(),
            errors.len(),
            lines.join("\n")
        )
    })
}

fn print_summary(config: &Config, sources: &Sources) {
    println!("configuration OK");
    println!("  listen:  {}", config.server.listen);
    println!(
        "  kafka:   {} (produce timeout {} ms)",
        config.kafka.brokers, config.kafka.produce_timeout_ms
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
            "  source {:<16} POST {:<28} verifier {:<18} id {:<30} -> {}",
            source.name.as_str(),
            path,
            source.kind.name(),
            source.event_id.to_string(),
            source.topic
        );
    }
}

async fn serve(config: Config, path: &std::path::Path) -> Result<(), String> {
    let _log_writer = init_logging(&config);
    if config.metrics.enabled {
        PrometheusBuilder::new()
            .with_http_listener(config.metrics.listen)
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &metrics::LATENCY_BUCKETS,
            )
            .and_then(|builder| builder.install())
            .map_err(|err| {
                format!(
                    "metrics.listen {}: cannot serve metrics: {err}",
                    config.metrics.listen
                )
            })?;
        metrics::describe();
    }
    let sources = build_sources(&config, path)?;

    // Kept alive until serve returns: dropping it stops the embedded cluster.
    let mut _embedded = None;
    let brokers = if config.kafka.is_embedded() {
        let embedded = EmbeddedKafka::start(&sources.topics(), &config.dedup)
            .map_err(|err| format!("cannot start the embedded Kafka: {err}"))?;
        let brokers = embedded.bootstrap_servers();
        tracing::warn!(
            bootstrap_servers = %brokers,
            "kafka.brokers = \"embedded\": events go to an IN-MEMORY mock Kafka cluster and are LOST when hookgate stops. \
             Not durable; for trying hookgate out only."
        );
        _embedded = Some(embedded);
        brokers
    } else {
        config.kafka.brokers.clone()
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|err| {
            format!(
                "server.listen {}: cannot listen: {err}",
                config.server.listen
            )
        })?;
    let running = gateway::start(&config, sources, &brokers, !config.kafka.is_embedded())
        .map_err(|err| err.to_string())?;
    tracing::info!(listen = %config.server.listen, brokers = %brokers, "hookgate is serving webhooks; ready once the dedup index is loaded");
    server::run(
        listener,
        Arc::clone(&running.gateway),
        &config.server,
        shutdown_signal(),
    )
    .await;
    running.shutdown().await;
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
        .with_writer(writer);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Logfmt => builder
            .event_format(tracing_logfmt::EventsFormatter::default())
            .init(),
        LogFormat::Text => builder.init(),
    }
    guard
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
