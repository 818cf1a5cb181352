//! A few seconds of open-loop load against a real gateway and broker, then the
//! ledger: every accepted event in Kafka exactly once. Performance is not
//! asserted here; `loadtest/run.sh` and `docs/benchmarks.md` measure it.

#[path = "../../tests/it/broker.rs"]
#[allow(dead_code)]
mod broker;

use std::process::Command;
use std::sync::Arc;

use hookgate::config::Config;
use hookgate::source::Sources;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_leaves_a_clean_ledger() {
    let broker = broker::Broker::start().await;
    broker.create_topic("smoke.events").await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smoke.secret"), "smoke-secret").expect("secret");
    let text = format!(
        "[kafka]\nbrokers = \"{}\"\n[metrics]\nenabled = false\n\
         [[sources]]\nname = \"smoke\"\npath = \"/smoke\"\nverifier = \"github\"\n\
         secrets = [\"file:smoke.secret\"]\ntopic = \"smoke.events\"\n",
        broker.bootstrap()
    );
    let mut config = Config::parse(&text).expect("config");
    config.base_dir = dir.path().to_owned();
    let sources = Sources::build(&config).expect("sources");
    let running =
        hookgate::gateway::start(&config, sources, &broker.bootstrap(), true).expect("start");
    while !running.health.is_dedup_loaded() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let gateway = Arc::clone(&running.gateway);
    let server_config = config.server.clone();
    tokio::spawn(async move {
        hookgate::server::run(listener, gateway, &server_config, std::future::pending()).await;
    });

    let secret = dir.path().join("smoke.secret");
    let bootstrap = broker.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hookgate-load"))
            .args([
                "--url",
                &format!("http://{addr}/smoke"),
                "--provider",
                "github",
            ])
            .args(["--secret", &format!("file:{}", secret.display())])
            .args([
                "--rate",
                "300",
                "--duration",
                "3s",
                "--connections",
                "16",
                "--duplicates",
                "0.2",
            ])
            .args(["--brokers", &bootstrap, "--topic", "smoke.events"])
            .output()
            .expect("hookgate-load runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("missing 0  duplicated 0  extra 0"),
        "{stdout}"
    );
    assert!(stdout.contains("requests   900"), "{stdout}");
}
