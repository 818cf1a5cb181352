//! A broker that freezes or dies under a gateway: every delivery answered
//! 503 (or 409 while a copy is in flight) within the produce timeout, a
//! batch answered 2xx only once all its events are in Kafka, and recovery
//! without restarting hookgate.

use std::time::{Duration, Instant};

use hookgate::verify::VerifierKind;
use hookgate_testbed::Testbed;
use hookgate_testbed::http::{HttpClient, client, send};
use hookgate_testbed::signing::{body_with_id, delivery, signed};

/// How long past its produce deadline an answer may take to reach the test:
/// the scheduling of a shared two-core machine, not hookgate's waiting.
const DEADLINE_SLACK: Duration = Duration::from_millis(750);

/// Sends `id` until it is accepted, as a provider's retries would.
async fn deliver_until_accepted(
    client: &HttpClient,
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
    client: &HttpClient,
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
    let bed = Testbed::own_tansu("frozen").await;
    let gateway = bed
        .gateway_for("github", kind)
        .produce_timeout(Duration::from_millis(timeout_ms))
        .start()
        .await;
    let (client, url) = (client(), gateway.url("/webhooks/github"));
    deliver_until_accepted(&client, &url, kind, "before", Duration::from_secs(10)).await;

    bed.tansu().signal("-STOP");
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

    bed.tansu().signal("-CONT");
    retry_until_stored(&client, &url, kind, "during", Duration::from_secs(30)).await;
    deliver_until_accepted(&client, &url, kind, "after", Duration::from_secs(10)).await;
    let records = bed.published(3, Duration::from_millis(500)).await;
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
    let bed = Testbed::own_tansu("batch").await;
    let gateway = bed
        .gateway_for("mandrill", kind)
        .produce_timeout(Duration::from_millis(timeout_ms))
        .start()
        .await;
    let (client, url) = (client(), gateway.url("/webhooks/mandrill"));
    let events: Vec<String> = (1..=3)
        .map(|n| format!(r#"{{"_id":"msg-{n}","event":"send","ts":{n}}}"#))
        .collect();
    let batch = format!("[{}]", events.join(","));
    let post = || async {
        let delivery = delivery(kind, "", batch.as_bytes());
        send(&client, "POST", &url, &delivery.headers, delivery.body).await
    };

    // While the broker is frozen the batch is refused, in time, as a whole.
    bed.tansu().signal("-STOP");
    let started = Instant::now();
    let reply = post().await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (503, Some("kafka_unavailable")),
        "{:?}",
        reply.body
    );
    assert!(started.elapsed() < Duration::from_millis(timeout_ms) + DEADLINE_SLACK);
    bed.tansu().signal("-CONT");

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
    let records = bed.published(3, Duration::from_millis(500)).await;
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
    let mut bed = Testbed::own_tansu("killed").await;
    let gateway = bed
        .gateway_for("shop", kind)
        .produce_timeout(Duration::from_millis(timeout_ms))
        .start()
        .await;
    let (client, url) = (client(), gateway.url("/webhooks/shop"));
    deliver_until_accepted(&client, &url, kind, "k-before", Duration::from_secs(10)).await;

    bed.tansu_mut().kill();
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
    bed.tansu_mut().restart().await;
    bed.create_topic(&bed.events).await;
    retry_until_stored(&client, &url, kind, "k-during", Duration::from_secs(30)).await;
    let records = bed.published(1, Duration::from_millis(500)).await;
    let stored = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"k-during"[..]))
        .count();
    assert_eq!(stored, 1, "k-during in Kafka once");
    gateway.stop().await;
}
