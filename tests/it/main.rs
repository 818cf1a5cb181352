//! End-to-end tests: real sockets, real brokers (Apache Kafka shared by the
//! run, tansu started per test where a test kills or freezes its broker), and
//! a consumer that reads what downstream teams would read.

mod broker;
mod cli;
mod connections;
mod dedup;
mod edge;
mod harness;
mod hostile;
mod http2;
mod interop;
mod kafka;
mod observability;
mod quarantine;
mod readiness;
mod replays;
mod sasl;
mod stage;
mod tls;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookgate::verify::{self, VerifierKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use harness::{Broker, Hookgate, client, consume, send, topic};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// What deliveries of `kind` are signed with.
pub(crate) fn secret_for(kind: VerifierKind) -> &'static str {
    std::str::from_utf8(verify::example_secret(kind)).expect("example secrets are text")
}

/// The URL every test source tells its provider (schemes that sign it).
pub(crate) const PUBLIC_URL: &str = "https://hooks.example.com/webhooks";
/// How long past its produce deadline an answer may take to reach the test:
/// the scheduling of a shared two-core machine, not hookgate's waiting.
const DEADLINE_SLACK: Duration = Duration::from_millis(750);
const SCHEME_OPTIONS: verify::SchemeOptions<'static> = verify::SchemeOptions {
    hmac: None,
    public_url: Some(PUBLIC_URL),
    token: None,
};

/// A `[[sources]]` entry whose secret lives in a file under `dir`.
fn source(dir: &Path, name: &str, kind: VerifierKind, topic: &str) -> String {
    let file = dir.join(format!("{name}.secret"));
    let key = verify::verification_key(kind, secret_for(kind).as_bytes()).expect("key");
    std::fs::write(&file, key).expect("secret file");
    format!(
        "[[sources]]\nname = \"{name}\"\npath = \"/webhooks/{name}\"\nverifier = \"{}\"\nsecrets = [\"file:{}\"]\ntopic = \"{topic}\"\npublic_url = \"{PUBLIC_URL}\"\n",
        kind.name(),
        file.display()
    )
}

/// A broker with one fresh topic and hookgate serving one source on it.
struct OneSource {
    broker: Broker,
    topic: String,
    gateway: Hookgate,
    client: harness::HttpClient,
    url: String,
}

async fn one_source(
    test: &str,
    name: &str,
    kind: VerifierKind,
    produce_timeout_ms: u64,
) -> OneSource {
    let broker = Broker::start().await;
    let secrets = tempfile::tempdir().expect("tempdir");
    let topic = topic(test);
    broker.create_topic(&topic).await;
    // hookgate reads its secrets once, at start-up: the files may go afterwards.
    let gateway = Hookgate::start(
        &broker.bootstrap(),
        produce_timeout_ms,
        &source(secrets.path(), name, kind, &topic),
    )
    .await;
    let url = gateway.url(&format!("/webhooks/{name}"));
    OneSource {
        broker,
        topic,
        gateway,
        client: client(),
        url,
    }
}

/// A JSON body carrying `id` where every scheme's default looks for it, with
/// spacing and non-ASCII text a re-serialiser would change.
fn body_with_id(id: &str) -> Vec<u8> {
    format!("{{ \"id\" : \"{id}\",\n  \"event_id\":\"{id}\", \"messageId\":\"{id}\", \"eventId\":\"{id}\", \"event\": {{ \"id\": \"{id}\" }}, \"text\": \"h\\u00e9llo  wörld\" , \"n\": 1.50, \"webhookTimestamp\": {} }}\n", now() * 1000).into_bytes()
}

/// A GitHub delivery of a fresh event `id`, signed with `secret` (not the
/// example one): its headers and body.
pub(crate) fn github_signed_with(secret: &[u8], id: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let body = body_with_id(id);
    let delivery = verify::sign(
        VerifierKind::Github,
        secret,
        &body,
        id,
        now(),
        SCHEME_OPTIONS,
    )
    .expect("signs");
    (delivery.headers, body)
}

