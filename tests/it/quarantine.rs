//! Every refused webhook on record and replayable, against the real broker:
//! a wrong secret quarantines, the fixed one re-drives exactly once; the
//! quarantine's budget holds under a flood of forged requests while real
//! deliveries are accepted; `hookgate forward` delivers byte-identical bodies
//! (and signs them anew when asked); a sender's `traceparent` reaches Kafka.
//! A quarantine is bounded in volume (its topic created with a retention in
//! time and bytes), and `forward` sends a quarantined request with only its
//! provider's headers, without its query, and never signed anew.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hookgate::verify::{self, VerifierKind};
use hookgate_testbed::cli::{self, Ran};
use hookgate_testbed::http::{client, send};
use hookgate_testbed::signing::{github_signed_with, now};
use hookgate_testbed::{Record, Testbed, consume, topic};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KIND: VerifierKind = VerifierKind::Github;

fn source(dir: &Path, secret_file: &str, topic: &str, quarantine: &str) -> String {
    format!(
        "[[sources]]\nname = \"github\"\npath = \"/webhooks/github\"\nverifier = \"github\"\n\
         secrets = [\"file:{}\"]\ntopic = \"{topic}\"\nquarantine_topic = \"{quarantine}\"\n",
        dir.join(secret_file).display()
    )
}

/// `hookgate forward` of every record of `topic` from `from` to `to`, up to
/// the end, with `more` arguments.
fn forward(bootstrap: &str, topic: &str, to: &str, from: &str, more: &[&str]) -> Ran {
    let args = [
        "forward",
        "--brokers",
        bootstrap,
        "--topic",
        topic,
        "--to",
        to,
        "--from",
        from,
        "--no-follow",
    ];
    cli::hookgate(&[&args[..], more].concat())
}

