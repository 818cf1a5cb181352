//! The `hookgate` binary's contract: `check-config` exits 0 with a summary, or 2
//! naming every bad field without printing secrets; `send` signs deliveries a
//! gateway accepts; `tail` prints what landed, with no control character of
//! a header able to forge a record line unless `--raw`; `forward` and `tail`
//! say in `--help` what they do with quarantined requests.

use hookgate::verify::VerifierKind;
use hookgate_testbed::Testbed;
use hookgate_testbed::cli::{self, Ran};
use hookgate_testbed::signing::{PUBLIC_URL, secret_for};

/// `hookgate ARGS…`: its exit code, standard output and standard error.
fn hookgate(args: &[&str]) -> (i32, String, String) {
    let Ran {
        code,
        stdout,
        stderr,
    } = cli::hookgate(args);
    (code, stdout, stderr)
}

#[test]
fn check_config_summarises_the_example() {
    let (code, stdout, _) = hookgate(&["check-config", "--config", "examples/hookgate.toml"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stdout.contains("/webhooks/github") && stdout.contains("header:x-github-delivery"),
        "{stdout}"
    );
}

#[test]
fn check_config_names_every_bad_field_and_never_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sw.secret"), "whsec_not*base64*hunter2").expect("secret");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
        [kafka]
        brokers = "127.0.0.1:9092"
        [[sources]]
        name = "sw"
        path = "/sw"
        verifier = "standard-webhooks"
        secrets = ["file:sw.secret"]
        topic = "t"
        [[sources]]
        name = "gh"
        path = "/gh"
        verifier = "github"
        secrets = ["env:HOOKGATE_IT_SURELY_UNSET"]
        topic = "t"
        "#,
    )
    .expect("config");
    let (code, _, stderr) = hookgate(&[
        "check-config",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "sources[0].secrets[0]: a Standard Webhooks secret is `whsec_` followed by base64"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "sources[1].secrets[0]: environment variable HOOKGATE_IT_SURELY_UNSET is not set"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "a secret leaked: {stderr}");
}

#[test]
fn help_documents_both_commands() {
    let (code, stdout, _) = hookgate(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("serve") && stdout.contains("check-config"),
        "{stdout}"
    );
}

/// `hookgate send` against a gateway process on a real broker, then `hookgate
/// tail` of the topic it published to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_signed_events_and_tail_prints_them() {
    let bed = Testbed::own_tansu("send").await;
    let mut gateway = bed.gateway();
    for kind in [
        VerifierKind::Stripe,
        VerifierKind::Discord,
        VerifierKind::Square,
    ] {
        gateway = gateway.sources(&bed.source(kind.name(), kind));
    }
    let gateway = gateway.start_process().await;

    for kind in [
        VerifierKind::Stripe,
        VerifierKind::Discord,
        VerifierKind::Square,
    ] {
        let secret = bed.dir().join(format!("{}.signing", kind.name()));
        std::fs::write(&secret, secret_for(kind)).expect("signing key");
        let url = gateway.url(&format!("/webhooks/{}", kind.name()));
        let id = format!("evt-sent-{}", kind.name());
        let (code, stdout, stderr) = hookgate(&[
            "send",
            "--provider",
            kind.name(),
            "--secret",
            &format!("file:{}", secret.display()),
            "--url",
            &url,
            "--public-url",
            PUBLIC_URL,
            "--id",
            &id,
            "--repeat",
            "2",
        ]);
        assert_eq!(code, 0, "{kind:?}: {stdout}{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(
            lines[0].starts_with("HTTP 200") && lines[0].contains("accepted"),
            "{stdout}"
        );
        assert!(lines[1].contains("duplicate"), "{stdout}");
    }
    let (code, stdout, _) = hookgate(&[
        "send",
        "--provider",
        "github",
        "--secret",
        "env:HOOKGATE_NO_SUCH_VAR",
        "--url",
        "http://127.0.0.1:9/",
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());

    // Published by the dedup stage shortly after the 2xx.
    bed.published(3, std::time::Duration::from_millis(200))
        .await;
    let (code, stdout, stderr) = hookgate(&[
        "tail",
        "--brokers",
        &bed.bootstrap(),
        "--topic",
        &bed.events,
        "--from-beginning",
        "--no-follow",
    ]);
    assert_eq!(code, 0, "{stderr}");
    for kind in ["stripe", "discord", "square"] {
        assert!(
            stdout.contains(&format!("key: evt-sent-{kind}")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("hookgate-source: {kind}")),
            "{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("--- ").count(),
        3,
        "each event once: {stdout}"
    );
    assert!(stdout.contains("hello from hookgate send"), "{stdout}");
    gateway.stop();
}

#[test]
fn check_config_says_what_the_dedup_stages_will_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("gh.secret"), "s3cret").expect("secret");
    let config = dir.path().join("hookgate.toml");
    let write = |max_entries: u64| {
        std::fs::write(
            &config,
            format!(
                "[kafka]\nbrokers = \"127.0.0.1:9092\"\n\
                 [dedup]\nwindow = \"72h\"\nmax_entries = {max_entries}\nexpected_events_per_second = 1000\n\
                 [[sources]]\nname = \"gh\"\npath = \"/gh\"\nverifier = \"github\"\n\
                 secrets = [\"file:gh.secret\"]\ntopic = \"t\"\n"
            ),
        )
        .expect("config");
    };
    let path = config.to_str().expect("utf-8 path").to_owned();
    // 1,000 events/s for 72 h is 259.2 M ids.
    write(10_000_000);
    let (code, stdout, stderr) = hookgate(&["check-config", "--config", &path]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "warning: dedup: at 1000 events/s the dedup stages together hold 259200000 ids"
        ) && stdout.contains("2.7 GiB"),
        "{stdout}"
    );
}

