//! hookgate as its own process, the way it runs in production: for
//! restarts, crashes, signals and replicas that share nothing but Kafka.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{GatewayBuilder, config};
use crate::cli::hookgate_command;
use crate::http::{client, try_get};
use crate::ports::free_port;
use crate::tools::send_signal;

/// `hookgate serve` with a config file of its own, killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Option<std::process::Child>,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    gateway: GatewayBuilder,
    config: PathBuf,
    log: PathBuf,
    /// The folder of the config file and the log, if the process has its own.
    _own_dir: Option<tempfile::TempDir>,
}

impl Process {
    pub(super) fn spawn(gateway: GatewayBuilder) -> Self {
        let (own_dir, dir) = match &gateway.files {
            Some(dir) => (None, dir.clone()),
            None => {
                let own = tempfile::tempdir().expect("tempdir");
                let dir = own.path().to_owned();
                (Some(own), dir)
            }
        };
        let mut process = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            metrics: SocketAddr::from(([127, 0, 0, 1], free_port())),
            config: dir.join("hookgate.toml"),
            log: dir.join("hookgate.log"),
            gateway,
            _own_dir: own_dir,
        };
        std::fs::write(
            &process.config,
            config::process(&process.gateway, process.addr, process.metrics),
        )
        .expect("config file");
        process.run();
        process
    }

    fn run(&mut self) {
        // Appended to: a process started anew on the same config keeps the
        // earlier one's lines.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = hookgate_command()
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "hookgate=info")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("hookgate starts");
        self.child = Some(child);
    }

    /// Writes the config file anew with `server` keys, more `tables` and
    /// `sources` (same addresses, broker and `[kafka]` keys); the running
    /// process reads it on [`Process::hangup`].
    pub fn rewrite_config(&self, server: &str, tables: &str, sources: &str) {
        let gateway = GatewayBuilder {
            server: String::new(),
            dedup: String::new(),
            tables: String::new(),
            sources: String::new(),
            ..self.gateway.clone()
        }
        .server(server)
        .tables(tables)
        .sources(sources);
        std::fs::write(
            &self.config,
            config::process(&gateway, self.addr, self.metrics),
        )
        .expect("config file");
    }

    /// SIGHUP: reload the config file.
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    /// `kill -SIGNAL` to the process: `-STOP`, `-CONT`.
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.as_ref().expect("running"), signal);
    }

    /// The folder of the config file and the log.
    pub fn dir(&self) -> &Path {
        self.config.parent().expect("the config file's folder")
    }

    /// The config file the process reads.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A path on the metrics port (`/metrics`, the detailed `/readyz`).
    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics)
    }

    pub(super) async fn await_ready(&self) {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(reply) = try_get(&client, &self.url("/readyz")).await
                && reply.0 == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hookgate not ready within 30 s; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 20 s until `/healthz` answers: the process serves, ready
    /// or not (a gateway with no broker never is).
    pub async fn await_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while try_get(&client(), &self.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "hookgate did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as in a crash, then a new process on the same config file
    /// (the same ports), once ready.
    pub async fn restart_after_kill(&mut self) {
        self.kill_child();
        self.run();
        self.await_ready().await;
    }

    fn kill_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds every one of `needles`, waiting up to 10 s: log
    /// lines reach the file from hookgate's writer thread, after the metric
    /// or answer that a test waited for.
    pub async fn await_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if needles.iter().all(|needle| log.contains(needle)) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the log never held all of {needles:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The value of one unlabelled series on `/metrics`, 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let url = self.metrics_url("/metrics");
        let (_, text) = try_get(&client(), &url).await.expect("metrics answer");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits up to 10 s for a metric to reach `at_least`.
    pub async fn await_metric(&self, series: &str, at_least: f64) {
        self.await_metric_within(series, at_least, Duration::from_secs(10))
            .await;
    }

    /// Waits up to `limit` for a metric to reach `at_least`.
    pub async fn await_metric_within(&self, series: &str, at_least: f64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.metric(series).await < at_least {
            assert!(
                Instant::now() < deadline,
                "{series} stayed below {at_least}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits up to 20 s until the metrics port's `/readyz` says Kafka is
    /// unreachable with `why` among its problems; returns what it said.
    pub async fn await_kafka_problem(&self, why: &str) -> serde_json::Value {
        let url = self.metrics_url("/readyz");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        loop {
            if let Ok((_, body)) = try_get(&client(), &url).await {
                if let Ok(details) = serde_json::from_str::<serde_json::Value>(&body)
                    && details["kafka_reachable"] == false
                    && details["problems"].to_string().contains(why)
                {
                    return details;
                }
                last = body;
            }
            assert!(
                Instant::now() < deadline,
                "the metrics port never said {why:?}: {last}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: no shutdown, nothing flushed, as in a crash. Returns the log.
    pub fn kill(mut self) -> String {
        self.kill_child();
        self.log()
    }

    /// SIGTERM, then waits for a graceful exit.
    pub fn stop(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().expect("hookgate exits");
            assert!(
                status.success(),
                "hookgate exited with {status}: {}",
                self.log()
            );
        }
        self.log()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_child();
    }
}
