//! TLS to the brokers: tansu behind stunnel (Debian's `stunnel4`), which
//! demands a client certificate, with a certificate authority, a server and a
//! client certificate the test makes with the `openssl` command. hookgate
//! publishes through it with the right CA and its certificate (its key's
//! passphrase read from a `file:`), and stays unready, saying why, with a
//! wrong CA or without a client certificate. The operator's tools reach the
//! same broker with the gateway's own file: the quarantine runbook (`tail`,
//! then `redrive`) and `forward`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookgate::verify::VerifierKind;
use hookgate_testbed::cli;
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::github_signed_with;
use hookgate_testbed::signing::{body_with_id, signed, source};
use hookgate_testbed::{Broker, GatewayBuilder, free_port, installed, topic};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

const KIND: VerifierKind = VerifierKind::Github;
const KEY_PASSPHRASE: &str = "client-key-passphrase";

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA, a certificate for 127.0.0.1 signed by it, a client certificate whose
/// key is encrypted, and a second CA that signed nothing here.
fn make_certificates(dir: &Path) {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=hookgate test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .expect("extensions");
    for (name, subject, encrypt) in [
        ("server", "/CN=127.0.0.1", false),
        ("client", "/CN=hookgate", true),
    ] {
        let key = format!("{name}.key");
        let mut request = vec![
            "req", "-newkey", "rsa:2048", "-subj", subject, "-keyout", &key,
        ];
        let passout = format!("pass:{KEY_PASSPHRASE}");
        if encrypt {
            request.extend(["-passout", &passout]);
        } else {
            request.push("-nodes");
        }
        let csr = format!("{name}.csr");
        request.extend(["-out", &csr]);
        openssl(dir, &request);
        let pem = format!("{name}.pem");
        let mut sign = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
        ];
        if name == "server" {
            sign.extend(["-extfile", "server.ext"]);
        }
        openssl(dir, &sign);
    }
    std::fs::write(dir.join("key.passphrase"), KEY_PASSPHRASE).expect("passphrase file");
}

/// stunnel terminating TLS on `tls_port` for the broker on `broker_port`,
/// demanding a client certificate signed by the test CA.
struct Stunnel(Child);

impl Stunnel {
    async fn start(dir: &Path, tls_port: u16, broker_port: u16) -> Self {
        let conf = dir.join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n\
                 [kafka]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{broker_port}\n\
                 cert = {dir}/server.pem\nkey = {dir}/server.key\n\
                 CAfile = {dir}/ca.pem\nverifyChain = yes\n",
                dir = dir.display()
            ),
        )
        .expect("stunnel.conf");
        let child = Command::new(installed("stunnel4", "STUNNEL"))
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "stunnel did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `[kafka.client]` for TLS with `ca` and, when `with_certificate`, the
/// client certificate.
fn tls_client(dir: &Path, ca: &str, with_certificate: bool) -> String {
    let mut table = format!(
        "[kafka.client]\n\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"{}\"\n",
        dir.join(ca).display()
    );
    if with_certificate {
        table += &format!(
            "\"ssl.certificate.location\" = \"{}\"\n\"ssl.key.location\" = \"{}\"\n\
             \"ssl.key.password\" = \"file:{}\"\n",
            dir.join("client.pem").display(),
            dir.join("client.key").display(),
            dir.join("key.passphrase").display(),
        );
    }
    table
}

struct TlsBroker {
    _broker: Broker,
    _stunnel: Stunnel,
    bootstrap: String,
    dir: tempfile::TempDir,
}

