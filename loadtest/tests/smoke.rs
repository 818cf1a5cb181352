//! A few seconds of open-loop load against a real gateway and Apache Kafka
//! (tansu where the broker is frozen), then the ledger: every accepted event
//! in Kafka exactly once. Performance is not
//! asserted here; `loadtest/run.sh` and `docs/benchmarks.md` measure it.

#[path = "../../tests/it/broker.rs"]
#[allow(dead_code)]
mod broker;

use std::process::Command;

use hookgate::config::Config;

/// A topic name no other run or test on the shared broker uses.
fn unique(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("smoke.{name}.{}.{n}", std::process::id())
}

/// hookgate serving one GitHub source on the broker at `bootstrap`, with
/// `kafka` more TOML lines in `[kafka]`, once ready.
async fn serve(
    bootstrap: &str,
    topic: &str,
    kafka: &str,
    dir: &std::path::Path,
) -> hookgate::app::App {
    serve_with(bootstrap, topic, "", kafka, dir).await
}

/// As [`serve`], with `server` before it (`[server.tls]`).
async fn serve_with(
    bootstrap: &str,
    topic: &str,
    server: &str,
    kafka: &str,
    dir: &std::path::Path,
) -> hookgate::app::App {
    broker::create_topic(bootstrap, topic, 1, &[]).await;
    std::fs::write(dir.join("smoke.secret"), "smoke-secret").expect("secret");
    let text = format!(
        "{server}\n[kafka]\nbrokers = \"{bootstrap}\"\n{kafka}\n[metrics]\nenabled = false\n\
         [dedup]\ntopic = \"{topic}.dedup\"\nintake_topic = \"{topic}.intake\"\ngroup = \"{topic}.group\"\n\
         [[sources]]\nname = \"smoke\"\npath = \"/smoke\"\nverifier = \"github\"\n\
         secrets = [\"file:smoke.secret\"]\ntopic = \"{topic}\"\n"
    );
    let mut config = Config::parse(&text).expect("config");
    config.base_dir = dir.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = hookgate::app::start(&config, listener)
        .await
        .expect("start");
    while !app.health().is_dedup_loaded() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app
}

/// The `hookgate` binary, built beside `hookgate-load` by
/// `cargo test --workspace` (the root package's tests need it).
fn hookgate_binary() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_hookgate-load")).with_file_name("hookgate");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, or `cargo build --bin hookgate` first",
        path.display()
    );
    path
}

