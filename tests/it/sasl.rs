//! SASL to the brokers. tansu 0.6 with `--authentication` offers SCRAM, but
//! keeps SCRAM users only in its sqlite and postgres storage, not in the memory
//! storage the tests run (`../shared/BROKER-NOTES.md`), and librdkafka's mock
//! cluster has no SASL: a successful login cannot be shown against a broker
//! run here. What is shown: hookgate's build speaks SCRAM, a refused login
//! keeps it unready with the broker's reason on the metrics port and never
//! shows the password, and a mechanism the build lacks fails `check-config`.

use std::process::Command;

use hookgate::verify::VerifierKind;

use super::source;
use crate::harness::{Broker, Process, client, topic, try_get};

const PASSWORD: &str = "scram-password-never-shown";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scram_login_keeps_hookgate_unready_and_says_why() {
    let broker = Broker::start_with(None, &["--authentication"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let password = dir.path().join("kafka.password");
    std::fs::write(&password, PASSWORD).expect("password file");
    let client_table = format!(
        "[kafka.client]\n\"security.protocol\" = \"sasl_plaintext\"\n\
         \"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"hookgate\"\n\
         \"sasl.password\" = \"file:{}\"\n",
        password.display()
    );
    let gateway = Process::spawn(
        &broker.bootstrap(),
        &client_table,
        &source(dir.path(), "github", VerifierKind::Github, &topic("sasl")),
    );
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
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("check-config runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
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
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("check-config runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
}
