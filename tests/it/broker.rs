//! A real Kafka-protocol broker for tests and benchmarks: tansu on a free
//! port with in-memory storage, killed when dropped. Shared with `benches/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    pub(crate) async fn create_topic(&self, topic: &str) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("admin client");
        let topics = [NewTopic::new(topic, 1, TopicReplication::Fixed(1))];
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin
            .create_topics(&topics, &options)
            .await
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
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
