//! Interop with the providers' own code: deliveries signed by their official
//! SDKs (stripe, standardwebhooks, svix, slack_sdk, twilio, Adyen from PyPI;
//! @octokit/webhooks-methods from npm) are accepted by a hookgate process and
//! their tampered copies refused; and what `verify::sign` (the code behind
//! `hookgate send`) produces verifies with those SDKs and with the
//! verify-only ones (gocardless-pro, polar-sdk, telnyx), tampered copies not.
//! And a consumer team's side: the example consumers in
//! `examples/consumers/` against a broker, records of a source with
//! CloudEvents headers read back intact by the CloudEvents SDK for Python,
//! and a Java consumer on Apache Kafka's client reading committed records
//! gets each event once. `scripts/setup.sh` installs the SDKs; the
//! scripts are in `tests/interop/`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate::verify::{self, VerifierKind};
use hookgate_testbed::http::{client, send};
use hookgate_testbed::signing::{PUBLIC_URL, SCHEME_OPTIONS, body_with_id, secret_for};
use hookgate_testbed::{Testbed, installed, tools_dir};

/// One SDK, and how to drive it.
struct Sdk {
    kind: VerifierKind,
    /// The provider's name in `sdk.py`, or `None` for the npm script.
    python_name: Option<&'static str>,
    /// A body in the shape the SDK signs.
    form: bool,
    /// Whether the SDK can sign (some only verify: the provider holds the
    /// key, or its SDK has no signer).
    signs: bool,
}

