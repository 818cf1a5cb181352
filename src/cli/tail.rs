//! `hookgate tail`: a topic's records (key, headers, body) as downstream
//! consumers receive them.

use hookgate::tools::tail::{self, TailRequest};

use super::kafka_args::KafkaArgs;
use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
}

/// Prints the topic's records until its end, `--max`, or forever.
pub(crate) fn run(args: Args) -> Outcome {
    let client = args
        .kafka
        .client()
        .map_err(|message| Failure::Input(format!("hookgate tail: {message}")))?;
    let request = TailRequest {
        client,
        topic: args.topic,
        from_beginning: args.from_beginning,
        follow: !args.no_follow,
        max: args.max,
        output: tail::Output::stdout(args.raw),
    };
    tail::tail(&request, &mut std::io::stdout().lock())
        .map(|_| ())
        .map_err(|err| {
            Failure::Failed(format!(
                "hookgate tail: reading {} from {}: {err}",
                request.topic,
                KafkaArgs::brokers(&request.client)
            ))
        })
}
