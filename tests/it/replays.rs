//! Captured deliveries sent again: under a new event id where the scheme does
//! not sign it (GitHub's `X-GitHub-Delivery`), and with new `event-data` where
//! it signs only a token (Mailgun). The replay guard answers them duplicate
//! and publishes nothing; switched off, the source publishes them.

use std::time::Duration;

use hookgate::verify::VerifierKind;

use super::{body_with_id, delivery, signed, source};
use crate::harness::{Broker, Hookgate, client, consume, send, topic};

/// A broker and hookgate with one source of `kind`, with `extra` TOML lines
/// added to the source; returns the source's URL and topic.
async fn gateway(
    test: &str,
    kind: VerifierKind,
    extra: &str,
) -> (Broker, Hookgate, String, String, tempfile::TempDir) {
    let broker = Broker::start().await;
    let events = topic(test);
    broker.create_topic(&events).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = source(dir.path(), kind.name(), kind, &events) + extra;
    let gateway = Hookgate::start(&broker.bootstrap(), 5000, &sources).await;
    let url = gateway.url(&format!("/webhooks/{}", kind.name()));
    (broker, gateway, url, events, dir)
}

/// GitHub's headers for `body`, with the delivery id replaced by `id`.
fn github_headers_with_id(body: &[u8], signed_as: &str, id: &str) -> Vec<(String, String)> {
    signed(VerifierKind::Github, signed_as, body)
        .into_iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("x-github-delivery") {
                (name, id.to_owned())
            } else {
                (name, value)
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_github_delivery_under_a_new_id_is_not_published_again() {
    let kind = VerifierKind::Github;
    let (broker, gateway, url, events, _dir) = gateway("replay-github", kind, "").await;
    let client = client();
    let body = body_with_id("evt-original");
    let original = github_headers_with_id(&body, "evt-original", "evt-original");
    let reply = send(&client, "POST", &url, &original, body.clone()).await;
    assert_eq!(reply.body["status"], "accepted");
    for forged_id in ["evt-forged-1", "evt-forged-2"] {
        let replayed = github_headers_with_id(&body, "evt-original", forged_id);
        let reply = send(&client, "POST", &url, &replayed, body.clone()).await;
        assert_eq!(
            (reply.status, reply.body["status"].as_str()),
            (200, Some("duplicate")),
            "{forged_id}"
        );
    }
    gateway.stop().await;
    let records = consume(&broker.bootstrap(), &events, 1, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1, "published once: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailgun_signature_block_with_new_event_data_is_not_published() {
    let kind = VerifierKind::Mailgun;
    let (broker, gateway, url, events, _dir) = gateway("replay-mailgun", kind, "").await;
    let client = client();
    let signed = delivery(kind, "evt-real", &body_with_id("evt-real"));
    let reply = send(&client, "POST", &url, &signed.headers, signed.body.clone()).await;
    assert_eq!(reply.body["status"], "accepted");
    // Mailgun signs only the timestamp and the token: anyone who saw the
    // delivery can put other event-data beside its signature block.
    let forged = String::from_utf8(signed.body.clone())
        .expect("utf-8")
        .replace("evt-real", "evt-forged");
    assert_ne!(forged.as_bytes(), &signed.body[..]);
    let reply = send(&client, "POST", &url, &signed.headers, forged).await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("duplicate")),
        "{:?}",
        reply.body
    );
    gateway.stop().await;
    let records = consume(&broker.bootstrap(), &events, 1, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1, "published once: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_the_replay_guard_publishes_the_same_body_under_each_id() {
    let kind = VerifierKind::Github;
    let (broker, gateway, url, events, _dir) =
        gateway("replay-off", kind, "replay_guard = false\n").await;
    let client = client();
    let body = body_with_id("evt-same-body");
    for id in ["evt-a", "evt-b"] {
        let headers = github_headers_with_id(&body, "evt-same-body", id);
        let reply = send(&client, "POST", &url, &headers, body.clone()).await;
        assert_eq!(reply.body["status"], "accepted", "{id}");
    }
    gateway.stop().await;
    let records = consume(&broker.bootstrap(), &events, 2, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 2);
}