const SDKS: [Sdk; 12] = [
    Sdk {
        kind: VerifierKind::Stripe,
        python_name: Some("stripe"),
        form: false,
        signs: true,
    },
    Sdk {
        kind: VerifierKind::StandardWebhooks,
        python_name: Some("standard-webhooks"),
        form: false,
        signs: true,
    },
    // A Svix-branded delivery (svix-* headers only) to a Standard Webhooks
    // source, and hookgate's webhook-* signature checked by Svix's SDK.
    Sdk {
        kind: VerifierKind::StandardWebhooks,
        python_name: Some("svix"),
        form: false,
        signs: true,
    },
    // Clerk sends through Svix; what hookgate signs as Clerk, Svix's SDK verifies.
    Sdk {
        kind: VerifierKind::Clerk,
        python_name: Some("svix"),
        form: false,
        signs: true,
    },
    Sdk {
        kind: VerifierKind::Slack,
        python_name: Some("slack"),
        form: false,
        signs: true,
    },
    Sdk {
        kind: VerifierKind::Twilio,
        python_name: Some("twilio"),
        form: false,
        signs: true,
    },
    Sdk {
        kind: VerifierKind::Twilio,
        python_name: Some("twilio"),
        form: true,
        signs: true,
    },
    Sdk {
        kind: VerifierKind::Github,
        python_name: None,
        form: false,
        signs: true,
    },
    // Adyen's library signs each item of a notification and checks them.
    Sdk {
        kind: VerifierKind::Adyen,
        python_name: Some("adyen"),
        form: false,
        signs: true,
    },
    // These only verify what hookgate signs as their provider.
    Sdk {
        kind: VerifierKind::GoCardless,
        python_name: Some("gocardless"),
        form: false,
        signs: false,
    },
    Sdk {
        kind: VerifierKind::Polar,
        python_name: Some("polar"),
        form: false,
        signs: false,
    },
    // Telnyx holds its private key: its SDK verifies with the public one.
    Sdk {
        kind: VerifierKind::Telnyx,
        python_name: Some("telnyx"),
        form: false,
        signs: false,
    },
];

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Runs the SDK script with `args`, `input` on stdin; its exit status and stdout.
fn run_sdk(sdk: &Sdk, args: &[&str], input: &[u8]) -> (bool, String) {
    let mut command = match sdk.python_name {
        Some(_) => {
            let python = tools_dir().join("bin/python");
            assert!(
                python.is_file(),
                "the SDKs are not installed: run scripts/setup.sh"
            );
            let mut command = Command::new(python);
            command.arg(script("sdk.py"));
            command
        }
        None => {
            let mut command = Command::new(installed("node", "NODE"));
            command.arg(script("github.mjs")).env(
                "HOOKGATE_NODE_MODULES",
                tools_dir().join("node/node_modules"),
            );
            command
        }
    };
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the SDK script starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("input written");
    let output = child.wait_with_output().expect("the SDK script ends");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn payload(sdk: &Sdk, id: &str) -> Vec<u8> {
    if sdk.kind == VerifierKind::Adyen {
        // Adyen signs eight fields of an item: the test's must be among them.
        return format!(
            r#"{{"pspReference":"{id}","merchantAccountCode":"HookgateTest","merchantReference":"order-1001","amount":{{"currency":"EUR","value":1130}},"eventCode":"AUTHORISATION","success":"true"}}"#
        )
        .into_bytes();
    }
    if sdk.form {
        format!("MessageSid={id}&From=%2B15005550006&Body=Hello+%C3%A9+world%21&To=%2B15005550001")
            .into_bytes()
    } else {
        body_with_id(id)
    }
}

/// `sdk.py` and `github.mjs` arguments before the per-command ones.
fn head_args(sdk: &Sdk, command: &'static str, secret: &str) -> Vec<String> {
    let mut args = vec![command.to_owned()];
    if let Some(name) = sdk.python_name {
        args.push(name.to_owned());
        args.push(secret.to_owned());
        args.push(PUBLIC_URL.to_owned());
    } else {
        args.push(secret.to_owned());
    }
    args
}

/// `body` with one signed byte changed (Adyen signs only some fields: its
/// event code).
fn tampered(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if text.contains("AUTHORISATION") {
        return text
            .replacen("AUTHORISATION", "AUTHORISATIOn", 1)
            .into_bytes();
    }
    let mut body = body.to_vec();
    let at = body
        .iter()
        .position(|b| b.is_ascii_alphabetic())
        .expect("a letter");
    body[at] ^= 0x20; // flip the case of one letter
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_signed_by_the_providers_sdks_are_accepted_and_hookgates_verify_with_them() {
    let bed = Testbed::own_tansu("interop").await;
    let mut gateway = bed.gateway();
    for kind in [
        VerifierKind::Stripe,
        VerifierKind::StandardWebhooks,
        VerifierKind::Clerk,
        VerifierKind::Slack,
        VerifierKind::Twilio,
        VerifierKind::Github,
        VerifierKind::Adyen,
    ] {
        gateway = gateway.sources(&bed.source(kind.name(), kind));
    }
    let gateway = gateway.start_process().await;
    let client = client();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();

    for (n, sdk) in SDKS.iter().enumerate() {
        let label = format!("{:?}{}", sdk.kind, if sdk.form { " (form)" } else { "" });
        let secret = secret_for(sdk.kind);
        if sdk.signs {
            sdk_signs_hookgate_accepts(
                &gateway,
                &client,
                sdk,
                &label,
                &format!("evt-sdk-{n}-{nanos}"),
            )
            .await;
        }

        // hookgate signs; the SDK verifies the delivery and rejects a tampered copy.
        let id = format!("evt-hg-{n}-{nanos}");
        let delivery = verify::sign(
            sdk.kind,
            secret.as_bytes(),
            &payload(sdk, &id),
            &id,
            now(),
            SCHEME_OPTIONS,
        )
        .expect("hookgate signs");
        let as_json = |body: &[u8]| {
            serde_json::json!({
                "headers": delivery
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>(),
                "body": String::from_utf8_lossy(body),
                "query": delivery.query,
            })
            .to_string()
        };
        // What the SDK verifies with: the secret, or the public key.
        let key = String::from_utf8(
            verify::verification_key(sdk.kind, secret.as_bytes()).expect("a key"),
        )
        .expect("a key in text");
        let args = head_args(sdk, "verify", &key);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (accepted, said) = run_sdk(sdk, &args, as_json(&delivery.body).as_bytes());
        assert!(
            accepted,
            "{label}: the SDK rejected what hookgate signed: {said}"
        );
        let (accepted, _) = run_sdk(sdk, &args, as_json(&tampered(&delivery.body)).as_bytes());
        assert!(!accepted, "{label}: the SDK accepted a tampered copy");
    }
    gateway.stop();
}

/// The SDK signs; hookgate accepts the delivery and refuses a tampered copy.
async fn sdk_signs_hookgate_accepts(
    gateway: &hookgate_testbed::Process,
    client: &hookgate_testbed::http::HttpClient,
    sdk: &Sdk,
    label: &str,
    id: &str,
) {
    let secret = secret_for(sdk.kind);
    let id = id.to_owned();
    let mut body = payload(sdk, &id);
    let mut args = head_args(sdk, "sign", secret);
    args.push(id.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout) = run_sdk(sdk, &args, &body);
    assert!(ok, "{label}: the SDK did not sign: {stdout}");
    let signed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON from the SDK");
    if let Some(signed_body) = signed["body"].as_str() {
        body = signed_body.as_bytes().to_vec();
    }
    let mut headers: Vec<(String, String)> = signed["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    if sdk.kind == VerifierKind::Github {
        headers.push(("X-GitHub-Delivery".into(), id.clone()));
    }
    let mut url = gateway.url(&format!("/webhooks/{}", sdk.kind.name()));
    if let Some(query) = signed["query"].as_str() {
        url = format!("{url}?{query}");
    }
    let reply = send(client, "POST", &url, &headers, body.clone()).await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("accepted")),
        "{label}: {:?}",
        reply.body
    );
    let forged = send(client, "POST", &url, &headers, tampered(&body)).await;
    assert_eq!(
        forged.status, 401,
        "{label}: a tampered copy got {:?}",
        forged.body
    );
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// A consumer team's reading of CloudEvents records: the example consumer
/// in `examples/consumers/`, on the CloudEvents SDK and confluent-kafka,
/// against the broker, one JSON line per event.
fn read_cloudevents(bootstrap: &str, topic: &str, count: usize) -> Vec<serde_json::Value> {
    let python = tools_dir().join("bin/python");
    assert!(
        python.is_file(),
        "the SDKs are not installed: run scripts/setup.sh"
    );
    let output = Command::new(python)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/consumers/cloudevents_consumer.py"),
        )
        .args([bootstrap, topic, &count.to_string()])
        .output()
        .expect("the example consumer runs");
    assert!(
        output.status.success(),
        "the example consumer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloudevents_sdk_reads_each_event_back_with_its_attributes_and_data() {
    let bed = Testbed::own_tansu("cloudevents").await;
    let only = hookgate_testbed::topic("cloudevents-only");
    let both = hookgate_testbed::topic("cloudevents-both");
    bed.create_topic(&only).await;
    bed.create_topic(&both).await;
    let kind = VerifierKind::Stripe;
    let gateway = bed
        .gateway()
        .sources(&format!(
            "{}headers = \"cloudevents\"\n",
            hookgate_testbed::signing::source(bed.dir(), "ce-only", kind, &only)
        ))
        .sources(&format!(
            "{}headers = \"both\"\n",
            hookgate_testbed::signing::source(bed.dir(), "ce-both", kind, &both)
        ))
        .start()
        .await;
    let client = client();
    let body = br#"{"id":"evt_ce_1","type":"charge.succeeded","data":{"object":{"id":"ch_CE","amount":1500}}}"#;
    for path in ["/webhooks/ce-only", "/webhooks/ce-both"] {
        let delivery = verify::sign(
            kind,
            secret_for(kind).as_bytes(),
            body,
            "evt_ce_1",
            hookgate_testbed::signing::now(),
            SCHEME_OPTIONS,
        )
        .expect("signs");
        let mut headers = delivery.headers;
        hookgate_testbed::signing::add_content_type(&mut headers);
        let reply = send(&client, "POST", &gateway.url(path), &headers, body.to_vec()).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    }

    for (topic, source) in [(&only, "ce-only"), (&both, "ce-both")] {
        let bootstrap = bed.bootstrap();
        let read = {
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || read_cloudevents(&bootstrap, &topic, 1))
                .await
                .expect("reader")
        };
        let event = &read[0];
        let attributes = &event["attributes"];
        assert_eq!(attributes["specversion"], "1.0", "{event}");
        assert_eq!(attributes["id"], "evt_ce_1", "{event}");
        assert_eq!(
            attributes["source"],
            format!("urn:hookgate:stripe:{source}"),
            "{event}"
        );
        assert_eq!(attributes["type"], "charge.succeeded", "{event}");
        assert_eq!(attributes["datacontenttype"], "application/json", "{event}");
        // The key is the entity, which the SDK reads as `partitionkey`.
        assert_eq!(attributes["partitionkey"], "ch_CE", "{event}");
        assert!(
            attributes["time"]
                .as_str()
                .is_some_and(|t| t.starts_with("20")),
            "{event}"
        );
        let traceparent = attributes["traceparent"].as_str().expect("traceparent");
        assert_eq!(traceparent.len(), 55, "{event}");
        let sent: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(event["data"], sent, "{event}");
    }
    // The value is untouched and hookgate's own headers are there only with
    // `both`.
    let only_records =
        hookgate_testbed::consume(&bed.bootstrap(), &only, 1, Duration::from_millis(200)).await;
    let both_records =
        hookgate_testbed::consume(&bed.bootstrap(), &both, 1, Duration::from_millis(200)).await;
    assert_eq!(only_records[0].payload, body);
    assert!(!only_records[0].headers.contains_key("hookgate-event-id"));
    assert!(only_records[0].headers.contains_key("traceparent"));
    assert_eq!(both_records[0].headers["hookgate-event-id"], b"evt_ce_1");
    assert_eq!(both_records[0].headers["ce_id"], b"evt_ce_1");
    gateway.stop().await;
}

