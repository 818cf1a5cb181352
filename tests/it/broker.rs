//! Real Kafka-protocol brokers for tests and benchmarks. Shared with
//! `benches/` and the load generator's tests.
//!
//! - [`Kafka`]: Apache Kafka itself, one broker for the whole test run
//!   (`scripts/kafka.sh`), with PLAINTEXT and SASL_SSL (SCRAM) listeners.
//!   Tests that depend on what a broker does (consumer groups, transactions,
//!   compaction, SASL, dedup loads and ledgers) run here, each on topics of
//!   its own.
//! - [`Broker`]: tansu on a free port with in-memory storage, one per test,
//!   killed when dropped. It starts in milliseconds, so it stays where a test
//!   kills, restarts or freezes its broker, as a second implementation of the
//!   protocol, and for the high watermark it reports short of a partition's end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// A program `scripts/setup.sh` installs: `$env` if set, else on `PATH`, in
/// the project's tool folder (`$HOOKGATE_TOOLS` or `~/.cache/hookgate/tools`),
/// or where `cargo install` puts it.
pub(crate) fn installed(program: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(Some(tools_dir().join("bin")))
        .chain(cargo_home.map(|c| c.join("bin")))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed: run scripts/setup.sh"))
}

/// The project's tool folder, where `scripts/setup.sh` puts what it installs
/// from PyPI and npm: `$HOOKGATE_TOOLS`, else `~/.cache/hookgate/tools`.
pub(crate) fn tools_dir() -> PathBuf {
    std::env::var_os("HOOKGATE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hookgate/tools"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/hookgate/tools"))
}

/// A port for a broker or gateway to listen on a moment later.
///
/// The port is taken below the kernel's ephemeral range, from which every
/// outgoing connection of the suite gets its own port: one taken there could
/// be another test's connection by the time its broker or gateway binds it.
/// One test process never hands out the same port twice (where that range
/// starts too low to leave room below it, the kernel picks the port).
pub(crate) fn free_port() -> u16 {
    const LOWEST: u64 = 20_000;
    static HANDED_OUT: AtomicU64 = AtomicU64::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(32_768);
    if ephemeral_start < LOWEST + 1_000 {
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
    }
    let span = ephemeral_start - LOWEST;
    // Test processes that run at once start at different places.
    let start = u64::from(std::process::id()) * 7_919 % span;
    for _ in 0..span {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOWEST + (start + n) % span).expect("below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {ephemeral_start}")
}

/// A tansu broker with in-memory storage, stopped when dropped.
pub(crate) struct Broker {
    child: Option<Child>,
    port: u16,
    /// The port clients are told to use: `port`, or a proxy's in front of it.
    advertised: u16,
    /// More `tansu broker` arguments.
    args: Vec<String>,
}

impl Broker {
    pub(crate) async fn start() -> Self {
        Self::start_with(None, &[]).await
    }

    /// A broker that tells clients to connect to `advertised` (a TLS proxy in
    /// front of it) instead of its own port, with more `tansu broker` arguments.
    pub(crate) async fn start_with(advertised: Option<u16>, args: &[&str]) -> Self {
        let port = free_port();
        let mut broker = Self {
            child: None,
            port,
            advertised: advertised.unwrap_or(port),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        broker.spawn().await;
        broker
    }

    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised);
        let child = Command::new(installed("tansu", "TANSU"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 10 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the broker: its in-memory topics are gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh broker on the same port.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker: connections stay open,
    /// nothing is answered, state is kept.
    pub(crate) fn signal(&self, signal: &str) {
        send_signal(self.child.as_ref().expect("running"), signal);
    }

    pub(crate) async fn create_topic(&self, topic: &str) {
        create_topic(&self.bootstrap(), topic, 1, &[]).await;
    }
}

/// `kill -SIGNAL` to a child process: `-STOP`, `-CONT`, `-TERM`.
pub(crate) fn send_signal(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// Creates `topic` with `partitions` and `configs` on the broker at `bootstrap`.
pub(crate) async fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&[new], &options)
        .await
        .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

/// The Apache Kafka broker this test run shares. `scripts/test.sh` stops it
/// when the run ends; started by `cargo test` alone, it stays up for the next
/// run (`scripts/kafka.sh stop target/tmp/kafka` ends it).
#[derive(Debug)]
pub(crate) struct Kafka {
    dir: PathBuf,
    plaintext: u16,
    sasl_ssl: u16,
}

/// The SCRAM user `scripts/kafka.sh` creates when it formats the broker.
pub(crate) const KAFKA_USER: &str = "hookgate";
pub(crate) const KAFKA_PASSWORD: &str = "hookgate-secret";

impl Kafka {
    /// The shared broker, started on first use (a few seconds, once).
    pub(crate) fn shared() -> &'static Kafka {
        static SHARED: OnceLock<Kafka> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/kafka.sh"))
            .find(|script| script.is_file())
            .expect("scripts/kafka.sh above the crate");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kafka");
        let running = std::fs::read_to_string(dir.join("kafka.pid"))
            .ok()
            .and_then(|pid| std::fs::read(format!("/proc/{}/cmdline", pid.trim())).ok())
            .is_some_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("kafka.Kafka"));
        if !running {
            // A fresh broker: what an earlier run left is of no use.
            let _ = std::fs::remove_dir_all(&dir);
            let output = Command::new(&script)
                .arg("start")
                .arg(&dir)
                .arg(free_port().to_string())
                .arg(format!("sasl_ssl={}", free_port()))
                .output()
                .expect("scripts/kafka.sh runs");
            assert!(
                output.status.success(),
                "Apache Kafka did not start (run scripts/setup.sh): {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let properties =
            std::fs::read_to_string(dir.join("server.properties")).expect("server.properties");
        let port = |listener: &str| {
            properties
                .lines()
                .find_map(|line| line.strip_prefix("advertised.listeners="))
                .and_then(|listeners| {
                    listeners.split(',').find_map(|one| {
                        let (name, address) = one.split_once("://")?;
                        (name == listener)
                            .then(|| address.rsplit_once(':'))??
                            .1
                            .parse()
                            .ok()
                    })
                })
                .unwrap_or_else(|| panic!("no {listener} listener in {}", dir.display()))
        };
        Self {
            plaintext: port("PLAINTEXT"),
            sasl_ssl: port("SASL_SSL"),
            dir,
        }
    }

    /// The PLAINTEXT listener.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.plaintext)
    }

    /// The SASL_SSL listener: SCRAM-SHA-512 or -256 as [`KAFKA_USER`].
    pub(crate) fn sasl_ssl_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_ssl)
    }

    /// The CA that signed the SASL_SSL listener's certificate, in PEM.
    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    pub(crate) async fn create_topic(&self, topic: &str) {
        create_topic(&self.bootstrap(), topic, 1, &[]).await;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen broker cannot die until thawed.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}
