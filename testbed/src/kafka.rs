//! Apache Kafka itself, one broker for the whole test run
//! (`scripts/kafka.sh`), with PLAINTEXT and SASL_SSL (SCRAM) listeners.
//! Tests that depend on what a broker does (consumer groups, transactions,
//! compaction, SASL, dedup loads and ledgers) run here, each on topics of
//! its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::broker::create_topic;
use crate::ports::free_port;

/// The Apache Kafka broker this test run shares. `scripts/test.sh` stops it
/// when the run ends; started by `cargo test` alone, it stays up for the next
/// run (`scripts/kafka.sh stop target/tmp/kafka` ends it).
#[derive(Debug)]
pub struct Kafka {
    dir: PathBuf,
    plaintext: u16,
    sasl_ssl: u16,
}

/// The SCRAM user `scripts/kafka.sh` creates when it formats the broker.
pub const KAFKA_USER: &str = "hookgate";
pub const KAFKA_PASSWORD: &str = "hookgate-secret";

/// The shared broker, in the calling test's or bench's
/// `CARGO_TARGET_TMPDIR` (which Cargo sets only for those, not for this
/// crate): [`Kafka::shared_in`] that folder.
#[macro_export]
macro_rules! shared_kafka {
    () => {
        $crate::Kafka::shared_in(::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
    };
}

impl Kafka {
    /// The shared broker, in `target_tmpdir/kafka`, started on first use (a
    /// few seconds, once). Every caller of a process passes the same folder:
    /// its build's `CARGO_TARGET_TMPDIR` ([`shared_kafka!`]).
    pub fn shared_in(target_tmpdir: &Path) -> &'static Kafka {
        static SHARED: OnceLock<Kafka> = OnceLock::new();
        SHARED.get_or_init(|| Self::start(target_tmpdir.join("kafka")))
    }

    fn start(dir: PathBuf) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|dir| dir.join("scripts/kafka.sh"))
            .find(|script| script.is_file())
            .expect("scripts/kafka.sh above the crate");
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
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.plaintext)
    }

    /// The SASL_SSL listener: SCRAM-SHA-512 or -256 as [`KAFKA_USER`].
    pub fn sasl_ssl_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_ssl)
    }

    /// The CA that signed the SASL_SSL listener's certificate, in PEM.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    pub async fn create_topic(&self, topic: &str) {
        create_topic(&self.bootstrap(), topic, 1, &[]).await;
    }
}