/// The Java consumer example in `examples/consumers/`, compiled and run
/// against the broker with Apache Kafka's own client (the broker's jars):
/// one line per record.
fn read_with_java(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    // `kafka.sh install` fetches the jars once and names their folder.
    let install = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka.sh"))
        .arg("install")
        .output()
        .expect("kafka.sh runs");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let libs = PathBuf::from(String::from_utf8_lossy(&install.stdout).trim()).join("*");
    let output = Command::new(installed("java", "JAVA"))
        .arg("-cp")
        .arg(libs)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/consumers/HookgateConsumer.java"),
        )
        .args([bootstrap, topic, &count.to_string()])
        .output()
        .expect("java runs");
    assert!(
        output.status.success(),
        "the Java consumer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_consumer_reading_committed_records_gets_each_event_once() {
    let bed = Testbed::shared_kafka(hookgate_testbed::shared_kafka!(), "java-consumer").await;
    let kind = VerifierKind::Github;
    let gateway = bed.gateway_for("github", kind).start().await;
    let client = client();
    // Three events, the second delivered twice.
    for id in ["evt-java-1", "evt-java-2", "evt-java-2", "evt-java-3"] {
        let body = body_with_id(id);
        let headers = hookgate_testbed::signing::signed(kind, id, &body);
        let reply = send(
            &client,
            "POST",
            &gateway.url("/webhooks/github"),
            &headers,
            body,
        )
        .await;
        assert_eq!(reply.status, 200, "{id}: {:?}", reply.body);
    }
    let bootstrap = bed.bootstrap();
    let topic = bed.events.clone();
    let lines = tokio::task::spawn_blocking(move || read_with_java(&bootstrap, &topic, 3))
        .await
        .expect("reader");
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|line| line.split('\t').nth(1).expect("an id column"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["evt-java-1", "evt-java-2", "evt-java-3"], "{lines:?}");
    // Nothing more: the copy was never published, committed or not.
    let records = bed.published(3, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 3, "{records:?}");
    gateway.stop().await;
}
