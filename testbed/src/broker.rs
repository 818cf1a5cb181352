//! tansu on a free port with in-memory storage, one per test, killed when
//! dropped. It starts in milliseconds, so it stays where a test kills,
//! restarts or freezes its broker, as a second implementation of the
//! protocol, and for the high watermark it reports short of a partition's
//! end. Apache Kafka itself is [`crate::Kafka`].

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::ports::free_port;
use crate::tools::{installed, send_signal};

/// A tansu broker with in-memory storage, stopped when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    /// The port clients are told to use: `port`, or a proxy's in front of it.
    advertised: u16,
    /// More `tansu broker` arguments.
    args: Vec<String>,
}

impl Broker {
    pub async fn start() -> Self {
        Self::start_with(None, &[]).await
    }

    /// A broker that tells clients to connect to `advertised` (a TLS proxy in
    /// front of it) instead of its own port, with more `tansu broker` arguments.
    pub async fn start_with(advertised: Option<u16>, args: &[&str]) -> Self {
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

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the broker itself listens on.
    pub fn port(&self) -> u16 {
        self.port
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
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh broker on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the broker: connections stay open,
    /// nothing is answered, state is kept.
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.as_ref().expect("running"), signal);
    }

    pub async fn create_topic(&self, topic: &str) {
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

/// Creates `topic` with `partitions` and `configs` on the broker at `bootstrap`.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
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