/// `hookgate serve` as a process of its own, so that it can be killed, with
/// the config `config`; waits until `/readyz` answers 200.
#[expect(
    clippy::zombie_processes,
    reason = "the caller kills and reaps the child it gets"
)]
async fn spawn_ready(
    config: &std::path::Path,
    listen: std::net::SocketAddr,
) -> std::process::Child {
    let log = config.with_extension("log");
    let mut child = Command::new(hookgate_binary())
        .args(["serve", "--config"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log file"),
        )
        .spawn()
        .expect("hookgate starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if readyz(listen).await {
            return child;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hookgate not ready within 30 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether `GET /readyz` answers 200.
async fn readyz(listen: std::net::SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(listen).await else {
        return false;
    };
    let request = format!("GET /readyz HTTP/1.1\r\nhost: {listen}\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer.starts_with(b"HTTP/1.1 200")
}

/// Runs hookgate-load at 300 requests a second for `seconds`, with the ledger
/// over `topic`; returns what it printed.
fn load(
    addr: std::net::SocketAddr,
    dir: &std::path::Path,
    bootstrap: &str,
    topic: &str,
    seconds: u32,
) -> std::process::Output {
    load_url(
        &format!("http://{addr}/smoke"),
        &[],
        dir,
        bootstrap,
        topic,
        seconds,
    )
}

/// As [`load`], to `url` with more arguments (`--ca`).
fn load_url(
    url: &str,
    more: &[&str],
    dir: &std::path::Path,
    bootstrap: &str,
    topic: &str,
    seconds: u32,
) -> std::process::Output {
    let secret = dir.join("smoke.secret");
    Command::new(env!("CARGO_BIN_EXE_hookgate-load"))
        .args(["--url", url, "--provider", "github"])
        .args(more)
        .args(["--secret", &format!("file:{}", secret.display())])
        .args(["--rate", "300", "--duration", &format!("{seconds}s")])
        .args(["--connections", "16", "--duplicates", "0.2"])
        .args(["--brokers", bootstrap, "--topic", topic])
        .output()
        .expect("hookgate-load runs")
}

/// 900 requests sent (3 s at 300/s), every one answered, and the ledger
/// found each accepted event in Kafka exactly once.
fn assert_all_answered_and_in_kafka_once(output: &std::process::Output) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_leaves_a_clean_ledger() {
    let kafka = broker::Kafka::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("events");
    let app = serve(&kafka.bootstrap(), &topic, "", dir.path()).await;
    let addr = app.addr();
    let (path, bootstrap) = (dir.path().to_owned(), kafka.bootstrap());
    let output = tokio::task::spawn_blocking(move || load(addr, &path, &bootstrap, &topic, 3))
        .await
        .expect("join");
    assert_all_answered_and_in_kafka_once(&output);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_over_https_leaves_a_clean_ledger() {
    let kafka = broker::Kafka::shared();
    let topic = unique("tls");
    let dir = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(dir.path().join("tls.crt"), made.cert.pem()).expect("cert");
    std::fs::write(dir.path().join("tls.key"), made.key_pair.serialize_pem()).expect("key");
    let tls = "[server.tls]\ncertificate = \"tls.crt\"\nkey = \"tls.key\"";
    let app = serve_with(&kafka.bootstrap(), &topic, tls, "", dir.path()).await;
    let url = format!("https://localhost:{}/smoke", app.addr().port());
    let (path, bootstrap) = (dir.path().to_owned(), kafka.bootstrap());
    let output = tokio::task::spawn_blocking(move || {
        let ca = path.join("tls.crt");
        let ca = ca.to_str().expect("utf-8 path");
        load_url(&url, &["--ca", ca], &path, &bootstrap, &topic, 3)
    })
    .await
    .expect("join");
    assert_all_answered_and_in_kafka_once(&output);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_under_load_loses_no_acknowledged_event() {
    // Frozen in the middle of the run: a broker of the test's own (tansu).
    let broker = broker::Broker::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = serve(
        &broker.bootstrap(),
        "outage.events",
        "produce_timeout = \"1s\"",
        dir.path(),
    )
    .await;
    let addr = app.addr();
    let (path, bootstrap) = (dir.path().to_owned(), broker.bootstrap());
    let running =
        tokio::task::spawn_blocking(move || load(addr, &path, &bootstrap, "outage.events", 5));
    // The broker freezes for 1.5 s in the middle of the run.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    broker.signal("-STOP");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    broker.signal("-CONT");
    let output = running.await.expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every 2xx is in Kafka once; the 503s of the outage may still have
    // landed (extra), and their senders would retry.
    assert!(stdout.contains("missing 0  duplicated 0"), "{stdout}");
    assert!(stdout.contains("503:"), "the outage was seen: {stdout}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_loses_and_repeats_no_acknowledged_event() {
    let kafka = broker::Kafka::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("crash");
    broker::create_topic(&kafka.bootstrap(), &topic, 1, &[]).await;
    std::fs::write(dir.path().join("smoke.secret"), "smoke-secret").expect("secret");
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], broker::free_port()));
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{listen}\"\n[kafka]\nbrokers = \"{}\"\n\
             [metrics]\nenabled = false\n[dedup]\ntopic = \"{topic}.dedup\"\n\
             intake_topic = \"{topic}.intake\"\ngroup = \"{topic}.group\"\n\
             instance_id = \"{topic}.replica\"\n\
             [[sources]]\nname = \"smoke\"\npath = \"/smoke\"\nverifier = \"github\"\n\
             secrets = [\"file:smoke.secret\"]\ntopic = \"{topic}\"\n",
            kafka.bootstrap()
        ),
    )
    .expect("config");
    let mut gateway = spawn_ready(&config, listen).await;
    let (path, bootstrap) = (dir.path().to_owned(), kafka.bootstrap());
    let running = tokio::task::spawn_blocking(move || load(listen, &path, &bootstrap, &topic, 6));
    // SIGKILL two seconds into the run: nothing flushed, requests cut off
    // mid-way. A new process takes over the port and, with the same
    // `dedup.instance_id` (as a restarted pod has), the partitions at once:
    // it publishes what the killed one acknowledged and had not.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    gateway.kill().expect("kill -9");
    gateway.wait().expect("reaped");
    let mut gateway = spawn_ready(&config, listen).await;
    let output = running.await.expect("join");
    let _ = gateway.kill();
    let _ = gateway.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(config.with_extension("log")).unwrap_or_default();
    // The generator exits 1 for the requests the crash left unanswered; the
    // ledger is what counts.
    assert!(
        stdout.contains("ledger "),
        "{stdout}{}\nlog:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The generator repeats a fifth of its ids, some across the crash: a 2xx
    // before the kill whose repeat was published again would be `duplicated`.
    assert!(
        stdout.contains("missing 0  duplicated 0"),
        "{stdout}\nlog:\n{log}"
    );
    let unanswered: u64 = stdout
        .split("no answer ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        unanswered > 0,
        "the crash was not seen by the senders: {stdout}"
    );
}
