//! A gateway built from a test bed's broker and sources, with the test's
//! extras: in this process ([`InProcess`]) or as a process of its own
//! ([`Process`]), each with its URL and a stop.

mod config;
mod in_process;
mod process;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use config::with_own_dedup_topics;
pub use in_process::InProcess;
pub use process::Process;

/// What a gateway is started with: the `[kafka] brokers` value, its
/// `[[sources]]` and whatever else the test sets. Unset, the produce timeout
/// is 5 s and `retry_after` 3 s; the dedup stage's topics and group are named
/// after the first source's topic (tests share one Apache Kafka broker).
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    brokers: String,
    server: String,
    kafka: String,
    dedup: String,
    tables: String,
    sources: String,
    produce_timeout: Duration,
    files: Option<PathBuf>,
    test_logs: bool,
}

impl GatewayBuilder {
    /// A gateway publishing to `brokers`: an address, `embedded` or `null`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            server: String::new(),
            kafka: String::new(),
            dedup: String::new(),
            tables: String::new(),
            sources: String::new(),
            produce_timeout: Duration::from_secs(5),
            files: None,
            test_logs: true,
        }
    }

    /// More `[[sources]]` TOML.
    pub fn sources(mut self, toml: &str) -> Self {
        self.sources.push_str(toml);
        self
    }

    /// More `[server]` keys, or `[server.…]` tables.
    pub fn server(mut self, keys: &str) -> Self {
        push_line(&mut self.server, keys);
        self
    }

    /// More `[kafka]` keys.
    pub fn kafka(mut self, keys: &str) -> Self {
        push_line(&mut self.kafka, keys);
        self
    }

    /// More `[dedup]` keys.
    pub fn dedup(mut self, keys: &str) -> Self {
        push_line(&mut self.dedup, keys);
        self
    }

    /// What the replica runs: `edge`, `dedup` or both (`all`).
    pub fn role(self, role: &str) -> Self {
        self.dedup(&format!("role = \"{role}\""))
    }

    /// The `[log]` format: `text`, `logfmt` or `json`.
    pub fn log_format(self, format: &str) -> Self {
        self.tables(&format!("[log]\nformat = \"{format}\""))
    }

    /// More tables (`[log]`, `[quarantine]`, `[kafka.client]`, a whole
    /// `[dedup]` when no [`GatewayBuilder::dedup`] keys are set).
    pub fn tables(mut self, toml: &str) -> Self {
        push_line(&mut self.tables, toml);
        self
    }

    pub fn produce_timeout(mut self, timeout: Duration) -> Self {
        self.produce_timeout = timeout;
        self
    }

    /// Where relative paths of the config resolve (certificates, secrets),
    /// and a process's config file and log are written; the caller keeps the
    /// folder until the gateway is gone. Unset: the working directory in
    /// process, a folder of its own for a process.
    pub fn files_in(mut self, dir: &Path) -> Self {
        self.files = Some(dir.to_owned());
        self
    }

    /// No log output from a gateway in this process: for benches, whose
    /// output is their figures. (Tests see its logs with `--nocapture` and
    /// `RUST_LOG`.)
    pub fn without_logs(mut self) -> Self {
        self.test_logs = false;
        self
    }

    /// Starts the gateway in this process and waits until it is ready.
    pub async fn start(self) -> InProcess {
        InProcess::start(self).await
    }

    /// Starts the gateway in this process without waiting for it to be ready.
    pub async fn launch(self) -> InProcess {
        InProcess::launch(self).await
    }

    /// Starts `hookgate serve` and waits until `/readyz` says ready.
    pub async fn start_process(self) -> Process {
        let process = Process::spawn(self);
        process.await_ready().await;
        process
    }

    /// Starts `hookgate serve` without waiting for it to be ready.
    pub fn spawn_process(self) -> Process {
        Process::spawn(self)
    }

    /// Every table after `[metrics]`: the test's, `[dedup]` with its own
    /// topics, then the sources.
    fn rest(&self) -> String {
        let mut tables = self.tables.clone();
        if !self.dedup.is_empty() {
            assert!(
                !tables.contains("[dedup]\n"),
                "dedup keys given twice: as a table and as keys"
            );
            tables.push_str(&format!("\n[dedup]\n{}", self.dedup));
        }
        format!(
            "{}\n{}",
            with_own_dedup_topics(&tables, &self.sources),
            self.sources
        )
    }
}

fn push_line(text: &mut String, more: &str) {
    text.push_str(more);
    if !more.ends_with('\n') {
        text.push('\n');
    }
}
