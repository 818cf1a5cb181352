//! SASL to the brokers. Against Apache Kafka's SASL_SSL listener, a
//! SCRAM-SHA-512 login with the password from a `file:` publishes, and
//! `hookgate tail` reads the event back with the gateway's own settings; the
//! password is never logged or printed. Against tansu (whose memory storage
//! keeps no SCRAM users), a refused login keeps hookgate unready with the
//! broker's reason on the metrics port; and a mechanism the build lacks fails
//! `check-config`.

use hookgate::verify::VerifierKind;
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::{body_with_id, signed};
use hookgate_testbed::{
    Broker, Brokers, GatewayBuilder, KAFKA_PASSWORD, KAFKA_USER, Testbed, cli, shared_kafka,
};

const PASSWORD: &str = "scram-password-never-shown";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scram_login_over_tls_publishes_and_tail_reads_back_with_the_same_settings() {
    let kafka = shared_kafka!();
    let bed = Testbed::shared_kafka(kafka, "sasl-ok").await;
    let events = bed.events.clone();
    let password = bed.dir().join("kafka.password");
    std::fs::write(&password, format!("{KAFKA_PASSWORD}\n")).expect("password file");
    let client_table = format!(
        "[kafka.client]\n\"security.protocol\" = \"sasl_ssl\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"{KAFKA_USER}\"\n\
         \"sasl.password\" = \"file:{}\"\n\"ssl.ca.location\" = \"{}\"\n\
         [dedup]\ntopic = \"{events}.dedup\"\n",
        password.display(),
        kafka.ca().display()
    );
    let gateway = GatewayBuilder::new(kafka.sasl_ssl_bootstrap())
        .tables(&client_table)
        .sources(&bed.source("github", VerifierKind::Github))
        .start_process()
        .await;
    let body = body_with_id("evt-over-scram");
    let reply = send(
        &client(),
        "POST",
        &gateway.url("/webhooks/github"),
        &signed(VerifierKind::Github, "evt-over-scram", &body),
        body,
    )
    .await;
    assert_eq!(reply.body["status"], "accepted", "{:?}", reply.body);

    // Published by the dedup stage shortly after the 2xx.
    bed.published(1, std::time::Duration::from_millis(200))
        .await;
    let tail_of = |topic: &str| {
        let mut tail = cli::hookgate_command();
        tail.args(["tail", "--topic", topic, "--from-beginning", "--no-follow"]);
        tail
    };
    // The operator's tool, with the gateway's config file: the same cluster,
    // TLS and login.
    let tail = tail_of(&events)
        .arg("--config")
        .arg(gateway.config_path())
        .output()
        .expect("tail runs");
    let printed = String::from_utf8_lossy(&tail.stdout);
    assert!(
        tail.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&tail.stderr)
    );
    assert!(printed.contains("evt-over-scram"), "{printed}");
    // Without the login the same listener refuses the tool, and says why.
    let refused = tail_of(&events)
        .args(["--brokers", &kafka.sasl_ssl_bootstrap()])
        .args(["--kafka-property", "security.protocol=sasl_ssl"])
        .args(["--kafka-property", "sasl.mechanisms=SCRAM-SHA-512"])
        .args(["--kafka-property", &format!("sasl.username={KAFKA_USER}")])
        .args(["--kafka-property", "sasl.password=not-the-password"])
        .args([
            "--kafka-property",
            &format!("ssl.ca.location={}", kafka.ca().display()),
        ])
        .output()
        .expect("tail runs");
    assert!(!refused.status.success(), "a wrong password was accepted");
    let log = gateway.stop();
    for output in [
        log.as_str(),
        &printed,
        &String::from_utf8_lossy(&tail.stderr),
    ] {
        assert!(
            !output.contains(KAFKA_PASSWORD),
            "the password was shown: {output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scram_login_keeps_hookgate_unready_and_says_why() {
    // Its topics cannot be made without the login: the bed only knows where it is.
    let broker = Broker::start_with(None, &["--authentication"]).await;
    let bed = Testbed::new(Brokers::At(broker.bootstrap()), "sasl").await;
    let password = bed.dir().join("kafka.password");
    std::fs::write(&password, PASSWORD).expect("password file");
    let client_table = format!(
        "[kafka.client]\n\"security.protocol\" = \"sasl_plaintext\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"hookgate\"\n\
         \"sasl.password\" = \"file:{}\"\n",
        password.display()
    );
    let gateway = bed
        .gateway_for("github", VerifierKind::Github)
        .tables(&client_table)
        .spawn_process();
    let details = gateway.await_kafka_problem("SASL").await;
    assert_eq!(details["status"], "not_ready", "{details}");
    assert!(!details.to_string().contains(PASSWORD), "{details}");
    let (status, body) = try_get(&client(), &gateway.url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!((status, body.as_str()), (503, r#"{"status":"not_ready"}"#));
    let log = gateway.stop();
    assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");
}

#[test]
fn a_sasl_mechanism_this_build_lacks_fails_check_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hookgate.toml");
    std::fs::write(dir.path().join("github.secret"), "s3cret").expect("secret");
    std::fs::write(
        &config,
        "[kafka]\nbrokers = \"127.0.0.1:9\"\n\
         [kafka.client]\n\"security.protocol\" = \"sasl_ssl\"\n\"sasl.mechanisms\" = \"GSSAPI\"\n\
         [[sources]]\nname = \"github\"\npath = \"/webhooks/github\"\nverifier = \"github\"\n\
         secrets = [\"file:github.secret\"]\ntopic = \"webhooks.github\"\n",
    )
    .expect("config");
    let config_path = config.to_str().expect("utf-8 path");
    let output = cli::hookgate(&["check-config", "--config", config_path]);
    let stderr = &output.stderr;
    assert_eq!(output.code, 2, "{stderr}");
    assert!(
        stderr.contains("kafka.client") && stderr.contains("GSSAPI"),
        "{stderr}"
    );

    // SCRAM and TLS are built in: the same file with them (and the
    // credentials SCRAM needs, which librdkafka checks) is fine.
    std::fs::write(dir.path().join("kafka.password"), PASSWORD).expect("password");
    let text = std::fs::read_to_string(&config).expect("config");
    let scram = "\"sasl.mechanisms\" = \"SCRAM-SHA-256\"\n\"sasl.username\" = \"hookgate\"\n\
                 \"sasl.password\" = \"file:kafka.password\"";
    std::fs::write(
        &config,
        text.replace("\"sasl.mechanisms\" = \"GSSAPI\"", scram),
    )
    .expect("config");
    let output = cli::hookgate(&["check-config", "--config", config_path]);
    assert!(output.success(), "{}", output.stderr);
    assert!(!output.stdout.contains(PASSWORD));
}
