//! Readiness that does not drain the fleet: a Kafka outage leaves every
//! replica in rotation (hookgate answers 503 with `Retry-After` itself) unless
//! `server.readiness_requires_kafka` says otherwise; the reasons are on the
//! metrics port only.

use std::time::{Duration, Instant};

use hookgate::verify::VerifierKind;
use hookgate_testbed::http::{client, send, try_get};
use hookgate_testbed::signing::{body_with_id, signed};
use hookgate_testbed::{Process, Testbed};

/// The metrics port's `/readyz`, parsed.
async fn details(process: &Process) -> serde_json::Value {
    let url = process.metrics_url("/readyz");
    let (_, body) = try_get(&client(), &url)
        .await
        .expect("metrics port answers");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_outage_keeps_replicas_in_rotation_unless_configured_otherwise() {
    let bed = Testbed::own_tansu("readiness").await;
    let replica = bed.gateway_for("github", VerifierKind::Github);
    let tolerant = replica.clone().start_process().await;
    let strict = replica
        .server("readiness_requires_kafka = true")
        .start_process()
        .await;
    for process in [&tolerant, &strict] {
        assert_eq!(process.metric("hookgate_ready").await, 1.0);
    }

    bed.tansu().signal("-STOP");
    let deadline = Instant::now() + Duration::from_secs(15);
    for process in [&tolerant, &strict] {
        while details(process).await["kafka_reachable"] != false {
            assert!(Instant::now() < deadline, "the outage was not noticed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let client = client();
    let (status, body) = try_get(&client, &tolerant.url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));
    let tolerant_details = details(&tolerant).await;
    assert_eq!(tolerant_details["status"], "ready");
    assert!(
        tolerant_details["problems"]
            .to_string()
            .contains("no Kafka broker is reachable"),
        "{tolerant_details}"
    );
    assert_eq!(tolerant.metric("hookgate_ready").await, 1.0);
    let (status, _) = try_get(&client, &strict.url("/readyz"))
        .await
        .expect("readyz");
    assert_eq!(status, 503);
    assert_eq!(strict.metric("hookgate_ready").await, 0.0);

    // The replica in rotation answers the provider itself, with a retry hint.
    let body = body_with_id("evt-outage");
    let reply = send(
        &client,
        "POST",
        &tolerant.url("/webhooks/github"),
        &signed(VerifierKind::Github, "evt-outage", &body),
        body,
    )
    .await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));

    bed.tansu().signal("-CONT");
    strict.await_metric("hookgate_ready", 1.0).await;
    tolerant.stop();
    strict.stop();
}
