//! `hookgate-load`: drives a webhook gateway with correctly signed deliveries
//! and reports what a provider would see.
//!
//! - **Open loop** (`--rate N`): request *i* is due at `start + i/N`, whatever
//!   the server does; latency counts from that due time, so a stalled server
//!   shows as latency instead of as fewer requests (no coordinated omission).
//! - **Closed loop** (no `--rate`): every connection sends its next request as
//!   soon as the last one is answered: the maximum rate.
//!
//! Every connection is opened (with one delivery each) before the clock
//! starts; those deliveries count in the ledger only.
//!
//! Each request is a new event (or, at `--duplicates`, a repeat of an earlier
//! accepted one), signed for `--provider` with hookgate's own signing code.
//! With `--brokers` and `--topic`, the ledger then reads the topic and proves
//! that every event answered 2xx is in Kafka exactly once.

mod ledger;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hookgate::verify::VerifierKind;

#[derive(Debug, Parser)]
#[command(name = "hookgate-load", version)]
struct Cli {
    /// The source's URL on the gateway, http:// or https://.
    #[arg(long)]
    url: String,
    /// A PEM certificate authority to trust for https:// beside the system's.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The source's signature scheme (github, stripe, standard-webhooks, …).
    #[arg(long, default_value = "github")]
    provider: VerifierKind,
    /// The signing secret, `env:NAME` or `file:PATH`.
    #[arg(long)]
    secret: String,
    /// Target requests per second (open loop); flat out when absent.
    #[arg(long)]
    rate: Option<u32>,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to send, e.g. `30s`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Size of each request body in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Share of requests that repeat an already accepted event, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0)]
    duplicates: f64,
    /// The URL the provider signs (square, twilio), when not --url.
    #[arg(long)]
    public_url: Option<String>,
    /// The gateway's process id: its CPU time per accepted event is reported.
    #[arg(long)]
    pid: Option<u32>,
    /// The broker's process id: its CPU time per accepted event is reported too.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Kafka bootstrap servers, for the ledger.
    #[arg(long, requires = "topic")]
    brokers: Option<String>,
    /// The topic the source publishes to, for the ledger.
    #[arg(long, requires = "brokers")]
    topic: Option<String>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !(0.0..=1.0).contains(&cli.duplicates) {
        eprintln!("--duplicates: {} is outside 0.0..=1.0", cli.duplicates);
        return ExitCode::from(2);
    }
    let secret = match hookgate::config::secret::resolve(&cli.secret, std::path::Path::new(".")) {
        Ok(secret) => secret,
        Err(err) => {
            eprintln!("--secret: {err}");
            return ExitCode::from(2);
        }
    };
    let connector = match hookgate::ops::https::connector(cli.ca.as_deref(), false) {
        Ok(connector) => connector,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let plan = run::Plan {
        url: cli.url.clone(),
        connector,
        kind: cli.provider,
        secret,
        public_url: cli.public_url.clone().unwrap_or_else(|| cli.url.clone()),
        rate: cli.rate,
        connections: cli.connections.max(1),
        duration: cli.duration,
        body_bytes: cli.body_bytes,
        duplicates: cli.duplicates,
        pid: cli.pid,
        broker_pid: cli.broker_pid,
    };
    let report = runtime.block_on(run::run(&plan));
    print!("{}", report.render(&plan));

    let mut ok = report.errors == 0;
    let mut checked = None;
    if let (Some(brokers), Some(topic)) = (&cli.brokers, &cli.topic) {
        let accepted: Vec<String> = report
            .accepted_ids
            .iter()
            .chain(&report.warm_up_ids)
            .cloned()
            .collect();
        match ledger::check(brokers, topic, &accepted, &report.answered_ids) {
            Ok(ledger) => {
                print!("{ledger}");
                ok &= ledger.missing == 0 && ledger.duplicated == 0;
                checked = Some(ledger);
            }
            Err(err) => {
                eprintln!("ledger: {err}");
                ok = false;
            }
        }
    }
    if let Some(path) = &cli.json
        && let Err(err) = std::fs::write(path, report.json(&plan, checked.as_ref()))
    {
        eprintln!("--json {}: {err}", path.display());
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
