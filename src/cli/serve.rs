//! `hookgate serve`: logs, then [`app::launch`] (metrics port, webhook
//! port, gateway), then reloads on SIGHUP until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};

use hookgate::app::{
    self,
    watch::{self, FileWatch},
};
use hookgate::config::{Config, LogFormat, Role};
use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};
use tracing_subscriber::EnvFilter;

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The TOML config file.
    #[arg(long, short)]
    config: PathBuf,
    /// Which parts to run: `all` (receive webhooks and publish them
    /// once), `edge` (receive only) or `dedup` (publish only); overrides
    /// the file's `dedup.role`.
    #[arg(long, value_enum)]
    role: Option<Role>,
}

/// Serves until SIGINT or SIGTERM, then shuts down in order.
pub(crate) fn run(args: Args) -> Outcome {
    let mut config = super::check::load(&args.config)?;
    if let Some(role) = args.role {
        config.dedup.role = role;
    }
    let runtime = super::runtime(Some(config.server.workers))?;
    runtime.block_on(serve(config, &args.config))
}

async fn serve(config: Config, path: &Path) -> Outcome {
    // First: SIGHUP's default action ends the process, and a config
    // reloader may send one while hookgate is still starting.
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let (_log_writer, dropped_lines) = init_logging(&config);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    // Before the files are first read, so that a change while hookgate
    // starts is seen.
    let watch = config
        .server
        .reload_on_change
        .then(|| FileWatch::new(watch::files(&config, path)))
        .and_then(|watch| {
            watch
                .map_err(|err| tracing::warn!("{err}: reloading needs SIGHUP"))
                .ok()
        });
    let app = app::launch(&config).await.map_err(|err| {
        // A source whose secret cannot be read is a configuration error,
        // like those `Config::load` finds.
        if err.is_config_error() {
            Failure::Input(format!("{} has {err}", path.display()))
        } else {
            tracing::error!("{err}");
            Failure::Failed(format!("hookgate: {err}"))
        }
    })?;
    tokio::spawn(report_dropped_lines(dropped_lines));
    #[cfg(unix)]
    serve_until_shutdown(&app, watch, path, hangups).await;
    #[cfg(not(unix))]
    shutdown_signal().await;
    app.shutdown().await;
    Ok(())
}

/// Logs go through a non-blocking writer that drops lines rather than stall
/// requests when the output cannot keep up; the counter says how many.
fn init_logging(config: &Config) -> (WorkerGuard, ErrorCounter) {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let dropped = writer.error_counter();
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
    (guard, dropped)
}

/// Copies the log writer's dropped-line count to its metric.
async fn report_dropped_lines(dropped: ErrorCounter) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        hookgate::ops::metrics::log_lines_dropped(dropped.dropped_lines() as u64);
    }
}

/// Waits for SIGINT or SIGTERM, reloading the configuration on each SIGHUP
/// and, with `server.reload_on_change`, when a file it reads changes.
#[cfg(unix)]
async fn serve_until_shutdown(
    app: &app::App,
    mut watch: Option<FileWatch>,
    path: &Path,
    hangups: std::io::Result<tokio::signal::unix::Signal>,
) {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut hangups = match hangups {
        Ok(hangups) => Some(hangups),
        Err(err) => {
            tracing::warn!(
                "cannot listen for SIGHUP ({err}): reloading needs a restart or a file change"
            );
            None
        }
    };
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            Some(()) = hangup(hangups.as_mut()) => {
                tracing::info!(config = %path.display(), "SIGHUP received: reloading the configuration");
            }
            changed = changed(watch.as_mut()) => {
                let changed: Vec<String> = changed.iter().map(|file| file.display().to_string()).collect();
                tracing::info!(files = %changed.join(", "), "a file of the configuration changed: reloading it");
            }
        }
        app.reload(path);
        // The reloaded file may name other secret files.
        if let (Some(watch), Ok(reloaded)) = (watch.as_mut(), Config::load(path)) {
            watch.watch(watch::files(&reloaded, path));
        }
    }
}

#[cfg(unix)]
async fn hangup(hangups: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
    match hangups {
        Some(hangups) => hangups.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
async fn changed(watch: Option<&mut FileWatch>) -> Vec<std::path::PathBuf> {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
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
