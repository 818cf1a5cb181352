//! What reaches Kafka: every scheme's events byte for byte with their key
//! and headers, published once however often or at once they arrive, routed
//! by event type to topics hookgate creates, and the null and embedded
//! publishers.

use std::time::{Duration, Instant};

use hookgate::verify::{self, VerifierKind};
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::{body_with_id, delivery, published_events, signed, source};
use hookgate_testbed::{Brokers, Testbed, consume, topic};

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
    } else if kind == VerifierKind::Adyen {
        // Each item's id is its own signature, made when it was signed.
        let locator = hookgate::pipeline::locate::Locator::parse(spec).expect("parses");
        let headers = hookgate_testbed::signing::header_map(headers);
        locator
            .extract(&headers, body)
            .expect("the item's signature")
            .as_str()
            .to_owned()
    } else {
        id.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verifier_lands_in_kafka_byte_identical_with_key_and_headers() {
    let bed = Testbed::own_tansu("verifiers").await;
    let mut gateway = bed.gateway();
    let mut topics = Vec::new();
    for kind in VerifierKind::ALL {
        let topic = topic(kind.name());
        bed.create_topic(&topic).await;
        gateway = gateway.sources(&source(bed.dir(), kind.name(), kind, &topic));
        topics.push(topic);
    }
    let gateway = gateway.start().await;
    let client = client();

    for (kind, topic) in VerifierKind::ALL.into_iter().zip(&topics) {
        let id = format!("evt-{}-1", kind.name());
        let verify::SignedDelivery {
            headers,
            body,
            query,
        } = delivery(kind, &id, &body_with_id(&id));
        let path = match &query {
            Some(query) => format!("/webhooks/{}?{query}", kind.name()),
            None => format!("/webhooks/{}", kind.name()),
        };
        // A batch's events are each published as the exact bytes they had in it.
        let signed = verify::SignedDelivery {
            headers: headers.clone(),
            body: body.clone(),
            query: query.clone(),
        };
        let published = match &published_events(kind, &signed)[..] {
            [event] => event.clone(),
            other => panic!("{kind:?}: one event expected, {} published", other.len()),
        };
        // As the sender sent it.
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_bytes())
            .expect("a content type");
        let reply = send(&client, "POST", &gateway.url(&path), &headers, body.clone()).await;
        let want_id = expected_id(kind, &id, &published, &headers);
        assert_eq!(reply.status, 200, "{kind:?}: {:?}", reply.body);
        assert_eq!(reply.body["status"], "accepted", "{kind:?}");
        assert_eq!(reply.body["id"], want_id.as_str(), "{kind:?}");

        let records = consume(&bed.bootstrap(), topic, 1, Duration::from_millis(300)).await;
        assert_eq!(records.len(), 1, "{kind:?}");
        let record = &records[0];
        assert_eq!(
            record.payload, published,
            "{kind:?}: the body must be published byte for byte"
        );
        // Keyed by the entity the scheme names where the event carries it,
        // else by the event id.
        let want_key = kind
            .defaults()
            .partition_key
            .and_then(|spec| {
                let locator = hookgate::pipeline::locate::Locator::parse(spec).expect("parses");
                let headers = hookgate_testbed::signing::header_map(&headers);
                locator.extract(&headers, &published).ok()
            })
            .map_or(want_id.clone(), |key| key.as_str().to_owned());
        assert_eq!(record.key.as_deref(), Some(want_key.as_bytes()), "{kind:?}");
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
async fn a_redelivered_event_is_published_once() {
    let kind = VerifierKind::Github;
    let bed = Testbed::own_tansu("dup").await;
    let gateway = bed.gateway_for("github", kind).start().await;
    let (client, url) = (client(), gateway.url("/webhooks/github"));
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
    let records = bed.published(1, Duration::from_millis(700)).await;
    assert_eq!(records.len(), 1);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_event_are_published_once() {
    let kind = VerifierKind::StandardWebhooks;
    let bed = Testbed::own_tansu("race").await;
    let gateway = bed.gateway_for("sw", kind).start().await;
    let (client, url) = (client(), gateway.url("/webhooks/sw"));
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
    let records = bed.published(1, Duration::from_millis(700)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_routed_by_type_to_topics_hookgate_creates() {
    let bed = Testbed::own_tansu("route").await;
    let dir = bed.dir();
    let kind = VerifierKind::Github;
    let prefix = topic("route");
    let lenient = source(dir, "github", kind, &format!("{prefix}.{{event}}"))
        + &format!("events = [\"push\", \"pull_request\"]\nfallback_topic = \"{prefix}.other\"\n");
    let strict = source(dir, "strict", kind, &format!("{prefix}.strict.{{event}}"))
        + "events = [\"push\"]\n";
    let gateway = bed.gateway().sources(&(lenient + &strict)).start().await;
    let client = client();

    // hookgate creates every topic its routes can reach, and no other.
    let wanted = [
        format!("{prefix}.push"),
        format!("{prefix}.pull_request"),
        format!("{prefix}.other"),
        format!("{prefix}.strict.push"),
    ];
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bed.bootstrap())
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
            &bed.bootstrap(),
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
    let kind = VerifierKind::Stripe;
    let bed = Testbed::new(Brokers::Null, "nowhere").await;
    let gateway = bed
        .gateway_for("stripe", kind)
        .produce_timeout(Duration::from_millis(1000))
        .start()
        .await;
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
    let readyz = try_get(&client, &gateway.url("/readyz"))
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
    let kind = VerifierKind::Github;
    let bed = Testbed::new(Brokers::Embedded, "embedded").await;
    let gateway = bed
        .gateway_for("github", kind)
        .produce_timeout(Duration::from_millis(2000))
        .start()
        .await;
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
        &bed.events,
        1,
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(records.len(), 1, "published once");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_keyed_by_the_entity_so_one_objects_events_share_a_partition() {
    let bed = Testbed::own_tansu("entity-keys").await;
    let stripe_topic = topic("stripe-keys");
    let tenant_topic = topic("tenant-keys");
    bed.create_topic(&stripe_topic).await;
    bed.create_topic(&tenant_topic).await;
    // Stripe's default: the object the event is about. The hmac source
    // names its own place, a header.
    let gateway = bed
        .gateway()
        .sources(&source(
            bed.dir(),
            "stripe",
            VerifierKind::Stripe,
            &stripe_topic,
        ))
        .sources(&format!(
            "{}key = \"header:X-Tenant\"\n",
            source(bed.dir(), "tenant", VerifierKind::Hmac, &tenant_topic)
        ))
        .sources(&format!(
            "{}key = \"header:X-Tenant\"\nkey_missing = \"refuse\"\n",
            source(bed.dir(), "strict", VerifierKind::Hmac, &tenant_topic)
        ))
        .start()
        .await;
    let client = client();
    let stripe_event = |id: &str, object: &str| {
        format!(
            "{{\"id\":\"{id}\",\"type\":\"charge.updated\",\"data\":{{\"object\":{{\"id\":\"{object}\"}}}}}}"
        )
    };
    for (id, object) in [("evt_k1", "ch_A"), ("evt_k2", "ch_A"), ("evt_k3", "ch_B")] {
        let body = stripe_event(id, object).into_bytes();
        let headers = signed(VerifierKind::Stripe, id, &body);
        let reply = send(
            &client,
            "POST",
            &gateway.url("/webhooks/stripe"),
            &headers,
            body,
        )
        .await;
        assert_eq!(
            (reply.status, &reply.body["id"]),
            (200, &serde_json::json!(id))
        );
    }
    // An object-less event is keyed by its id, and published all the same.
    let body = br#"{"id":"evt_k4","type":"balance.available","data":{}}"#.to_vec();
    let headers = signed(VerifierKind::Stripe, "evt_k4", &body);
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/stripe"),
        &headers,
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let records = consume(
        &bed.bootstrap(),
        &stripe_topic,
        4,
        Duration::from_millis(300),
    )
    .await;
    let keys: Vec<(String, String)> = records
        .iter()
        .map(|record| {
            (
                String::from_utf8_lossy(&record.headers["hookgate-event-id"]).into_owned(),
                String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    for (id, key) in [
        ("evt_k1", "ch_A"),
        ("evt_k2", "ch_A"),
        ("evt_k3", "ch_B"),
        ("evt_k4", "evt_k4"),
    ] {
        assert!(
            keys.contains(&(id.to_owned(), key.to_owned())),
            "{id} keyed {key}: {keys:?}"
        );
    }

    for (id, tenant) in [("t-1", Some("acme")), ("t-2", None)] {
        let body = body_with_id(id);
        let mut headers = signed(VerifierKind::Hmac, id, &body);
        if let Some(tenant) = tenant {
            headers.push(("X-Tenant".into(), tenant.into()));
        }
        let reply = send(
            &client,
            "POST",
            &gateway.url("/webhooks/tenant"),
            &headers,
            body,
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let records = consume(
        &bed.bootstrap(),
        &tenant_topic,
        2,
        Duration::from_millis(300),
    )
    .await;
    // A source that refuses deliveries without their entity.
    let body = body_with_id("t-3");
    let headers = signed(VerifierKind::Hmac, "t-3", &body);
    let reply = send(
        &client,
        "POST",
        &gateway.url("/webhooks/strict"),
        &headers,
        body,
    )
    .await;
    assert_eq!(
        (reply.status, &reply.body["reason"]),
        (400, &serde_json::json!("missing_key")),
        "{:?}",
        reply.body
    );
    // Without the header, the event id (the body's digest, for `hmac`).
    assert!(
        records.iter().any(|r| r.key.as_deref() == Some(b"acme")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r.key.as_deref() == Some(&r.headers["hookgate-event-id"][..])),
        "{records:?}"
    );
    gateway.stop().await;
}
