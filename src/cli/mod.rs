//! The `hookgate` command's parts: one module per command, each with its
//! arguments and a `run` that ends in an [`Outcome`]; the async runtime is
//! built here, once, for whichever command needs one.

pub(crate) mod check;
pub(crate) mod forward;
pub(crate) mod kafka_args;
pub(crate) mod redrive;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod tail;

use std::process::ExitCode;

use tokio::runtime::Runtime;

/// How a command ended, when not in success.
#[derive(Debug)]
pub(crate) enum Failure {
    /// What it was given cannot be used (a flag, a file, the
    /// configuration): exit code 2, with the message.
    Input(String),
    /// It ran, and some of the work did not succeed, as it has printed:
    /// exit code 1.
    Incomplete,
    /// It could not go on: exit code 1, with the message.
    Failed(String),
}

/// What every command's `run` returns.
pub(crate) type Outcome = Result<(), Failure>;

/// The exit code, once the message (already prefixed by the command) is
/// written to stderr.
pub(crate) fn exit(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
        Err(Failure::Incomplete) => ExitCode::FAILURE,
        Err(Failure::Failed(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: `workers` threads (0: one per core), or one thread
/// for a tool that sends one request at a time.
pub(crate) fn runtime(workers: Option<usize>) -> Result<Runtime, Failure> {
    let mut builder = match workers {
        Some(_) => tokio::runtime::Builder::new_multi_thread(),
        None => tokio::runtime::Builder::new_current_thread(),
    };
    if let Some(workers) = workers.filter(|workers| *workers > 0) {
        builder.worker_threads(workers);
    }
    builder
        .enable_all()
        .build()
        .map_err(|err| Failure::Failed(format!("cannot start the async runtime: {err}")))
}
