//! hookgate serving on a real socket, in this process, started the way
//! `main` starts it ([`app::start`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hookgate::app::{self, App};
use hookgate::config::Config;

use super::{GatewayBuilder, config};

/// A gateway in this process, on a port the kernel picked.
pub struct InProcess {
    pub addr: SocketAddr,
    app: App,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl InProcess {
    pub(super) async fn start(gateway: GatewayBuilder) -> Self {
        let gateway = Self::launch(gateway).await;
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

    pub(super) async fn launch(gateway: GatewayBuilder) -> Self {
        let text = config::in_process(&gateway);
        // Logs show with `cargo test -- --nocapture` and RUST_LOG.
        if gateway.test_logs {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
        let mut config = Config::parse(&text).expect("test config parses");
        config.base_dir = gateway.files.unwrap_or_else(|| PathBuf::from("."));
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The cluster's bootstrap servers (the embedded cluster's address).
    pub fn bootstrap_servers(&self) -> String {
        self.app.bootstrap_servers()
    }

    /// The running gateway, for calls past the socket (benches).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Stops accepting, waits for requests in flight, then for what is
    /// still queued for Kafka.
    pub async fn stop(self) {
        self.app.shutdown().await;
    }
}
