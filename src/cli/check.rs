//! `hookgate check-config`: the checks `serve` makes at start-up, secrets
//! and TLS material included, then a summary of what would run.

use std::path::{Path, PathBuf};

use hookgate::app;
use hookgate::config::Config;
use hookgate::pipeline::source::Sources;

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The TOML config file.
    #[arg(long, short)]
    config: PathBuf,
}

/// Checks the file as start-up would, and prints the summary and warnings.
pub(crate) fn run(args: Args) -> Outcome {
    let config = load(&args.config)?;
    let checked = app::check(&config)
        .map_err(|err| Failure::Input(format!("{} has {err}", args.config.display())))?;
    print_summary(&config, &checked.sources);
    for warning in config.warnings() {
        println!("warning: {warning}");
    }
    Ok(())
}

/// The configuration file, loaded and checked field by field.
pub(crate) fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|err| Failure::Input(err.to_string()))
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
    println!("  librdkafka: {}", hookgate::kafka::library());
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