/// The lines of `tail`'s output that open a record.
fn record_lines(printed: &str) -> usize {
    printed
        .lines()
        .filter(|line| line.starts_with("--- "))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_escapes_what_could_forge_a_record_line_unless_raw() {
    use hookgate_testbed::{Broker, topic};
    use rdkafka::ClientConfig;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let broker = Broker::start().await;
    let forged = topic("tail-forged");
    broker.create_topic(&forged).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("producer");
    let fake = format!("hi\n--- {forged} partition 0 offset 99  key: admin");
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "http:x-note",
            value: Some(fake.as_bytes()),
        })
        .insert(Header {
            key: "http:x-csi",
            value: Some(b"\xc2\x9b2J".as_slice()),
        });
    producer
        .send(
            FutureRecord::to(&forged)
                .key("github")
                .payload(b"{\"a\":1}\x1b[2J".as_slice())
                .headers(headers),
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("record written");
    let bootstrap = broker.bootstrap();
    let tail = |more: &[&str]| {
        let args = [
            "tail",
            "--brokers",
            &bootstrap,
            "--topic",
            &forged,
            "--from-beginning",
            "--no-follow",
        ];
        hookgate(&[&args[..], more].concat())
    };

    // A pipe: headers escaped, the body byte for byte.
    let (code, stdout, stderr) = tail(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        record_lines(&stdout),
        1,
        "one record, one record line: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "http:x-note: hi\\n--- {forged} partition 0 offset 99"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("http:x-csi: \\u{9b}2J\n"), "{stdout}");
    assert!(stdout.contains("{\"a\":1}\x1b[2J"), "{stdout:?}");

    // --raw: as it is, the forged line included.
    let (code, stdout, stderr) = tail(&["--raw"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(record_lines(&stdout), 2, "{stdout}");
    assert!(stdout.contains("http:x-csi: \u{9b}2J\n"), "{stdout}");
}

#[test]
fn forward_and_tail_say_what_they_do_with_quarantined_requests() {
    let (code, stdout, _) = hookgate(&["forward", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "--keep-query",
        "--header <NAME>",
        "never re-signed",
        "`token` sources",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    let (code, stdout, _) = hookgate(&["tail", "--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("--raw") && stdout.contains("\\u{1b}"),
        "{stdout}"
    );
}

#[test]
fn redrive_takes_kafka_properties_beside_the_file_and_names_a_bad_one() {
    let (code, _, stderr) = hookgate(&[
        "redrive",
        "--config",
        "examples/hookgate.toml",
        "--source",
        "github",
        "--kafka-property",
        "sasl.password=env:HOOKGATE_TEST_UNSET_PASSWORD",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--kafka-property sasl.password"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("HOOKGATE_TEST_UNSET_PASSWORD="),
        "{stderr}"
    );
    let (code, _, stderr) = hookgate(&[
        "redrive",
        "--config",
        "examples/hookgate.toml",
        "--source",
        "github",
        "--kafka-property",
        "acks=1",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--kafka-property acks: is set by hookgate"),
        "{stderr}"
    );
}

#[test]
fn check_config_names_the_kafka_features_the_binary_was_built_with() {
    let (code, stdout, stderr) = hookgate(&["check-config", "--config", "examples/hookgate.toml"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("librdkafka:"))
        .unwrap_or_else(|| panic!("no librdkafka line in {stdout}"));
    // `oidc` needs libcurl at build time: a build without it must show here.
    for feature in ["ssl", "sasl_scram", "oidc"] {
        assert!(line.contains(feature), "{feature} missing: {line}");
    }
}
