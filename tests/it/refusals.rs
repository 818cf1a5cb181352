//! Requests hookgate answers without publishing them: bad signatures, a
//! source over its rate limit, endpoint checks (answered by hookgate
//! itself), wrong paths, methods and sizes, a streamed body over the limit,
//! and signed requests without a usable event id.

use std::time::Duration;

use hookgate::verify::{self, VerifierKind};
use hookgate_testbed::http::{client, send};
use hookgate_testbed::signing::{SCHEME_OPTIONS, body_with_id, now, secret_for, signed, source};
use hookgate_testbed::{InProcess, Testbed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests refused before anything is published need no broker: a GitHub
/// and a Stripe source, on a bed whose broker is not there.
async fn gateway_without_broker() -> (Testbed, InProcess) {
    let bed = Testbed::unreachable("127.0.0.1:9", "refused").await;
    let gateway = bed
        .gateway_for("github", VerifierKind::Github)
        .sources(&bed.source("stripe", VerifierKind::Stripe))
        .produce_timeout(Duration::from_millis(1000))
        .launch()
        .await;
    (bed, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_and_never_published() {
    let kind = VerifierKind::Stripe;
    let bed = Testbed::own_tansu("badsig").await;
    let gateway = bed.gateway_for("stripe", kind).start().await;
    let (client, url) = (client(), gateway.url("/webhooks/stripe"));

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
    let records = bed.published(1, Duration::from_millis(500)).await;
    assert_eq!(records.len(), 1, "only the genuine event is in Kafka");
    assert_eq!(records[0].payload, marker);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_over_its_rate_limit_gets_429_for_fresh_signed_deliveries_only() {
    let bed = Testbed::own_tansu("rate").await;
    let gateway = bed
        .gateway_for("github", VerifierKind::Github)
        .sources("[sources.rate_limit]\nper_second = 1\nburst = 2\n")
        .start()
        .await;
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
    let bed = Testbed::unreachable("127.0.0.1:9", "checks").await;
    let sources = [
        VerifierKind::Slack,
        VerifierKind::Zoom,
        VerifierKind::Discord,
    ]
    .iter()
    .map(|kind| source(bed.dir(), kind.name(), *kind, &format!("t.{}", kind.name())))
    .collect::<String>();
    // No broker: a handshake needs none, and publishing would fail loudly.
    let gateway = bed
        .gateway()
        .sources(&sources)
        .produce_timeout(Duration::from_millis(1000))
        .launch()
        .await;
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
async fn wrong_paths_methods_and_sizes_get_clear_json_errors() {
    let (_bed, gateway) = gateway_without_broker().await;
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
    let (_bed, gateway) = gateway_without_broker().await;
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
    let (_bed, gateway) = gateway_without_broker().await;
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