fn header<'a>(record: &'a Record, name: &str) -> &'a str {
    record
        .headers
        .get(name)
        .map(|value| std::str::from_utf8(value).expect("utf-8"))
        .unwrap_or_else(|| panic!("no {name} header in {:?}", record.headers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_quarantines_and_the_fixed_one_redrives_exactly_once() {
    let bed = Testbed::own_tansu("redrive-events").await;
    let (events, quarantine) = (bed.events.clone(), topic("redrive-q"));
    bed.create_topic(&quarantine).await;
    let dir = bed.dir();
    std::fs::write(dir.join("wrong.secret"), "a-mistyped-secret").expect("secret");
    std::fs::write(dir.join("right.secret"), "the-providers-secret").expect("secret");
    let wrong = source(dir, "wrong.secret", &events, &quarantine);
    let right = source(dir, "right.secret", &events, &quarantine);
    let process = bed
        .gateway()
        .sources(&wrong)
        .files_in(dir)
        .start_process()
        .await;
    let url = process.url("/webhooks/github");
    // Made here without [quarantine]'s bounds: left as it is, and said so.
    process
        .await_log(&[
            "the quarantine topic exists with settings other than [quarantine] asks for",
            "retention.bytes is",
        ])
        .await;

    // The provider signs with its secret; hookgate was given another.
    let mut sent = Vec::new();
    let mut deliveries = Vec::new();
    for n in 0..3 {
        let (mut headers, body) = github_signed_with(b"the-providers-secret", &format!("lost-{n}"));
        headers.push(("Authorization".into(), "Bearer do-not-keep".into()));
        let reply = send(&client(), "POST", &url, &headers, body.clone()).await;
        assert_eq!(reply.status, 401, "{:?}", reply.body);
        deliveries.push((headers, body.clone()));
        sent.push(body);
    }
    process
        .await_metric(
            "hookgate_quarantined_total{source=\"github\",outcome=\"written\"}",
            3.0,
        )
        .await;
    let kept = consume(&bed.bootstrap(), &quarantine, 3, Duration::from_millis(200)).await;
    assert_eq!(kept.len(), 3);
    for (record, body) in kept.iter().zip(&sent) {
        assert_eq!(&record.payload, body, "the body as it arrived");
        assert_eq!(record.key.as_deref(), Some(b"github".as_slice()));
        assert_eq!(header(record, "hookgate-reason"), "signature_mismatch");
        assert_eq!(header(record, "hookgate-status"), "401");
        assert_eq!(header(record, "hookgate-client"), "127.0.0.1");
        assert!(header(record, "http:x-hub-signature-256").starts_with("sha256="));
        assert_eq!(header(record, "http:authorization"), "[redacted]");
        assert_eq!(header(record, "traceparent").len(), 55);
    }

    // Fixed in the file; re-driven twice: published once.
    process.rewrite_config("", "", &right);
    let config = process.dir().join("hookgate.toml");
    let config = config.to_str().expect("utf-8");
    let first = cli::hookgate(&[
        "redrive", "--config", config, "--source", "github", "--since", "1h",
    ]);
    let said = first.printed();
    assert!(first.success(), "{said}");
    assert!(
        said.contains("3 accepted, 0 duplicate(s), 0 still refused"),
        "{said}"
    );
    assert!(
        said.contains("signature_mismatch -> 200 accepted lost-0"),
        "{said}"
    );
    let second = cli::hookgate(&[
        "redrive",
        "--config",
        config,
        "--source",
        "github",
        "--reason",
        "signature_mismatch",
    ]);
    let said = second.printed();
    assert!(second.success(), "{said}");
    // Handed to the intake again (this run's edge has not seen them); the
    // dedup stage, which has, drops them: each is in Kafka once.
    assert!(said.contains("0 still refused"), "{said}");
    let published = consume(&bed.bootstrap(), &events, 3, Duration::from_millis(1500)).await;
    assert_eq!(published.len(), 3, "each re-driven event once");
    for record in &published {
        let first = kept
            .iter()
            .find(|kept| kept.payload == record.payload)
            .expect("quarantined");
        assert_eq!(
            header(record, "traceparent")[..35],
            header(first, "traceparent")[..35],
            "the re-driven record continues the first attempt's trace"
        );
    }
    let mut bodies: Vec<_> = published.iter().map(|r| r.payload.clone()).collect();
    bodies.sort();
    sent.sort();
    assert_eq!(bodies, sent, "each body once, byte for byte");

    // The provider's own retry of one, through the running gateway (its
    // secret fixed by a reload), is not published again: the dedup stage
    // that owns its partition drops it.
    process.hangup();
    process
        .await_metric("hookgate_config_reloads_total{outcome=\"applied\"}", 1.0)
        .await;
    // GitHub retries a delivery with the same body and signature.
    let (headers, body) = deliveries[1].clone();
    let reply = send(&client(), "POST", &url, &headers, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    process
        .await_metric("hookgate_dedup_dropped_total{source=\"github\"}", 1.0)
        .await;
    let published = consume(&bed.bootstrap(), &events, 3, Duration::from_millis(500)).await;
    assert_eq!(published.len(), 3, "the retry was not published");

    // Still wrong: reported, exit 1, nothing published.
    let (headers, body) = github_signed_with(b"someone-else", "forged");
    assert_eq!(
        send(&client(), "POST", &url, &headers, body).await.status,
        401
    );
    process
        .await_metric(
            "hookgate_quarantined_total{source=\"github\",outcome=\"written\"}",
            4.0,
        )
        .await;
    let third = cli::hookgate(&["redrive", "--config", config, "--source", "github"]);
    let said = third.printed();
    assert_eq!(Some(third.code), Some(1), "{said}");
    // Handed to the intake (this run's edge has not seen them) and dropped
    // by the stage: still each in Kafka once.
    assert!(
        said.contains("3 accepted, 0 duplicate(s), 1 still refused (signature_mismatch 1)"),
        "{said}"
    );
    process
        .await_metric("hookgate_dedup_dropped_total{source=\"github\"}", 7.0)
        .await;
    let published = consume(&bed.bootstrap(), &events, 3, Duration::from_millis(500)).await;
    assert_eq!(published.len(), 3, "nothing re-driven twice");
    process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forgeries_stays_within_the_quarantine_budget_and_real_deliveries_pass() {
    let bed = Testbed::own_tansu("flood-events").await;
    let (events, quarantine) = (bed.events.clone(), topic("flood-q"));
    bed.create_topic(&quarantine).await;
    let dir = bed.dir();
    std::fs::write(dir.join("right.secret"), "the-providers-secret").expect("secret");
    let sources = source(dir, "right.secret", &events, &quarantine);
    let budget = "[quarantine]\nper_second = 5\nburst = 10\nmax_body_bytes = 4096\nbytes_per_second = 65536\n";
    let process = bed
        .gateway()
        .tables(budget)
        .sources(&sources)
        .files_in(dir)
        .start_process()
        .await;
    let url = process.url("/webhooks/github");

    let started = std::time::Instant::now();
    let forgers: Vec<_> = (0..4)
        .map(|forger| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = client();
                for n in 0..100 {
                    let (headers, body) =
                        github_signed_with(b"forged", &format!("forged-{forger}-{n}"));
                    let reply = send(&client, "POST", &url, &headers, body).await;
                    assert_eq!(reply.status, 401);
                }
            })
        })
        .collect();
    let real = client();
    for n in 0..20 {
        let (headers, body) = github_signed_with(b"the-providers-secret", &format!("real-{n}"));
        let reply = send(&real, "POST", &url, &headers, body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    for forger in forgers {
        forger.await.expect("forger");
    }
    let elapsed = started.elapsed().as_secs_f64();

    let outcome = |outcome: &str| {
        format!("hookgate_quarantined_total{{source=\"github\",outcome=\"{outcome}\"}}")
    };
    let dropped_for = |reason: &str| {
        format!(
            "hookgate_quarantined_total{{source=\"github\",outcome=\"dropped\",reason=\"{reason}\"}}"
        )
    };
    // Every forgery is counted once its record's delivery is reported.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (written, dropped) = loop {
        let written = process.metric(&outcome("written")).await;
        let dropped = process.metric(&dropped_for("source_budget")).await
            + process.metric(&dropped_for("replica_cap")).await;
        let failed = process.metric(&outcome("failed")).await;
        if written + dropped + failed >= 400.0 {
            assert_eq!((written + dropped + failed, failed), (400.0, 0.0));
            break (written, dropped);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{written} + {dropped} + {failed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(dropped > 300.0, "{dropped} dropped");
    let allowed = 10.0 + 5.0 * (elapsed + 1.0);
    assert!(
        written >= 10.0 && written <= allowed,
        "{written} written in {elapsed:.1} s"
    );
    let kept = consume(
        &bed.bootstrap(),
        &quarantine,
        written as usize,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(
        kept.len() as f64,
        written,
        "the topic holds what the counter says"
    );
    let published = consume(&bed.bootstrap(), &events, 20, Duration::from_millis(300)).await;
    assert_eq!(published.len(), 20, "every real delivery, nothing forged");
    process.stop();
}

/// What [`capture`] keeps of each request.
type Captured = Arc<Mutex<Vec<(http::Uri, http::HeaderMap, Bytes)>>>;

/// An HTTP server that keeps each request's URI, headers and body and
/// answers 200.
async fn capture() -> (SocketAddr, Captured) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let kept = Arc::clone(&kept);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            kept.lock()
                                .expect("lock")
                                .push((parts.uri, parts.headers, body));
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"{\"ok\":true}"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// A bed for a GitHub source verifying with the provider's secret
/// (`right.secret`) and quarantining to a topic of its own (which hookgate
/// creates); `consumer.secret` beside them for re-signing. The bed, the
/// quarantine topic and the source.
async fn forwarding(test: &str) -> (Testbed, String, String) {
    let bed = Testbed::own_tansu(&format!("{test}-events")).await;
    let quarantine = topic(&format!("{test}-q"));
    let dir = bed.dir();
    std::fs::write(dir.join("right.secret"), "the-providers-secret").expect("secret");
    std::fs::write(dir.join("consumer.secret"), "the-consumers-secret").expect("secret");
    let sources = source(dir, "right.secret", &bed.events, &quarantine);
    (bed, quarantine, sources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_delivers_byte_identical_bodies_and_traceparent_reaches_kafka() {
    let (bed, _quarantine, sources) = forwarding("forward").await;
    let events = bed.events.clone();
    let process = bed
        .gateway()
        .sources(&sources)
        .files_in(bed.dir())
        .start_process()
        .await;
    let url = process.url("/webhooks/github");

    let sender_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut sent = Vec::new();
    for n in 0..3 {
        let (mut headers, body) = github_signed_with(b"the-providers-secret", &format!("fwd-{n}"));
        if n == 0 {
            headers.push(("traceparent".into(), sender_trace.into()));
            headers.push(("tracestate".into(), "rojo=00f067aa0ba902b7".into()));
        }
        assert_eq!(
            send(&client(), "POST", &url, &headers, body.clone())
                .await
                .status,
            200
        );
        sent.push((headers, body));
    }
    let records = consume(&bed.bootstrap(), &events, 3, Duration::from_millis(200)).await;
    let traced = records
        .iter()
        .find(|record| header(record, "hookgate-event-id") == "fwd-0")
        .expect("fwd-0");
    let ours = header(traced, "traceparent");
    assert!(
        ours.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "the sender's trace: {ours}"
    );
    assert!(
        !ours.contains("00f067aa0ba902b7"),
        "under hookgate's own span: {ours}"
    );
    assert_eq!(header(traced, "tracestate"), "rojo=00f067aa0ba902b7");
    for record in &records {
        assert_eq!(
            header(record, "traceparent").len(),
            55,
            "a trace for every record"
        );
    }

    // As they are: each record's body and provider headers, nothing of
    // hookgate's own.
    let (target, seen) = capture().await;
    let to = format!("http://{target}/hook");
    let bootstrap = bed.bootstrap();
    let output = forward(&bootstrap, &events, &to, "beginning", &[]);
    let said = output.printed();
    assert!(output.success(), "{said}");
    assert!(
        said.contains("forwarded 3 record(s)") && said.contains("3 answered 2xx"),
        "{said}"
    );
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 3);
        for (_, headers, body) in seen.iter() {
            let record = records
                .iter()
                .find(|record| record.payload.as_slice() == body.as_ref())
                .expect("a body byte-identical to one in Kafka");
            assert!(
                sent.iter()
                    .any(|(_, sent_body)| sent_body == &record.payload)
            );
            for (name, value) in &record.headers {
                if name.starts_with("hookgate-") {
                    assert!(
                        !headers.contains_key(name.as_str()),
                        "{name} is hookgate's own"
                    );
                } else {
                    assert_eq!(
                        headers[name.as_str()].as_bytes(),
                        value.as_slice(),
                        "{name}"
                    );
                }
            }
            assert!(headers.contains_key("x-github-event") && headers.contains_key("traceparent"));
            assert!(
                headers["hookgate-forwarded-from"]
                    .to_str()
                    .is_ok_and(|from| from.starts_with(&format!("{events}/0/"))),
                "marked, so no hookgate quarantines it again"
            );
        }
    }

    // Signed anew for a consumer with its own secret.
    seen.lock().expect("lock").clear();
    let secret = format!("file:{}", process.dir().join("consumer.secret").display());
    let output = forward(
        &bootstrap,
        &events,
        &to,
        "offset:0",
        &["--provider", "github", "--resign-secret", &secret],
    );
    assert!(output.success(), "{}", output.printed());
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 3);
    let verifier = verify::Verifier::build(
        KIND,
        &[hookgate::config::secret::Secret::new(
            b"the-consumers-secret".as_slice(),
        )],
        verify::DEFAULT_TOLERANCE,
        verify::SchemeOptions::default(),
    )
    .expect("verifier");
    for (_, headers, body) in seen.iter() {
        assert!(
            sent.iter()
                .any(|(_, sent_body)| sent_body.as_slice() == body.as_ref())
        );
        verifier
            .verify_with_query(headers, None, body.clone(), now())
            .expect("signed with the consumer's secret");
    }
    process.stop();
}

/// A topic's settings as the broker describes them.
async fn topic_settings(bootstrap: &str, topic: &str) -> Vec<(String, Option<String>)> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .expect("describe configs");
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .expect("described");
    resource
        .entries
        .into_iter()
        .map(|entry| (entry.name, entry.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_is_bounded_and_forward_sends_only_what_the_provider_sent() {
    let bounds = "[quarantine]\nretention = \"2d\"\nretention_bytes = 52428800\n";
    // The quarantine topic is hookgate's to create.
    let (bed, quarantine, sources) = forwarding("bounded").await;
    let process = bed
        .gateway()
        .tables(bounds)
        .sources(&sources)
        .files_in(bed.dir())
        .start_process()
        .await;
    let bootstrap = bed.bootstrap();

    // A forgery that tries to steer whoever it is forwarded to.
    let (mut headers, body) = github_signed_with(b"not-the-secret", "forged-1");
    for (name, value) in [
        ("Content-Type", "application/json"),
        ("User-Agent", "GitHub-Hookshot/forged"),
        ("X-Forwarded-Host", "admin.internal"),
        ("True-Client-IP", "10.0.0.1"),
        ("X-HTTP-Method-Override", "DELETE"),
    ] {
        headers.push((name.into(), value.into()));
    }
    let url = format!("{}?admin=1", process.url("/webhooks/github"));
    let reply = send(&client(), "POST", &url, &headers, body.clone()).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    process
        .await_metric(
            "hookgate_quarantined_total{source=\"github\",outcome=\"written\"}",
            1.0,
        )
        .await;
    let kept = consume(&bootstrap, &quarantine, 1, Duration::from_millis(200)).await;
    assert_eq!(header(&kept[0], "hookgate-provider"), "github");
    assert_eq!(header(&kept[0], "http:x-forwarded-host"), "admin.internal");

    // Created bounded in time and bytes, as [quarantine] says.
    let settings = topic_settings(&bootstrap, &quarantine).await;
    let setting = |name: &str| {
        settings
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.clone())
    };
    assert_eq!(
        (setting("retention.ms"), setting("retention.bytes")),
        (Some("172800000".into()), Some("52428800".into())),
        "{settings:?}"
    );

    // Forwarded: the provider's own headers, no query, the body as it came.
    let (target, seen) = capture().await;
    let to = format!("http://{target}/hook");
    let output = forward(&bootstrap, &quarantine, &to, "beginning", &[]);
    let said = output.printed();
    assert!(said.contains("forwarded 1 record(s)"), "{said}");
    {
        let seen = seen.lock().expect("lock");
        let (uri, headers, forwarded_body) = &seen[0];
        assert_eq!(uri.query(), None, "the forger's query stays behind");
        assert_eq!(forwarded_body.as_ref(), body.as_slice());
        for name in [
            "x-forwarded-host",
            "true-client-ip",
            "x-http-method-override",
        ] {
            assert!(
                !headers.contains_key(name),
                "{name} was passed on: {headers:?}"
            );
        }
        for name in [
            "x-hub-signature-256",
            "x-github-delivery",
            "content-type",
            "user-agent",
        ] {
            assert!(
                headers.contains_key(name),
                "{name} is GitHub's own: {headers:?}"
            );
        }
    }

    // Asked for: the query, and a header by name.
    seen.lock().expect("lock").clear();
    let output = forward(
        &bootstrap,
        &quarantine,
        &to,
        "beginning",
        &["--keep-query", "--header", "True-Client-IP"],
    );
    assert!(
        output.printed().contains("forwarded 1 record(s)"),
        "{}",
        output.printed()
    );
    {
        let seen = seen.lock().expect("lock");
        let (uri, headers, _) = &seen[0];
        assert_eq!(uri.query(), Some("admin=1"));
        assert_eq!(headers["true-client-ip"], "10.0.0.1");
        assert!(!headers.contains_key("x-forwarded-host"));
    }

    // Never signed anew: the run is refused, and nothing is sent.
    seen.lock().expect("lock").clear();
    let secret = format!("file:{}", process.dir().join("consumer.secret").display());
    let output = forward(
        &bootstrap,
        &quarantine,
        &to,
        "beginning",
        &["--provider", "github", "--resign-secret", &secret],
    );
    let said = output.printed();
    assert_eq!(Some(output.code), Some(2), "{said}");
    assert!(said.contains("never verified"), "{said}");
    assert!(seen.lock().expect("lock").is_empty(), "nothing was sent");
    process.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_trusted_proxy_can_keep_a_request_out_of_the_quarantine() {
    let bed = Testbed::own_tansu("fwd-trust-events").await;
    let (events, quarantine) = (bed.events.clone(), topic("fwd-trust-q"));
    let dir = bed.dir();
    std::fs::write(dir.join("gw.secret"), "the-gateways-secret").expect("secret");
    let sources = source(dir, "gw.secret", &events, &quarantine);
    let server = "trusted_proxies = [\"127.0.0.2\"]";
    let process = bed
        .gateway()
        .server(server)
        .sources(&sources)
        .files_in(dir)
        .start_process()
        .await;
    // A forgery that claims to come from `hookgate forward`.
    let forged = |n: usize| {
        let (mut headers, body) = github_signed_with(b"a-forgers-secret", &format!("forged-{n}"));
        headers.push(("hookgate-forwarded-from".into(), "q/0/1".into()));
        (headers, body)
    };
    let (headers, body) = forged(0);
    let reply = send(
        &client(),
        "POST",
        &process.url("/webhooks/github"),
        &headers,
        body,
    )
    .await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    // From anyone but a trusted proxy the header is not believed: kept.
    process
        .await_metric(
            "hookgate_quarantined_total{source=\"github\",outcome=\"written\"}",
            1.0,
        )
        .await;
    let kept = consume(&bed.bootstrap(), &quarantine, 1, Duration::from_millis(200)).await;
    assert!(String::from_utf8_lossy(&kept[0].payload).contains("forged-0"));
    assert_eq!(header(&kept[0], "http:hookgate-forwarded-from"), "q/0/1");

    // From the trusted proxy (where `hookgate forward` runs), it is.
    let (headers, body) = forged(1);
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind");
    let mut stream = socket.connect(process.addr).await.expect("connect");
    let mut request = format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: hookgate\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);
    stream.write_all(&bytes).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    process
        .await_metric(
            "hookgate_rejections_total{source=\"github\",reason=\"signature_mismatch\"}",
            2.0,
        )
        .await;
    assert_eq!(
        process
            .metric("hookgate_quarantined_total{source=\"github\",outcome=\"written\"}")
            .await,
        1.0,
        "a forwarded request from the trusted proxy is not quarantined again"
    );
    process.stop();
}
