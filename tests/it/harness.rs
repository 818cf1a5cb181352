//! What the integration tests run against: a real tansu broker on a free port,
//! hookgate serving on a real socket, an HTTP client and a Kafka consumer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookgate::app::{self, App};
use hookgate::config::Config;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset};

pub(crate) use crate::broker::{Broker, free_port, installed, tools_dir};

/// A unique topic name per test.
pub(crate) fn topic(test: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("it.{test}.{}.{n}", std::process::id())
}

/// `extra` with the dedup stage's topics and group named after the test's
/// first event topic, unless `extra` names them: tests share one Apache
/// Kafka broker, and replicas of one test (the same `sources`) share these.
pub(crate) fn with_own_dedup_topics(extra: &str, sources: &str) -> String {
    let Some(events) = sources
        .lines()
        .find_map(|line| line.trim().strip_prefix("topic = \""))
        .and_then(|rest| rest.split('"').next())
    else {
        return extra.to_owned();
    };
    // A routed source's topic is a template (`webhooks.{event}`).
    let events: String = events.chars().filter(|c| !matches!(c, '{' | '}')).collect();
    let mut own = String::new();
    for (key, suffix) in [
        ("topic", "dedup"),
        ("intake_topic", "intake"),
        ("group", "stage"),
    ] {
        let named = extra
            .lines()
            .any(|line| line.trim_start().starts_with(&format!("{key} =")));
        if !named {
            own.push_str(&format!("{key} = \"{events}.{suffix}\"\n"));
        }
    }
    match extra.find("[dedup]\n") {
        Some(at) => {
            let (before, after) = extra.split_at(at + "[dedup]\n".len());
            format!("{before}{own}{after}")
        }
        None => format!("{extra}\n[dedup]\n{own}"),
    }
}

/// hookgate serving on a real socket, in this process, started the way `main`
/// starts it ([`app::start`]).
pub(crate) struct Hookgate {
    pub(crate) addr: SocketAddr,
    app: App,
}

impl Hookgate {
    /// Starts hookgate with `[kafka]` pointing at `brokers` and `sources` as
    /// `[[sources]]` TOML, and waits until it is ready.
    pub(crate) async fn start(brokers: &str, produce_timeout_ms: u64, sources: &str) -> Self {
        Self::start_with(brokers, produce_timeout_ms, "", sources).await
    }

    /// As [`Hookgate::start`], with more TOML tables (such as `[dedup]`) in `extra`.
    pub(crate) async fn start_with(
        brokers: &str,
        produce_timeout_ms: u64,
        extra: &str,
        sources: &str,
    ) -> Self {
        let gateway = Self::launch(brokers, produce_timeout_ms, extra, sources).await;
        let health = gateway.app.health();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !health.is_dedup_loaded() {
            assert!(
                Instant::now() < deadline,
                "hookgate not ready within 20 s: {:?}",
                health.readiness()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        gateway
    }

    /// Starts hookgate without waiting for it to be ready.
    pub(crate) async fn launch(
        brokers: &str,
        produce_timeout_ms: u64,
        extra: &str,
        sources: &str,
    ) -> Self {
        let text = format!(
            "[server]\nmax_body_bytes = 65536\nbody_timeout = \"2s\"\n\
             [kafka]\nbrokers = \"{brokers}\"\nproduce_timeout = \"{produce_timeout_ms}ms\"\nretry_after = \"3s\"\n\
             [metrics]\nenabled = false\n{}\n{sources}",
            with_own_dedup_topics(extra, sources)
        );
        // Logs show with `cargo test -- --nocapture` and RUST_LOG.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let mut config = Config::parse(&text).expect("test config parses");
        config.base_dir = PathBuf::from(".");
        assert_eq!(config.validate(), vec![], "test config is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = app::start(&config, listener)
            .await
            .expect("hookgate starts");
        Self {
            addr: app.addr(),
            app,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The cluster's bootstrap servers (the embedded cluster's address).
    pub(crate) fn bootstrap_servers(&self) -> String {
        self.app.bootstrap_servers()
    }

    /// Stops accepting, waits for requests in flight, then for what is
    /// still queued for Kafka.
    pub(crate) async fn stop(self) {
        self.app.shutdown().await;
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: serde_json::Value,
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Reply {
    try_send(client, method, url, headers, body)
        .await
        .expect("hookgate answers")
}

/// As [`send`], for a gateway that may be gone.
pub(crate) async fn try_send(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(body.into()))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("JSON body, got {bytes:?}"));
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// A record as a downstream consumer sees it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
    pub(crate) headers: BTreeMap<String, Vec<u8>>,
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived, then keeps
/// polling for `linger` so that records beyond those are seen too.
pub(crate) async fn consume(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    linger: Duration,
) -> Vec<Record> {
    let bootstrap = bootstrap.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("it-{topic}"))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .expect("consumer");
        let partitions = hookgate::kafka::partitions(&consumer, &topic, Duration::from_secs(5))
            .expect("metadata");
        hookgate::kafka::assign_all(&consumer, &topic, &partitions, Offset::Beginning)
            .expect("assign");
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut linger_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if records.len() >= expected && linger_until.is_none() {
                linger_until = Some(now + linger);
            }
            if linger_until.is_some_and(|until| now >= until) || now >= deadline {
                break;
            }
            if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                let message = message.expect("consumer error");
                let headers = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    headers,
                });
            }
        }
        records
    })
    .await
    .expect("consumer thread")
}

