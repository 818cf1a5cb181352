//! A few seconds of open-loop load against a real gateway and Apache Kafka
//! (tansu where the broker is frozen), then the ledger: every accepted event
//! in Kafka exactly once. Performance is not
//! asserted here; `loadtest/run.sh` and `docs/benchmarks.md` measure it.

use std::process::Command;
use std::time::Duration;

use hookgate::verify::VerifierKind;
use hookgate_testbed::{Testbed, shared_kafka};

/// The one source every run sends to.
const SOURCE: &str = "smoke";

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
        &format!("http://{addr}/webhooks/{SOURCE}"),
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
    let secret = dir.join(format!("{SOURCE}.secret"));
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
    let bed = Testbed::shared_kafka(shared_kafka!(), "events").await;
    let gateway = bed.gateway_for(SOURCE, VerifierKind::Github).start().await;
    let addr = gateway.addr;
    let (path, bootstrap, topic) = (bed.dir().to_owned(), bed.bootstrap(), bed.events.clone());
    let output = tokio::task::spawn_blocking(move || load(addr, &path, &bootstrap, &topic, 3))
        .await
        .expect("join");
    assert_all_answered_and_in_kafka_once(&output);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_over_https_leaves_a_clean_ledger() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "tls").await;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    std::fs::write(bed.dir().join("tls.crt"), made.cert.pem()).expect("cert");
    std::fs::write(bed.dir().join("tls.key"), made.key_pair.serialize_pem()).expect("key");
    let gateway = bed
        .gateway_for(SOURCE, VerifierKind::Github)
        .server("[server.tls]\ncertificate = \"tls.crt\"\nkey = \"tls.key\"")
        .files_in(bed.dir())
        .start()
        .await;
    let url = format!(
        "https://localhost:{}/webhooks/{SOURCE}",
        gateway.addr.port()
    );
    let (path, bootstrap, topic) = (bed.dir().to_owned(), bed.bootstrap(), bed.events.clone());
    let output = tokio::task::spawn_blocking(move || {
        let ca = path.join("tls.crt");
        let ca = ca.to_str().expect("utf-8 path");
        load_url(&url, &["--ca", ca], &path, &bootstrap, &topic, 3)
    })
    .await
    .expect("join");
    assert_all_answered_and_in_kafka_once(&output);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_under_load_loses_no_acknowledged_event() {
    // Frozen in the middle of the run: a broker of the test's own (tansu).
    let bed = Testbed::own_tansu("outage").await;
    let gateway = bed
        .gateway_for(SOURCE, VerifierKind::Github)
        .produce_timeout(Duration::from_secs(1))
        .start()
        .await;
    let addr = gateway.addr;
    let (path, bootstrap, topic) = (bed.dir().to_owned(), bed.bootstrap(), bed.events.clone());
    let running = tokio::task::spawn_blocking(move || load(addr, &path, &bootstrap, &topic, 5));
    // The broker freezes for 1.5 s in the middle of the run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bed.tansu().signal("-STOP");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bed.tansu().signal("-CONT");
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
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_loses_and_repeats_no_acknowledged_event() {
    let bed = Testbed::shared_kafka(shared_kafka!(), "crash").await;
    // The same `dedup.instance_id` for the process started after the kill,
    // as a restarted pod has.
    let mut gateway = bed
        .gateway_for(SOURCE, VerifierKind::Github)
        .dedup(&format!("instance_id = \"{}.replica\"", bed.events))
        .start_process()
        .await;
    let listen = gateway.addr;
    let (path, bootstrap, topic) = (bed.dir().to_owned(), bed.bootstrap(), bed.events.clone());
    let running = tokio::task::spawn_blocking(move || load(listen, &path, &bootstrap, &topic, 6));
    // SIGKILL two seconds into the run: nothing flushed, requests cut off
    // mid-way. A new process takes over the port and, with the same
    // `dedup.instance_id`, the partitions at once: it publishes what the
    // killed one acknowledged and had not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    gateway.restart_after_kill().await;
    let output = running.await.expect("join");
    let log = gateway.kill();
    let stdout = String::from_utf8_lossy(&output.stdout);
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
