//! `hookgate forward`: each record of a topic (events, or a quarantine)
//! posted to a URL with its original body and provider headers.

use std::path::PathBuf;

use hookgate::kafka::consume::Start;
use hookgate::ops::https;
use hookgate::tools::forward::{self as forwarding, ForwardRequest};
use hookgate::verify::VerifierKind;

use super::kafka_args::KafkaArgs;
use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    #[arg(long, default_value_t = https::DEFAULT_TIMEOUT.into(), value_parser = https::parse_timeout)]
    timeout: humantime::Duration,
}

/// Posts each record of the topic to the target, one line per record.
pub(crate) fn run(args: Args) -> Outcome {
    let fail = |message: String| Failure::Input(format!("hookgate forward: {message}"));
    let secret =
        match args.resign_secret.as_deref().map(|reference| {
            hookgate::config::secret::resolve(reference, std::path::Path::new("."))
        }) {
            None => None,
            Some(Ok(secret)) => Some(secret),
            Some(Err(err)) => return Err(fail(format!("--resign-secret: {err}"))),
        };
    let client = match args.kafka.client() {
        Ok(client) => client,
        Err(message) => return Err(fail(message)),
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
    let runtime = super::runtime(None)?;
    match forwarding::forward(&request, &runtime, &mut std::io::stdout().lock()) {
        Ok(summary) if summary.refused + summary.failed == 0 => Ok(()),
        Ok(_) => Err(Failure::Incomplete),
        Err(err) => Err(fail(err.to_string())),
    }
}

/// `--header`'s value: an HTTP header name, any case.
fn parse_header_name(name: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("{name:?} is not an HTTP header name"))
}
