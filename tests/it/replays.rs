//! Captured deliveries sent again: under a new event id where the scheme does
//! not sign it (GitHub's `X-GitHub-Delivery`, Linear's `Linear-Delivery`,
//! Twilio's idempotency token, with the body changed where Twilio's signature
//! does not reach), and with new `event-data` where it signs only a token
//! (Mailgun). The replay guard answers them duplicate and publishes nothing;
//! switched off, the source publishes them.

use std::time::Duration;

use hookgate::verify::VerifierKind;
use hookgate_testbed::Testbed;
use hookgate_testbed::http::{client, send};
use hookgate_testbed::signing::{SCHEME_OPTIONS, body_with_id, delivery, now, secret_for, signed};

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
    let bed = Testbed::own_tansu("replay-github").await;
    let gateway = bed.gateway_for(kind.name(), kind).start().await;
    let url = gateway.url(&format!("/webhooks/{}", kind.name()));
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
    let records = bed.published(1, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1, "published once: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailgun_signature_block_with_new_event_data_is_not_published() {
    let kind = VerifierKind::Mailgun;
    let bed = Testbed::own_tansu("replay-mailgun").await;
    let gateway = bed.gateway_for(kind.name(), kind).start().await;
    let url = gateway.url(&format!("/webhooks/{}", kind.name()));
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
    let records = bed.published(1, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1, "published once: {records:?}");
}

/// `headers` with the one named `name` (any case) set to `value`.
fn with_header(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(header, old)| {
            if header.eq_ignore_ascii_case(name) {
                (header.clone(), value.to_owned())
            } else {
                (header.clone(), old.clone())
            }
        })
        .collect()
}

/// A request to a source: its query (with its `?`, or empty), headers and body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

/// Sends `original`, then each of `copies`, to a fresh source of `kind`:
/// the first is accepted, every copy answered duplicate, one record published.
async fn only_the_original_is_published(
    test: &str,
    kind: VerifierKind,
    original: Request,
    copies: Vec<Request>,
) {
    let bed = Testbed::own_tansu(test).await;
    let gateway = bed.gateway_for(kind.name(), kind).start().await;
    let url = gateway.url(&format!("/webhooks/{}", kind.name()));
    let client = client();
    let (query, headers, body) = original;
    let reply = send(&client, "POST", &format!("{url}{query}"), &headers, body).await;
    assert_eq!(reply.body["status"], "accepted", "{:?}", reply.body);
    for (n, (query, headers, body)) in copies.into_iter().enumerate() {
        let reply = send(&client, "POST", &format!("{url}{query}"), &headers, body).await;
        assert_eq!(
            (reply.status, reply.body["status"].as_str()),
            (200, Some("duplicate")),
            "copy {n}: {:?}",
            reply.body
        );
    }
    gateway.stop().await;
    let records = bed.published(1, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 1, "published once: {records:?}");
}

/// A Twilio delivery of `payload` as Twilio signs it.
fn twilio(payload: &[u8], token: &str) -> Request {
    let signed = hookgate::verify::sign(
        VerifierKind::Twilio,
        secret_for(VerifierKind::Twilio).as_bytes(),
        payload,
        token,
        now(),
        SCHEME_OPTIONS,
    )
    .expect("signs");
    let query = signed.query.map(|q| format!("?{q}")).unwrap_or_default();
    (query, signed.headers, signed.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_form_reordered_under_a_new_token_is_not_published_again() {
    let form = b"MessageSid=SM1&From=%2B15005550006&Body=Hello+world%21&To=%2B15005550001";
    let original = twilio(form, "token-original");
    // The same parameters in another order and spelling: the same signed
    // string, so the same signature, under a new idempotency token.
    let reordered = b"To=%2B15005550001&Body=Hello%20world!&From=%2B15005550006&MessageSid=SM1";
    let copy = (
        String::new(),
        with_header(&original.1, "I-Twilio-Idempotency-Token", "token-forged"),
        reordered.to_vec(),
    );
    only_the_original_is_published(
        "replay-twilio-form",
        VerifierKind::Twilio,
        original,
        vec![copy],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_json_signature_carried_by_a_form_body_is_not_published() {
    let original = twilio(&body_with_id("evt-twilio-json"), "token-json");
    let query = original.0.trim_start_matches('?');
    assert!(query.starts_with("bodySHA256="), "{query}");
    // One form parameter named `?bodySHA256=<digest>`, posted without the
    // query: the signed string is the JSON post's.
    let forged_body = format!("%3F{}", query.replace('=', "%3D"));
    let forged_headers = with_header(
        &with_header(
            &original.1,
            "Content-Type",
            "application/x-www-form-urlencoded",
        ),
        "I-Twilio-Idempotency-Token",
        "token-forged",
    );
    let copy = (String::new(), forged_headers, forged_body.into_bytes());
    only_the_original_is_published(
        "replay-twilio-json",
        VerifierKind::Twilio,
        original,
        vec![copy],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_linear_delivery_under_a_new_id_or_event_is_not_published_again() {
    let kind = VerifierKind::Linear;
    let signed = delivery(kind, "linear-original", &body_with_id("linear-original"));
    let copies = vec![
        (
            String::new(),
            with_header(&signed.headers, "Linear-Delivery", "linear-forged"),
            signed.body.clone(),
        ),
        (
            String::new(),
            with_header(
                &with_header(&signed.headers, "Linear-Delivery", "linear-forged-2"),
                "Linear-Event",
                "Project",
            ),
            signed.body.clone(),
        ),
    ];
    only_the_original_is_published(
        "replay-linear",
        kind,
        (String::new(), signed.headers, signed.body),
        copies,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_the_replay_guard_publishes_the_same_body_under_each_id() {
    let kind = VerifierKind::Github;
    let bed = Testbed::own_tansu("replay-off").await;
    let gateway = bed
        .gateway_for(kind.name(), kind)
        .sources("replay_guard = false\n")
        .start()
        .await;
    let url = gateway.url(&format!("/webhooks/{}", kind.name()));
    let client = client();
    let body = body_with_id("evt-same-body");
    for id in ["evt-a", "evt-b"] {
        let headers = github_headers_with_id(&body, "evt-same-body", id);
        let reply = send(&client, "POST", &url, &headers, body.clone()).await;
        assert_eq!(reply.body["status"], "accepted", "{id}");
    }
    gateway.stop().await;
    let records = bed.published(2, Duration::from_secs(1)).await;
    assert_eq!(records.len(), 2);
}
