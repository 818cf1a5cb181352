//! The `hookgate` command: parses the command line and hands each command
//! to its module in [`cli`]; the gateway itself starts in
//! [`hookgate::app::launch`].

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Webhook ingestion gateway: verifies provider signatures, drops duplicates, and
/// publishes each event to Kafka, answering 2xx only after Kafka acknowledged it.
#[derive(Debug, Parser)]
#[command(name = "hookgate", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HOOKGATE_COMMIT"), ")"))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve webhooks as the config file says, until SIGINT or SIGTERM;
    /// SIGHUP reloads the file (sources, secrets, allowlists, rate limits,
    /// trusted proxies, TLS certificate).
    Serve(cli::serve::Args),
    /// Check a config file, secrets included, and print a summary; exits non-zero
    /// listing every error, each with its field.
    CheckConfig(cli::check::Args),
    /// Send a correctly signed delivery for any provider to a URL and print
    /// what it answers; exits non-zero unless every answer is 2xx.
    Send(cli::send::Args),
    /// Print the records of a topic (key, headers, body) as downstream
    /// consumers receive them.
    ///
    /// Control characters (escape sequences, newlines) are shown as escapes
    /// such as \u{1b}: in keys and headers always, in bodies on a terminal. A
    /// body written to a file or a pipe is as it is.
    Tail(cli::tail::Args),
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
    Forward(cli::forward::Args),
    /// Send a source's quarantined requests through the pipeline again, with
    /// the source's configuration as it is now (after a secret was fixed):
    /// verified again, deduplicated, published. Exits non-zero if any is
    /// still refused.
    Redrive(cli::redrive::Args),
}

fn main() -> ExitCode {
    cli::exit(match Cli::parse().command {
        Command::Serve(args) => cli::serve::run(args),
        Command::CheckConfig(args) => cli::check::run(args),
        Command::Send(args) => cli::send::run(args),
        Command::Tail(args) => cli::tail::run(args),
        Command::Forward(args) => cli::forward::run(args),
        Command::Redrive(args) => cli::redrive::run(args),
    })
}