/// hookgate as its own process, the way it runs in production: for restarts
/// and for replicas that share nothing but Kafka.
pub(crate) struct Process {
    child: Option<std::process::Child>,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics: SocketAddr,
    brokers: String,
    config: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Process {
    /// Starts `hookgate serve` with `[kafka]` pointing at `brokers`, more tables
    /// in `extra` and `sources` as `[[sources]]` TOML; does not wait for ready.
    pub(crate) fn spawn(brokers: &str, extra: &str, sources: &str) -> Self {
        Self::spawn_with_server(brokers, "", extra, sources)
    }

    /// As [`Process::spawn`], with more `[server]` keys in `server`.
    pub(crate) fn spawn_with_server(
        brokers: &str,
        server: &str,
        extra: &str,
        sources: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::spawn_in(dir, brokers, server, extra, sources)
    }

    /// As [`Process::spawn_with_server`], with its config file in `dir`
    /// (where a test may have put certificates first).
    pub(crate) fn spawn_in(
        dir: tempfile::TempDir,
        brokers: &str,
        server: &str,
        extra: &str,
        sources: &str,
    ) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.path().join("hookgate.toml");
        let log = dir.path().join("hookgate.log");
        let mut process = Self {
            child: None,
            addr,
            metrics,
            brokers: brokers.to_owned(),
            config,
            log,
            dir,
        };
        process.rewrite_config(server, extra, sources);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["serve", "--config"])
            .arg(&process.config)
            .env("RUST_LOG", "hookgate=info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&process.log).expect("log file"))
            .spawn()
            .expect("hookgate starts");
        process.child = Some(child);
        process
    }

    /// Writes the config file anew (same addresses and broker); the running
    /// process reads it on [`Process::hangup`].
    pub(crate) fn rewrite_config(&self, server: &str, extra: &str, sources: &str) {
        let Self {
            addr,
            metrics,
            brokers,
            ..
        } = self;
        std::fs::write(
            &self.config,
            format!(
                "[server]\nlisten = \"{addr}\"\n{server}\n\
                 [kafka]\nbrokers = \"{brokers}\"\nproduce_timeout = \"5s\"\nretry_after = \"3s\"\n\
                 [metrics]\nlisten = \"{metrics}\"\n{}\n{sources}",
                with_own_dedup_topics(extra, sources)
            ),
        )
        .expect("config file");
    }

    /// SIGHUP: reload the config file.
    pub(crate) fn hangup(&self) {
        let child = self.child.as_ref().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// `kill -SIGNAL` to the process: `-STOP`, `-CONT`.
    pub(crate) fn signal(&self, signal: &str) {
        crate::broker::send_signal(self.child.as_ref().expect("running"), signal);
    }

    /// The folder of the config file and the log.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Starts hookgate and waits until `/readyz` says ready.
    pub(crate) async fn start(brokers: &str, extra: &str, sources: &str) -> Self {
        Self::start_with_server(brokers, "", extra, sources).await
    }

    /// As [`Process::start`], with more `[server]` keys in `server`.
    pub(crate) async fn start_with_server(
        brokers: &str,
        server: &str,
        extra: &str,
        sources: &str,
    ) -> Self {
        let process = Self::spawn_with_server(brokers, server, extra, sources);
        process.await_ready().await;
        process
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// As [`Process::start_with_server`], with its config file in `dir`.
    pub(crate) async fn start_in(
        dir: tempfile::TempDir,
        brokers: &str,
        server: &str,
        extra: &str,
        sources: &str,
    ) -> Self {
        let process = Self::spawn_in(dir, brokers, server, extra, sources);
        process.await_ready().await;
        process
    }

    async fn await_ready(&self) {
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

    /// What the process logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds every one of `needles`, waiting up to 10 s: log
    /// lines reach the file from hookgate's writer thread, after the metric
    /// or answer that a test waited for.
    pub(crate) async fn await_log(&self, needles: &[&str]) -> String {
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
    pub(crate) async fn metric(&self, series: &str) -> f64 {
        let url = format!("http://{}/metrics", self.metrics);
        let (_, text) = try_get(&client(), &url).await.expect("metrics answer");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits up to 10 s for a metric to reach `at_least`.
    pub(crate) async fn await_metric(&self, series: &str, at_least: f64) {
        self.await_metric_within(series, at_least, Duration::from_secs(10))
            .await;
    }

    /// Waits up to `limit` for a metric to reach `at_least`.
    pub(crate) async fn await_metric_within(&self, series: &str, at_least: f64, limit: Duration) {
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
    pub(crate) async fn await_kafka_problem(&self, why: &str) -> serde_json::Value {
        let url = format!("http://{}/readyz", self.metrics);
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
    pub(crate) fn kill(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.log()
    }

    /// SIGTERM, then waits for a graceful exit.
    pub(crate) fn stop(mut self) -> String {
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A GET answered with its status and body text.
pub(crate) async fn try_get(client: &HttpClient, url: &str) -> Result<(u16, String), String> {
    let request = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// tansu with one event topic, and hookgate serving a GitHub source on it as
/// a process of its own, with `server` as more `[server]` keys.
pub(crate) async fn github_gateway(
    test: &str,
    server: &str,
) -> (Broker, Process, tempfile::TempDir) {
    let broker = Broker::start().await;
    let events = topic(test);
    broker.create_topic(&events).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = crate::source(
        dir.path(),
        "github",
        hookgate::verify::VerifierKind::Github,
        &events,
    );
    let process = Process::start_with_server(&broker.bootstrap(), server, "", &sources).await;
    (broker, process, dir)
}