async fn tls_broker() -> TlsBroker {
    let dir = tempfile::tempdir().expect("tempdir");
    make_certificates(dir.path());
    let tls_port = free_port();
    let broker = Broker::start_with(Some(tls_port), &[]).await;
    let stunnel = Stunnel::start(dir.path(), tls_port, broker.port()).await;
    TlsBroker {
        _broker: broker,
        _stunnel: stunnel,
        bootstrap: format!("127.0.0.1:{tls_port}"),
        dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookgate_publishes_over_tls_with_a_client_certificate() {
    let tls = tls_broker().await;
    let events = topic("tls");
    let dir = tls.dir.path();
    let gateway = GatewayBuilder::new(&tls.bootstrap)
        .tables(&tls_client(dir, "ca.pem", true))
        .sources(&source(dir, "github", KIND, &events))
        .start_process()
        .await;
    let body = body_with_id("evt-tls");
    let reply = send(
        &client(),
        "POST",
        &gateway.url("/webhooks/github"),
        &signed(KIND, "evt-tls", &body),
        body.clone(),
    )
    .await;
    assert_eq!(
        reply.body["status"],
        "accepted",
        "{:?}\n{}",
        reply.body,
        gateway.log()
    );

    // Read it back over TLS, as a downstream consumer would.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &tls.bootstrap)
        .set("group.id", "it.tls")
        .set("auto.offset.reset", "earliest")
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", dir.join("ca.pem").to_string_lossy())
        .set(
            "ssl.certificate.location",
            dir.join("client.pem").to_string_lossy(),
        )
        .set("ssl.key.location", dir.join("client.key").to_string_lossy())
        .set("ssl.key.password", KEY_PASSPHRASE)
        .create()
        .expect("TLS consumer");
    consumer.subscribe(&[&events]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    let payload = loop {
        assert!(
            Instant::now() < deadline,
            "the event never arrived over TLS"
        );
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            break message.payload().map(<[u8]>::to_vec);
        }
    };
    assert_eq!(payload.as_deref(), Some(&body[..]));
    let log = gateway.stop();
    assert!(
        !log.contains(KEY_PASSPHRASE),
        "the key's passphrase was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_a_missing_client_certificate_keeps_hookgate_unready() {
    let tls = tls_broker().await;
    let dir = tls.dir.path();
    let sources = source(dir, "github", KIND, &topic("tls-refused"));
    for (client_table, expected_in_log) in [
        (
            tls_client(dir, "other-ca.pem", true),
            "certificate verify failed",
        ),
        (tls_client(dir, "ca.pem", false), "certificate required"),
    ] {
        let gateway = GatewayBuilder::new(&tls.bootstrap)
            .tables(&client_table)
            .sources(&sources)
            .spawn_process();
        let details = gateway.await_kafka_problem(expected_in_log).await;
        assert_eq!(details["status"], "not_ready", "{details}");
        let (status, _) = try_get(&client(), &gateway.url("/readyz"))
            .await
            .expect("readyz");
        assert_eq!(status, 503);
        let log = gateway.stop();
        assert!(
            log.contains(expected_in_log),
            "{expected_in_log:?} not in:\n{log}"
        );
    }
}

/// A GitHub source whose secret is read from `secret_file`, quarantining
/// what it refuses.
fn quarantining(dir: &Path, secret_file: &str, events: &str, quarantine: &str) -> String {
    format!(
        "[[sources]]\nname = \"github\"\npath = \"/webhooks/github\"\nverifier = \"github\"\n\
         secrets = [\"file:{}\"]\ntopic = \"{events}\"\nquarantine_topic = \"{quarantine}\"\n",
        dir.join(secret_file).display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarantine_runbook_and_forward_reach_a_tls_broker_with_the_gateways_file() {
    let tls = tls_broker().await;
    let dir = tls.dir.path();
    let (events, quarantine) = (topic("tls-runbook"), topic("tls-runbook-q"));
    std::fs::write(dir.join("wrong.secret"), "a-mistyped-secret").expect("secret");
    std::fs::write(dir.join("right.secret"), "the-providers-secret").expect("secret");
    let client_table = tls_client(dir, "ca.pem", true);
    let gateway = GatewayBuilder::new(&tls.bootstrap)
        .tables(&client_table)
        .sources(&quarantining(dir, "wrong.secret", &events, &quarantine))
        .files_in(dir)
        .start_process()
        .await;

    // What the replica reports of its TLS material and of the broker.
    let expiry = gateway
        .metric("hookgate_tls_certificate_expiry_timestamp_seconds{certificate=\"kafka_client\"}")
        .await;
    let in_two_days = hookgate_testbed::signing::now() as f64 + 2.0 * 86_400.0;
    assert!(
        (expiry - in_two_days).abs() < 86_400.0,
        "the client certificate expires in 2 days, not at {expiry}"
    );

    // A delivery refused for a mistyped secret is kept in the quarantine.
    let (headers, body) = github_signed_with(b"the-providers-secret", "tls-lost");
    let url = gateway.url("/webhooks/github");
    let reply = send(&client(), "POST", &url, &headers, body.clone()).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    gateway
        .await_metric(
            "hookgate_quarantined_total{source=\"github\",outcome=\"written\"}",
            1.0,
        )
        .await;

    // 1. Look: `tail` with the gateway's file only (TLS, the client
    // certificate, its key's passphrase from a file:).
    let config = gateway.config_path().to_str().expect("utf-8").to_owned();
    let tail = cli::hookgate(&[
        "tail",
        "--config",
        &config,
        "--topic",
        &quarantine,
        "--from-beginning",
        "--no-follow",
    ]);
    let said = tail.printed();
    assert!(tail.success(), "{said}");
    assert!(said.contains("signature_mismatch"), "{said}");
    assert!(said.contains("tls-lost"), "{said}");

    // 2. Fix the secret in the file; re-drive: published once, over TLS.
    gateway.rewrite_config(
        "",
        &client_table,
        &quarantining(dir, "right.secret", &events, &quarantine),
    );
    let redrive = cli::hookgate(&["redrive", "--config", &config, "--source", "github"]);
    let said = redrive.printed();
    assert!(redrive.success(), "{said}");
    assert!(said.contains("1 accepted"), "{said}");

    // 3. `forward` reads the quarantine over TLS and delivers the request
    // to the gateway, reloaded with the fixed secret: a copy of what was
    // re-driven, so a duplicate.
    gateway.hangup();
    gateway
        .await_metric("hookgate_config_reloads_total{outcome=\"applied\"}", 1.0)
        .await;
    let forward = cli::hookgate(&[
        "forward",
        "--config",
        &config,
        "--topic",
        &quarantine,
        "--from",
        "beginning",
        "--no-follow",
        "--to",
        &url,
    ]);
    let said = forward.printed();
    assert!(forward.success(), "{said}");
    assert!(said.contains("200"), "{said}");

    // Without the file's TLS settings the same tool cannot read the topic,
    // and says so instead of waiting for ever.
    let plain = cli::hookgate(&[
        "tail",
        "--brokers",
        &tls.bootstrap,
        "--topic",
        &quarantine,
        "--from-beginning",
        "--no-follow",
    ]);
    assert!(!plain.success(), "{}", plain.printed());

    // librdkafka's statistics (every 5 s) name the broker it produces to.
    let broker = format!("hookgate_kafka_broker_up{{broker=\"{}/", tls.bootstrap);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = try_get(&client(), &gateway.metrics_url("/metrics"))
            .await
            .expect("metrics");
        if metrics
            .lines()
            .any(|line| line.starts_with(&broker) && line.ends_with(" 1"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no {broker}…}} 1 in:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    gateway.stop();
}