/// A signed delivery of `payload` as the provider would send it.
fn delivery(kind: VerifierKind, id: &str, payload: &[u8]) -> verify::SignedDelivery {
    let mut delivery = verify::sign(
        kind,
        secret_for(kind).as_bytes(),
        payload,
        id,
        now(),
        SCHEME_OPTIONS,
    )
    .expect("signs");
    add_content_type(&mut delivery.headers);
    delivery
}

/// A JSON `Content-Type` for the schemes whose signing sets none; one the
/// scheme set (Twilio's names its mode) is kept, never sent twice.
fn add_content_type(headers: &mut Vec<(String, String)>) {
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
}

/// The headers that sign `body` as it is, for schemes that sign in headers.
fn signed(kind: VerifierKind, id: &str, body: &[u8]) -> Vec<(String, String)> {
    let delivery = delivery(kind, id, body);
    assert_eq!(
        delivery.body, body,
        "{kind:?} signs inside the body: use delivery()"
    );
    delivery.headers
}

fn expected_id(kind: VerifierKind, id: &str, body: &[u8], headers: &[(String, String)]) -> String {
    use sha2::Digest;
    let spec = kind.defaults().event_id;
    if spec == "body-sha256" {
        hex::encode(sha2::Sha256::digest(body))
    } else if let Some(name) = spec.strip_prefix("header-sha256:") {
        let (_, value) = headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .expect("the header the id is the digest of");
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    } else if let Some(name) = spec.strip_prefix("jws-sha256:") {
        let (_, value) = headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .expect("the header the id is the digest of");
        let (signing_input, _) = value.rsplit_once('.').expect("a compact JWS");
        hex::encode(sha2::Sha256::digest(signing_input.as_bytes()))
    } else {
        id.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verifier_lands_in_kafka_byte_identical_with_key_and_headers() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sources = String::new();
    let mut topics = Vec::new();
    for kind in VerifierKind::ALL {
        let topic = topic(kind.name());
        broker.create_topic(&topic).await;
        sources += &source(dir.path(), kind.name(), kind, &topic);
        topics.push(topic);
    }
    let gateway = Hookgate::start(&broker.bootstrap(), 5000, &sources).await;
    let client = client();

    for (kind, topic) in VerifierKind::ALL.into_iter().zip(&topics) {
        let id = format!("evt-{}-1", kind.name());
        let verify::SignedDelivery {
            headers,
            body,
            query,
        } = delivery(kind, &id, &body_with_id(&id));
        let path = match query {
            Some(query) => format!("/webhooks/{}?{query}", kind.name()),
            None => format!("/webhooks/{}", kind.name()),
        };
        // A batch's events are each published as the exact bytes they had in it.
        let (published, content_type) = if kind == VerifierKind::Mandrill {
            let event = body_with_id(&id);
            let event = String::from_utf8_lossy(&event).trim().as_bytes().to_vec();
            (event, &b"application/x-www-form-urlencoded"[..])
        } else {
            (body.clone(), &b"application/json"[..])
        };
        let reply = send(&client, "POST", &gateway.url(&path), &headers, body.clone()).await;
        let want_id = expected_id(kind, &id, &published, &headers);
        assert_eq!(reply.status, 200, "{kind:?}: {:?}", reply.body);
        assert_eq!(reply.body["status"], "accepted", "{kind:?}");
        assert_eq!(reply.body["id"], want_id.as_str(), "{kind:?}");

        let records = consume(&broker.bootstrap(), topic, 1, Duration::from_millis(300)).await;
        assert_eq!(records.len(), 1, "{kind:?}");
        let record = &records[0];
        assert_eq!(
            record.payload, published,
            "{kind:?}: the body must be published byte for byte"
        );
        assert_eq!(record.key.as_deref(), Some(want_id.as_bytes()), "{kind:?}");
        assert_eq!(
            record.headers["hookgate-source"],
            kind.name().as_bytes(),
            "{kind:?}"
        );
        assert_eq!(
            record.headers["hookgate-event-id"],
            want_id.as_bytes(),
            "{kind:?}"
        );
        assert_eq!(record.headers["content-type"], content_type, "{kind:?}");
        let received_at =
            std::str::from_utf8(&record.headers["hookgate-received-at"]).expect("utf-8");
        humantime::parse_rfc3339(received_at).expect("hookgate-received-at is RFC 3339");
        if kind == VerifierKind::Github {
            assert_eq!(record.headers["x-github-event"], b"ping");
        }
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_and_never_published() {
    let kind = VerifierKind::Stripe;
    let OneSource {
        broker,
        topic,
        gateway,
        client,
        url,
        ..
    } = one_source("badsig", "stripe", kind, 5000).await;

    let body = body_with_id("evt_forged");
    let mut headers = signed(kind, "evt_forged", &body);
    let tampered = body_with_id("evt_forgeD");
    let reply = send(&client, "POST", &url, &headers, tampered).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["reason"], "signature_mismatch");
    headers.retain(|(name, _)| name != "Stripe-Signature");
    let reply = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["reason"], "missing_signature_header");
    assert_eq!(reply.body["error"], "missing Stripe-Signature header");

    let marker = body_with_id("evt_genuine");
    let reply = send(
        &client,
        "POST",
        &url,
        &signed(kind, "evt_genuine", &marker),
        marker.clone(),
    )
    .await;
    assert_eq!(reply.status, 200);
    let records = consume(&broker.bootstrap(), &topic, 1, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 1, "only the genuine event is in Kafka");
    assert_eq!(records[0].payload, marker);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_is_published_once() {
    let kind = VerifierKind::Github;
    let OneSource {
        broker,
        topic,
        gateway,
        client,
        url,
        ..
    } = one_source("dup", "github", kind, 5000).await;
    let body = body_with_id("d-1");
    let headers = signed(kind, "d-1", &body);

    let statuses = [
        send(&client, "POST", &url, &headers, body.clone()).await,
        send(&client, "POST", &url, &headers, body.clone()).await,
        send(&client, "POST", &url, &headers, body.clone()).await,
    ];
    let seen: Vec<_> = statuses
        .iter()
        .map(|r| (r.status, r.body["status"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        seen,
        [(200, "accepted"), (200, "duplicate"), (200, "duplicate")]
    );
    let records = consume(&broker.bootstrap(), &topic, 1, Duration::from_millis(700)).await;
    assert_eq!(records.len(), 1);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_event_are_published_once() {
    let kind = VerifierKind::StandardWebhooks;
    let OneSource {
        broker,
        topic,
        gateway,
        client,
        url,
        ..
    } = one_source("race", "sw", kind, 5000).await;
    let body = body_with_id("msg_race");
    let headers = signed(kind, "msg_race", &body);

    let sends = (0..32).map(|_| {
        let (client, url, headers, body) =
            (client.clone(), url.clone(), headers.clone(), body.clone());
        tokio::spawn(async move { send(&client, "POST", &url, &headers, body).await })
    });
    let mut accepted = 0;
    let mut duplicates = 0;
    for reply in futures_join(sends).await {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        match reply.body["status"].as_str() {
            Some("accepted") => accepted += 1,
            Some("duplicate") => duplicates += 1,
            other => panic!("unexpected status {other:?}"),
        }
    }
    assert_eq!((accepted, duplicates), (1, 31));
    let records = consume(&broker.bootstrap(), &topic, 1, Duration::from_millis(700)).await;
    assert_eq!(records.len(), 1);
    gateway.stop().await;
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.expect("task"));
    }
    out
}

/// Sends `id` until it is accepted, as a provider's retries would.
async fn deliver_until_accepted(
    client: &harness::HttpClient,
    url: &str,
    kind: VerifierKind,
    id: &str,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let body = body_with_id(id);
        let reply = send(client, "POST", url, &signed(kind, id, &body), body).await;
        if reply.status == 200 {
            assert_eq!(
                reply.body["status"], "accepted",
                "a failed delivery must not count as published"
            );
            return started.elapsed();
        }
        assert_eq!(reply.status, 503, "{:?}", reply.body);
        assert!(
            started.elapsed() < within,
            "not accepted again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Retries `id`, refused while Kafka was away, until it is answered 200 as a
/// provider's retries would: published now, or a duplicate of an attempt
/// answered 503 at its deadline that Kafka still acknowledged afterwards.
/// Meanwhile only 503, or 409 while that attempt is unresolved, may answer.
async fn retry_until_stored(
    client: &harness::HttpClient,
    url: &str,
    kind: VerifierKind,
    id: &str,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let body = body_with_id(id);
        let reply = send(client, "POST", url, &signed(kind, id, &body), body).await;
        match reply.status {
            200 => {
                let status = reply.body["status"].as_str();
                assert!(
                    matches!(status, Some("accepted" | "duplicate")),
                    "{:?}",
                    reply.body
                );
                return;
            }
            409 | 503 => {}
            _ => panic!("{id}: {:?}", reply.body),
        }
        assert!(Instant::now() < deadline, "{id}: {:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_gets_503_within_the_timeout_and_recovery_needs_no_restart() {
    let kind = VerifierKind::Github;
    let timeout_ms = 1500;
    let OneSource {
        broker,
        topic,
        gateway,
        client,
        url,
        ..
    } = one_source("frozen", "github", kind, timeout_ms).await;
    deliver_until_accepted(&client, &url, kind, "before", Duration::from_secs(10)).await;

    broker.signal("-STOP");
    // Every delivery is answered within the produce timeout (plus the slack),
    // whatever the broker does: new events, and repeats of one still in flight.
    let deliveries: Vec<_> = [
        "during", "during", "other-1", "other-2", "other-1", "during",
    ]
    .into_iter()
    .enumerate()
    .map(|(n, id)| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50 * n as u64)).await;
            let body = body_with_id(id);
            let started = Instant::now();
            let reply = send(&client, "POST", &url, &signed(kind, id, &body), body).await;
            (id, reply, started.elapsed())
        })
    })
    .collect();
    for delivery in deliveries {
        let (id, reply, took) = delivery.await.expect("delivery");
        let answer = (reply.status, reply.body["reason"].as_str());
        assert!(
            answer == (503, Some("kafka_unavailable")) || answer == (409, Some("still_in_flight")),
            "{id}: {answer:?}"
        );
        assert_eq!(reply.headers["retry-after"], "3");
        assert!(
            took < Duration::from_millis(timeout_ms) + DEADLINE_SLACK,
            "{id}: the answer took {took:?}"
        );
    }

    broker.signal("-CONT");
    retry_until_stored(&client, &url, kind, "during", Duration::from_secs(30)).await;
    deliver_until_accepted(&client, &url, kind, "after", Duration::from_secs(10)).await;
    let records = consume(&broker.bootstrap(), &topic, 3, Duration::from_millis(500)).await;
    let ids: Vec<&[u8]> = records.iter().filter_map(|r| r.key.as_deref()).collect();
    for id in [&b"before"[..], b"during", b"after"] {
        assert!(
            ids.contains(&id),
            "{} missing from {ids:?}",
            String::from_utf8_lossy(id)
        );
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_answered_2xx_only_once_every_event_is_in_kafka() {
    let kind = VerifierKind::Mandrill;
    let timeout_ms = 1500;
    let OneSource {
        broker,
        topic,
        gateway,
        client,
        url,
    } = one_source("batch", "mandrill", kind, timeout_ms).await;
    let events: Vec<String> = (1..=3)
        .map(|n| format!(r#"{{"_id":"msg-{n}","event":"send","ts":{n}}}"#))
        .collect();
    let batch = format!("[{}]", events.join(","));
    let post = || async {
        let delivery = delivery(kind, "", batch.as_bytes());
        send(&client, "POST", &url, &delivery.headers, delivery.body).await
    };

    // While the broker is frozen the batch is refused, in time, as a whole.
    broker.signal("-STOP");
    let started = Instant::now();
    let reply = post().await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (503, Some("kafka_unavailable")),
        "{:?}",
        reply.body
    );
    assert!(started.elapsed() < Duration::from_millis(timeout_ms) + DEADLINE_SLACK);
    broker.signal("-CONT");

    // Mandrill's retry is answered 200 once all three are in Kafka.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let reply = post().await;
        if reply.status == 200 {
            break reply;
        }
        assert!(Instant::now() < deadline, "{:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(reply.body["events"], 3, "{:?}", reply.body);
    let records = consume(&broker.bootstrap(), &topic, 3, Duration::from_millis(500)).await;
    for event in &events {
        assert!(
            records.iter().any(|r| r.payload == event.as_bytes()),
            "{event} is not in the topic byte for byte"
        );
    }
    // And once more: every event a duplicate, nothing published again.
    let again = post().await;
    assert_eq!(
        (again.status, &again.body["duplicates"]),
        (200, &serde_json::json!(3))
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_gets_503_and_a_restarted_one_is_used_without_restarting_hookgate() {
    let kind = VerifierKind::Shopify;
    let timeout_ms = 1500;
    let OneSource {
        mut broker,
        topic,
        gateway,
        client,
        url,
        ..
    } = one_source("killed", "shop", kind, timeout_ms).await;
    deliver_until_accepted(&client, &url, kind, "k-before", Duration::from_secs(10)).await;

    broker.kill();
    let body = body_with_id("k-during");
    let started = Instant::now();
    let reply = send(
        &client,
        "POST",
        &url,
        &signed(kind, "k-during", &body),
        body,
    )
    .await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_millis(timeout_ms + 1500),
        "503 took {:?}",
        started.elapsed()
    );

    // tansu keeps topics in memory: the restarted broker needs the topic again.
    broker.restart().await;
    broker.create_topic(&topic).await;
    retry_until_stored(&client, &url, kind, "k-during", Duration::from_secs(30)).await;
    let records = consume(&broker.bootstrap(), &topic, 1, Duration::from_millis(500)).await;
    let stored = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"k-during"[..]))
        .count();
    assert_eq!(stored, 1, "k-during in Kafka once");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_rate_limit_gets_429_for_fresh_signed_deliveries_only() {
    let broker = Broker::start().await;
    let events = topic("rate");
    broker.create_topic(&events).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = source(dir.path(), "github", VerifierKind::Github, &events)
        + "[sources.rate_limit]\nper_second = 1\nburst = 2\n";
    let gateway = Hookgate::start(&broker.bootstrap(), 5000, &sources).await;
    let client = client();
    let url = gateway.url("/webhooks/github");
    // Unsigned requests never touch the bucket: they cannot use it up for
    // the provider.
    for _ in 0..10 {
        let reply = send(&client, "POST", &url, &[], "{}").await;
        assert_eq!(reply.body["reason"], "missing_signature_header");
    }
    let signed_delivery = |n: usize| {
        let id = format!("evt-rate-{n}");
        let body = body_with_id(&id);
        (signed(VerifierKind::Github, &id, &body), body)
    };
    let (headers, body) = signed_delivery(0);
    let reply = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(reply.body["status"], "accepted");
    // Replays of an accepted delivery (anyone who reads the topic can send
    // them) are duplicates and never spend the bucket either.
    for _ in 0..5 {
        let (headers, body) = signed_delivery(0);
        let reply = send(&client, "POST", &url, &headers, body).await;
        assert_eq!(
            (reply.status, reply.body["status"].as_str()),
            (200, Some("duplicate"))
        );
    }
    // So the burst is still the provider's: its next delivery goes on, and
    // the one after is limited.
    let (headers, body) = signed_delivery(1);
    let reply = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(reply.body["status"], "accepted", "{:?}", reply.body);
    let (headers, body) = signed_delivery(2);
    let reply = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // The limited delivery was not published: its retry is accepted once
    // the bucket has room.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (headers, body) = signed_delivery(2);
    let reply = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(reply.body["status"], "accepted", "{:?}", reply.body);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_checks_are_answered_by_hookgate_and_never_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = [
        VerifierKind::Slack,
        VerifierKind::Zoom,
        VerifierKind::Discord,
    ]
    .iter()
    .map(|kind| {
        source(
            dir.path(),
            kind.name(),
            *kind,
            &format!("t.{}", kind.name()),
        )
    })
    .collect::<String>();
    // No broker: a handshake needs none, and publishing would fail loudly.
    let gateway = Hookgate::launch("127.0.0.1:9", 1000, "", &sources).await;
    let client = client();
    let checks: [(VerifierKind, &[u8], serde_json::Value); 3] = [
        (
            VerifierKind::Slack,
            br#"{"token":"t","challenge":"c-123","type":"url_verification"}"#,
            serde_json::json!({ "challenge": "c-123" }),
        ),
        (
            VerifierKind::Zoom,
            br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event":"endpoint.url_validation"}"#,
            serde_json::json!({
                "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                // printf qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac example-signing-secret
                "encryptedToken": "ee520ed147a5a95f6b6c78cb06dc0f520d46bef4a106504beda8af5e30532c65",
            }),
        ),
        (
            VerifierKind::Discord,
            br#"{"type":1,"id":"1","application_id":"2"}"#,
            serde_json::json!({ "type": 1 }),
        ),
    ];
    for (kind, body, want) in checks {
        let url = gateway.url(&format!("/webhooks/{}", kind.name()));
        let reply = send(
            &client,
            "POST",
            &url,
            &signed(kind, "check", body),
            body.to_vec(),
        )
        .await;
        assert_eq!((reply.status, &reply.body), (200, &want), "{kind:?}");
        // Unsigned, the same body is refused like any other request.
        let forged = send(&client, "POST", &url, &[], body.to_vec()).await;
        assert_eq!(forged.status, 401, "{kind:?}");
    }
    // An ordinary event still goes down the pipeline (here: not ready, no Kafka).
    let body = br#"{"type":"event_callback","event_id":"Ev1"}"#;
    let url = gateway.url("/webhooks/slack");
    let reply = send(
        &client,
        "POST",
        &url,
        &signed(VerifierKind::Slack, "Ev1", body),
        body.to_vec(),
    )
    .await;
    assert_eq!(reply.body["reason"], "not_ready");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_routed_by_type_to_topics_hookgate_creates() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kind = VerifierKind::Github;
    let prefix = topic("route");
    let lenient = source(dir.path(), "github", kind, &format!("{prefix}.{{event}}"))
        + &format!("events = [\"push\", \"pull_request\"]\nfallback_topic = \"{prefix}.other\"\n");
    let strict = source(
        dir.path(),
        "strict",
        kind,
        &format!("{prefix}.strict.{{event}}"),
    ) + "events = [\"push\"]\n";
    let gateway = Hookgate::start(&broker.bootstrap(), 5000, &(lenient + &strict)).await;
    let client = client();

    // hookgate creates every topic its routes can reach, and no other.
    let wanted = [
        format!("{prefix}.push"),
        format!("{prefix}.pull_request"),
        format!("{prefix}.other"),
        format!("{prefix}.strict.push"),
    ];
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("consumer");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metadata =
            rdkafka::consumer::Consumer::fetch_metadata(&consumer, None, Duration::from_secs(5))
                .expect("metadata");
        let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
        if wanted.iter().all(|w| names.contains(&w.as_str())) {
            assert!(!names.iter().any(|n| n.contains("star")), "{names:?}");
            break;
        }
        assert!(Instant::now() < deadline, "topics not created: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let deliver = |name: &'static str, event: &'static str, id: &'static str| {
        let url = gateway.url(&format!("/webhooks/{name}"));
        let client = client.clone();
        async move {
            let body = body_with_id(id);
            let mut headers = signed(kind, id, &body);
            for (header, value) in &mut headers {
                if header == "X-GitHub-Event" {
                    *value = event.into();
                }
            }
            send(&client, "POST", &url, &headers, body).await
        }
    };
    for (event, id) in [
        ("push", "evt-r1"),
        ("pull_request", "evt-r2"),
        ("star", "evt-r3"),
    ] {
        let reply = deliver("github", event, id).await;
        assert_eq!(reply.status, 200, "{event}: {:?}", reply.body);
    }
    for (topic, event) in [
        ("push", "push"),
        ("pull_request", "pull_request"),
        ("other", "star"),
    ] {
        let records = consume(
            &broker.bootstrap(),
            &format!("{prefix}.{topic}"),
            1,
            Duration::from_millis(300),
        )
        .await;
        assert_eq!(records.len(), 1, "{topic}");
        assert_eq!(records[0].headers["hookgate-event-type"], event.as_bytes());
    }
    let reply = deliver("strict", "star", "evt-r4").await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (400, Some("unroutable_event"))
    );
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("\"star\""),
        "{:?}",
        reply.body
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_null_publisher_acknowledges_without_kafka_and_still_dedups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kind = VerifierKind::Stripe;
    let sources = source(dir.path(), "stripe", kind, "t.nowhere");
    let gateway = Hookgate::start("null", 1000, &sources).await;
    let client = client();
    let url = gateway.url("/webhooks/stripe");
    let body = body_with_id("evt_null_1");
    let headers = signed(kind, "evt_null_1", &body);
    let first = send(&client, "POST", &url, &headers, body.clone()).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (200, Some("accepted"))
    );
    let again = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(again.body["status"], "duplicate");
    let readyz = harness::try_get(&client, &gateway.url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(readyz.0, 200, "{}", readyz.1);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_publishes_and_dedups_through_the_one_start_up() {
    // `kafka.brokers = "embedded"` through `app::start`, as `main` runs the
    // README's first command: the mock cluster, its topics and the dedup
    // topic are made at start-up.
    let dir = tempfile::tempdir().expect("tempdir");
    let kind = VerifierKind::Github;
    let sources = source(dir.path(), "github", kind, "webhooks.github");
    let gateway = Hookgate::start("embedded", 2000, &sources).await;
    let client = client();
    let url = gateway.url("/webhooks/github");
    let body = body_with_id("evt_embedded_1");
    let headers = signed(kind, "evt_embedded_1", &body);
    let first = send(&client, "POST", &url, &headers, body.clone()).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (200, Some("accepted")),
        "{:?}",
        first.body
    );
    let again = send(&client, "POST", &url, &headers, body).await;
    assert_eq!(again.body["status"], "duplicate");
    // Published once by the dedup stage of the same process.
    let records = consume(
        &gateway.bootstrap_servers(),
        "webhooks.github",
        1,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(records.len(), 1, "published once");
    gateway.stop().await;
}

/// Requests refused before anything is published need no broker.
async fn gateway_without_broker(dir: &Path) -> Hookgate {
    let sources = source(dir, "github", VerifierKind::Github, "t.github")
        + &source(dir, "stripe", VerifierKind::Stripe, "t.stripe");
    Hookgate::launch("127.0.0.1:9", 1000, "", &sources).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_paths_methods_and_sizes_get_clear_json_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = gateway_without_broker(dir.path()).await;
    let client = client();

    let reply = send(&client, "POST", &gateway.url("/webhooks/nope"), &[], "{}").await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (404, Some("unknown_path"))
    );
    let reply = send(&client, "GET", &gateway.url("/webhooks/github"), &[], "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/github"),
        &[],
        vec![b'x'; 65537],
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (413, Some("body_too_large"))
    );
    let reply = send(&client, "GET", &gateway.url("/healthz"), &[], "").await;
    assert_eq!(reply.status, 200);
    let reply = send(&client, "GET", &gateway.url("/readyz"), &[], "").await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (503, Some("not_ready"))
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_over_the_limit_is_cut_off_with_413() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = gateway_without_broker(dir.path()).await;
    let mut stream = tokio::net::TcpStream::connect(gateway.addr)
        .await
        .expect("connect");
    let head =
        "POST /webhooks/github HTTP/1.1\r\nHost: hookgate\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("write");
    let chunk = format!("{:x}\r\n{}\r\n", 16384, "y".repeat(16384));
    // 80 KiB announced nowhere; the limit is 64 KiB.
    for _ in 0..5 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("body_too_large"), "{text}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_without_a_usable_event_id_get_400_or_401() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = gateway_without_broker(dir.path()).await;
    let client = client();

    let body = body_with_id("x");
    let mut headers = signed(VerifierKind::Github, "x", &body);
    headers.retain(|(name, _)| name != "X-GitHub-Delivery");
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/github"),
        &headers,
        body,
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["reason"], "missing_event_id");
    assert_eq!(
        reply.body["error"],
        "event id missing: expected it in header x-github-delivery"
    );

    let form = b"id=evt_1&type=charge.succeeded".to_vec();
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/stripe"),
        &signed(VerifierKind::Stripe, "", &form),
        form,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (400, Some("malformed_body"))
    );

    let body = body_with_id("evt_old");
    let old = verify::sign(
        VerifierKind::Stripe,
        secret_for(VerifierKind::Stripe).as_bytes(),
        &body,
        "",
        now() - 600,
        SCHEME_OPTIONS,
    )
    .expect("signs")
    .headers;
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/stripe"),
        &old,
        body,
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (401, Some("stale_timestamp"))
    );
    gateway.stop().await;
}
