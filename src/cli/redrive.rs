//! `hookgate redrive`: a source's quarantined requests through the pipeline
//! again, with the configuration as it is now.

use std::path::PathBuf;

use hookgate::config::{Config, RESERVED_PRODUCER_PROPERTIES};
use hookgate::kafka::consume::Start;
use hookgate::tools::redrive::{self as redriving, RedriveRequest};

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// A librdkafka property over the config's `[kafka.client]`, such as
    /// `sasl.password=env:KAFKA_PASSWORD` (an operator's own credentials);
    /// a value `env:NAME` or `file:PATH` is read from there. Repeatable.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = super::kafka_args::parse_property)]
    properties: Vec<(String, String)>,
}

/// Sends the source's quarantined requests through the pipeline again.
pub(crate) fn run(args: Args) -> Outcome {
    let fail = |message: String| Failure::Input(format!("hookgate redrive: {message}"));
    let mut config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => return Err(fail(err.to_string())),
    };
    for (key, value) in super::kafka_args::resolve_properties(&args.properties).map_err(fail)? {
        // The producer's guarantees rest on these, as in the file.
        if RESERVED_PRODUCER_PROPERTIES.contains(&key.as_str()) {
            return Err(fail(format!(
                "--kafka-property {key}: is set by hookgate (idempotent, acks=all) and may not be overridden"
            )));
        }
        config.kafka.client.insert(key, value);
    }
    let start = match args.since.as_deref().map(str::parse::<Start>) {
        None => Start::Beginning,
        Some(Ok(start)) => start,
        Some(Err(err)) => return Err(fail(format!("--since {err}"))),
    };
    let request = RedriveRequest {
        config,
        source: args.source,
        topic: args.from_topic,
        start,
        reasons: args.reason,
    };
    let runtime = super::runtime(Some(0))?;
    let mut out = std::io::stdout().lock();
    match runtime.block_on(redriving::redrive(request, &mut out)) {
        Ok(summary) if summary.still_refused.is_empty() && summary.truncated == 0 => Ok(()),
        Ok(_) => Err(Failure::Incomplete),
        Err(err) => Err(fail(err.to_string())),
    }
}
