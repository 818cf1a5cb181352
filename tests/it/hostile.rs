//! Hostile input, one table: forged and malformed signatures, timestamps out
//! of tolerance, missing and odd event ids, bodies that lie about their size,
//! header floods, pipelining, replays and forgeries, and connections that say
//! nothing. Each case is sent as raw bytes over TCP to a hookgate process and
//! names its expected status, its reason, and the counter it moves.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hookgate::verify::{self, VerifierKind};
use hookgate_testbed::http::{client, try_get};
use hookgate_testbed::signing::{
    PUBLIC_URL, SCHEME_OPTIONS, add_content_type, body_with_id, delivery, now, secret_for, source,
};
use hookgate_testbed::{Testbed, topic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a case expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// hookgate's JSON answer: status and `status` word or `reason`, counted
    /// under the source (or `_unrouted`).
    Json(u16, &'static str),
    /// An HTTP error hyper answers itself before hookgate sees a request.
    Http(u16),
    /// The connection is closed without an answer.
    Closed,
}

struct Case {
    name: &'static str,
    source: &'static str,
    /// Bytes to send; with `more`, each answer after the first.
    bytes: Vec<u8>,
    expect: Vec<Expect>,
}

fn case(name: &'static str, source: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        source,
        bytes,
        expect: vec![expect],
    }
}

/// Twilio's idempotency token, the event id it does not sign.
const TWILIO_TOKEN: &str = "i-twilio-idempotency-token";
/// The URL the HubSpot source was given, with a query.
const HUBSPOT_URL: &str = "https://hooks.example.com/webhooks/hubspot?portal=1";

/// A compact JWS whose ECDSA P-256 signature `(r, s)` is written as its
/// twin `(r, n - s)`, which verifies as well.
fn high_s_twin(token: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signing_input, signature) = token.rsplit_once('.').expect("a compact JWS");
    let raw = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let signature = p256::ecdsa::Signature::from_slice(&raw).expect("r || s");
    let (r, s) = signature.split_scalars();
    let twin = p256::ecdsa::Signature::from_scalars(r, -s).expect("a signature");
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(twin.to_bytes())
    )
}

/// A request with `headers` and a `Content-Length` for `body`.
fn request(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: hookgate\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn post(source: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    request("POST", &format!("/webhooks/{source}"), headers, body)
}

/// The headers of `kind` for `body` signed at `at`, with `change` applied.
fn signed_at(
    kind: VerifierKind,
    id: &str,
    body: &[u8],
    at: i64,
    change: impl Fn(&str, String) -> Option<String>,
) -> Vec<(String, String)> {
    let mut signed = verify::sign(
        kind,
        secret_for(kind).as_bytes(),
        body,
        id,
        at,
        SCHEME_OPTIONS,
    )
    .expect("signs");
    add_content_type(&mut signed.headers);
    signed
        .headers
        .into_iter()
        .filter_map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            change(&lower, value).map(|value| (name, value))
        })
        .collect()
}

/// The signed headers with the one named `header` replaced by `value`
/// (`None`: removed).
fn with(
    kind: VerifierKind,
    id: &str,
    body: &[u8],
    header: &'static str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    signed_at(kind, id, body, now(), |name, old| {
        if name == header {
            value.map(str::to_owned)
        } else {
            Some(old)
        }
    })
}

fn good(kind: VerifierKind, id: &str, body: &[u8]) -> Vec<(String, String)> {
    signed_at(kind, id, body, now(), |_, value| Some(value))
}

/// Sends `bytes`, reads `answers` responses (or the close).
async fn exchange(addr: SocketAddr, bytes: &[u8], answers: usize) -> Vec<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(bytes).await;
    let mut received = Vec::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while out.len() < answers {
        if let Some((answer, used)) = parse_response(&received) {
            out.push(answer);
            received.drain(..used);
            continue;
        }
        let mut buf = [0u8; 8192];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            // Closed, reset or out of time: no (further) answer.
            _ => {
                out.push((0, "closed".to_owned()));
                break;
            }
        }
    }
    out
}

/// One response from the front of `bytes`: its status and the `status` or
/// `reason` of its JSON body (empty when it has none), and its length.
fn parse_response(bytes: &[u8]) -> Option<((u16, String), usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    if bytes.len() < head_end + length {
        return None;
    }
    let body: serde_json::Value =
        serde_json::from_slice(&bytes[head_end..head_end + length]).unwrap_or_default();
    let word = body["status"]
        .as_str()
        .or(body["reason"].as_str())
        .unwrap_or_default()
        .to_owned();
    Some(((status, word), head_end + length))
}

/// The series an expected outcome counts in.
fn counter(source: &str, expect: Expect) -> String {
    match expect {
        Expect::Json(200, "accepted") => {
            format!("hookgate_events_accepted_total{{source=\"{source}\"}}")
        }
        Expect::Json(200, "duplicate") => {
            format!("hookgate_events_duplicate_total{{source=\"{source}\"}}")
        }
        Expect::Json(_, word) => {
            format!("hookgate_rejections_total{{source=\"{source}\",reason=\"{word}\"}}")
        }
        Expect::Http(400) => "hookgate_protocol_errors_total{reason=\"malformed_request\"}".into(),
        Expect::Http(431) => "hookgate_protocol_errors_total{reason=\"headers_too_large\"}".into(),
        Expect::Http(status) => panic!("no counter known for hyper's {status}"),
        Expect::Closed => "hookgate_connections_timed_out_total".into(),
    }
}

fn cases() -> Vec<Case> {
    use Expect::{Closed, Http, Json};
    use VerifierKind::{
        Github, HubSpot, Linear, Mailgun, Plaid, Slack, StandardWebhooks, Stripe, Twilio,
    };
    let gh_sig = "x-hub-signature-256";
    let body = |id: &str| body_with_id(id);
    let mut cases = Vec::new();
    let mut add = |name, source, bytes, expect| cases.push(case(name, source, bytes, expect));

    // GitHub's signature header, every way it can be wrong.
    let b = body("gh-1");
    add(
        "github: no signature",
        "github",
        post("github", &with(Github, "gh-1", &b, gh_sig, None), &b),
        Json(401, "missing_signature_header"),
    );
    add(
        "github: empty signature",
        "github",
        post("github", &with(Github, "gh-1", &b, gh_sig, Some("")), &b),
        Json(401, "malformed_signature_header"),
    );
    add(
        "github: prefix only",
        "github",
        post(
            "github",
            &with(Github, "gh-1", &b, gh_sig, Some("sha256=")),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    let sig = good(Github, "gh-1", &b)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(gh_sig))
        .expect("sig")
        .1;
    add(
        "github: truncated hex",
        "github",
        post(
            "github",
            &with(Github, "gh-1", &b, gh_sig, Some(&sig[..sig.len() - 1])),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    // A signature of the wrong length can never match: compared, it fails.
    add(
        "github: one byte short",
        "github",
        post(
            "github",
            &with(Github, "gh-1", &b, gh_sig, Some(&sig[..sig.len() - 2])),
            &b,
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "github: one byte long",
        "github",
        post(
            "github",
            &with(Github, "gh-1", &b, gh_sig, Some(&format!("{sig}00"))),
            &b,
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "github: not hex",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-1",
                &b,
                gh_sig,
                Some(&format!("sha256={}", "zz".repeat(32))),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "github: base64 instead of hex",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-1",
                &b,
                gh_sig,
                Some("sha256=q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "github: sha1 prefix",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-1",
                &b,
                gh_sig,
                Some(&sig.replace("sha256=", "sha1=")),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "github: another key's signature",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-1",
                &b,
                gh_sig,
                Some(&format!("sha256={}", "ab".repeat(32))),
            ),
            &b,
        ),
        Json(401, "signature_mismatch"),
    );
    let mut changed = b.clone();
    changed[3] ^= 1;
    add(
        "github: one body byte changed",
        "github",
        post("github", &good(Github, "gh-1", &b), &changed),
        Json(401, "signature_mismatch"),
    );
    let mut twice = good(Github, "gh-2", &body("gh-2"));
    twice.push((gh_sig.into(), format!("sha256={}", "00".repeat(32))));
    add(
        "github: the signature header twice",
        "github",
        post("github", &twice, &body("gh-2")),
        Json(401, "malformed_signature_header"),
    );
    add(
        "github: signature with trailing space",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-3",
                &body("gh-3"),
                gh_sig,
                Some(&format!("{sig} ")),
            ),
            &body("gh-3"),
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "github: upper-case hex of the right signature",
        "github",
        {
            let b = body("gh-4");
            let sig = good(Github, "gh-4", &b)
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(gh_sig))
                .expect("sig")
                .1;
            let upper = format!("sha256={}", sig["sha256=".len()..].to_ascii_uppercase());
            post(
                "github",
                &with(Github, "gh-4", &b, gh_sig, Some(&upper)),
                &b,
            )
        },
        Json(200, "accepted"),
    );

    // Event ids.
    let b = body("gh-5");
    add(
        "github: no delivery id",
        "github",
        post(
            "github",
            &with(Github, "gh-5", &b, "x-github-delivery", None),
            &b,
        ),
        Json(400, "missing_event_id"),
    );
    add(
        "github: empty delivery id",
        "github",
        post(
            "github",
            &with(Github, "gh-5", &b, "x-github-delivery", Some("")),
            &b,
        ),
        Json(400, "invalid_event_id"),
    );
    add(
        "github: delivery id of 1,000 characters",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-5",
                &b,
                "x-github-delivery",
                Some(&"x".repeat(1000)),
            ),
            &b,
        ),
        Json(400, "invalid_event_id"),
    );
    let b = b"{\"no_id\":true}".to_vec();
    add(
        "stripe: body without an id",
        "stripe",
        post("stripe", &good(Stripe, "st-0", &b), &b),
        Json(400, "missing_event_id"),
    );
    let b = b"not json at all".to_vec();
    add(
        "stripe: body not JSON",
        "stripe",
        post("stripe", &good(Stripe, "st-0", &b), &b),
        Json(400, "malformed_body"),
    );
    let b = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    add(
        "stripe: JSON nested 100,000 deep",
        "stripe",
        post("stripe", &good(Stripe, "st-0", &b), &b),
        Json(413, "body_too_large"),
    );
    let b = format!("{}{}", "[".repeat(2_000), "]".repeat(2_000)).into_bytes();
    // The id is looked for at the top, where it is not; nothing recurses.
    add(
        "stripe: JSON nested 2,000 deep",
        "stripe",
        post("stripe", &good(Stripe, "st-0", &b), &b),
        Json(400, "missing_event_id"),
    );
    let b = b"{\"id\":\"st-bin\xff\xfe\"}".to_vec();
    add(
        "stripe: id that is not UTF-8",
        "stripe",
        post("stripe", &good(Stripe, "st-0", &b), &b),
        Json(400, "malformed_body"),
    );

    // Timestamps.
    let b = body("st-1");
    add(
        "stripe: stale timestamp",
        "stripe",
        post(
            "stripe",
            &signed_at(Stripe, "st-1", &b, now() - 1000, |_, v| Some(v)),
            &b,
        ),
        Json(401, "stale_timestamp"),
    );
    add(
        "stripe: timestamp from the future",
        "stripe",
        post(
            "stripe",
            &signed_at(Stripe, "st-1", &b, now() + 1000, |_, v| Some(v)),
            &b,
        ),
        Json(401, "stale_timestamp"),
    );
    add(
        "stripe: no signature",
        "stripe",
        post(
            "stripe",
            &with(Stripe, "st-1", &b, "stripe-signature", None),
            &b,
        ),
        Json(401, "missing_signature_header"),
    );
    add(
        "stripe: timestamp not a number",
        "stripe",
        post(
            "stripe",
            &with(
                Stripe,
                "st-1",
                &b,
                "stripe-signature",
                Some(&format!("t=soon,v1={}", "ab".repeat(32))),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "stripe: no v1",
        "stripe",
        post(
            "stripe",
            &with(
                Stripe,
                "st-1",
                &b,
                "stripe-signature",
                Some(&format!("t={}", now())),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "stripe: v0 only",
        "stripe",
        post(
            "stripe",
            &with(
                Stripe,
                "st-1",
                &b,
                "stripe-signature",
                Some(&format!("t={},v0={}", now(), "ab".repeat(32))),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "stripe: wrong v1",
        "stripe",
        post(
            "stripe",
            &with(
                Stripe,
                "st-1",
                &b,
                "stripe-signature",
                Some(&format!("t={},v1={}", now(), "ab".repeat(32))),
            ),
            &b,
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "stripe: several v1, one right",
        "stripe",
        post(
            "stripe",
            &signed_at(Stripe, "st-1", &b, now(), |name, v| {
                Some(if name == "stripe-signature" {
                    format!("{v},v1={}", "cd".repeat(32))
                } else {
                    v
                })
            }),
            &b,
        ),
        Json(200, "accepted"),
    );
    add(
        "stripe: the same event again",
        "stripe",
        post("stripe", &good(Stripe, "st-1", &b), &b),
        Json(200, "duplicate"),
    );
    let b = body("sl-1");
    add(
        "slack: no timestamp header",
        "slack",
        post(
            "slack",
            &with(Slack, "sl-1", &b, "x-slack-request-timestamp", None),
            &b,
        ),
        Json(401, "missing_signature_header"),
    );
    add(
        "slack: timestamp not a number",
        "slack",
        post(
            "slack",
            &with(
                Slack,
                "sl-1",
                &b,
                "x-slack-request-timestamp",
                Some("yesterday"),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "slack: stale timestamp",
        "slack",
        post(
            "slack",
            &signed_at(Slack, "sl-1", &b, now() - 400, |_, v| Some(v)),
            &b,
        ),
        Json(401, "stale_timestamp"),
    );
    add(
        "slack: v1= instead of v0=",
        "slack",
        post(
            "slack",
            &signed_at(Slack, "sl-1", &b, now(), |name, v| {
                Some(if name == "x-slack-signature" {
                    v.replace("v0=", "v1=")
                } else {
                    v
                })
            }),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "slack: right",
        "slack",
        post("slack", &good(Slack, "sl-1", &b), &b),
        Json(200, "accepted"),
    );
    let b = body("sw-1");
    add(
        "standard-webhooks: no signature",
        "standard-webhooks",
        post(
            "standard-webhooks",
            &with(StandardWebhooks, "sw-1", &b, "webhook-signature", None),
            &b,
        ),
        Json(401, "missing_signature_header"),
    );
    add(
        "standard-webhooks: not base64",
        "standard-webhooks",
        post(
            "standard-webhooks",
            &with(
                StandardWebhooks,
                "sw-1",
                &b,
                "webhook-signature",
                Some("v1,not base64!"),
            ),
            &b,
        ),
        Json(401, "malformed_signature_header"),
    );
    add(
        "standard-webhooks: stale",
        "standard-webhooks",
        post(
            "standard-webhooks",
            &signed_at(StandardWebhooks, "sw-1", &b, now() - 1000, |_, v| Some(v)),
            &b,
        ),
        Json(401, "stale_timestamp"),
    );
    add(
        "standard-webhooks: wrong",
        "standard-webhooks",
        post(
            "standard-webhooks",
            &with(
                StandardWebhooks,
                "sw-1",
                &b,
                "webhook-signature",
                Some("v1,q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="),
            ),
            &b,
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "standard-webhooks: right",
        "standard-webhooks",
        post("standard-webhooks", &good(StandardWebhooks, "sw-1", &b), &b),
        Json(200, "accepted"),
    );

    // Bodies that lie about their size.
    let big = vec![b'x'; 5000];
    add(
        "body over the limit by Content-Length",
        "github",
        post("github", &good(Github, "gh-6", &big), &big),
        Json(413, "body_too_large"),
    );
    let chunked = |body: &[u8], headers: &[(String, String)]| {
        let mut head =
            "POST /webhooks/github HTTP/1.1\r\nhost: hookgate\r\ntransfer-encoding: chunked\r\n"
                .to_owned();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        for chunk in body.chunks(1000) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    };
    add(
        "chunked body over the limit",
        "github",
        chunked(&big, &good(Github, "gh-7", &big)),
        Json(413, "body_too_large"),
    );
    let b = body("gh-8");
    add(
        "chunked body, signed",
        "github",
        chunked(&b, &good(Github, "gh-8", &b)),
        Json(200, "accepted"),
    );
    let b = body("gh-9");
    add(
        "Content-Length longer than the body sent",
        "github",
        {
            let mut bytes = post("github", &good(Github, "gh-9", &b), &b);
            bytes.truncate(bytes.len() - 10);
            bytes
        },
        Json(408, "body_timeout"),
    );
    add(
        "Content-Length not a number",
        "github",
        b"POST /webhooks/github HTTP/1.1\r\nhost: h\r\ncontent-length: ten\r\n\r\n".to_vec(),
        Http(400),
    );
    // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3): an empty
    // chunked body, unsigned.
    add("Content-Length and chunked at once", "github", b"POST /webhooks/github HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), Json(401, "missing_signature_header"));
    add("broken chunk size", "github", b"POST /webhooks/github HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), Json(400, "body_unreadable"));

    // Headers.
    let flood: Vec<(String, String)> = (0..150)
        .map(|n| (format!("x-flood-{n}"), "1".to_owned()))
        .collect();
    add(
        "150 headers",
        "github",
        post("github", &flood, b"{}"),
        Http(431),
    );
    add(
        "one header of 512 KiB",
        "github",
        post(
            "github",
            &[("x-huge".into(), "a".repeat(512 * 1024))],
            b"{}",
        ),
        Http(431),
    );
    add(
        "header name with a space",
        "github",
        b"POST /webhooks/github HTTP/1.1\r\nhost: h\r\nbad name: 1\r\ncontent-length: 0\r\n\r\n"
            .to_vec(),
        Http(400),
    );
    add(
        "request line that is not HTTP",
        "_unrouted",
        b"HELLO THERE\r\n\r\n".to_vec(),
        Http(400),
    );

    // Methods and paths.
    add(
        "GET a webhook path",
        "github",
        request("GET", "/webhooks/github", &[], b""),
        Json(405, "method_not_allowed"),
    );
    add(
        "PUT a webhook path",
        "github",
        request("PUT", "/webhooks/github", &[], b"{}"),
        Json(405, "method_not_allowed"),
    );
    add(
        "unknown path",
        "_unrouted",
        post("nowhere", &[], b"{}"),
        Json(404, "unknown_path"),
    );
    add(
        "trailing slash",
        "_unrouted",
        request("POST", "/webhooks/github/", &[], b"{}"),
        Json(404, "unknown_path"),
    );
    add(
        "path of 8 KiB",
        "_unrouted",
        request("POST", &format!("/{}", "p".repeat(8192)), &[], b"{}"),
        Json(404, "unknown_path"),
    );

    // Replays and forgeries.
    let b = body("gh-10");
    add(
        "github: first delivery",
        "github",
        post("github", &good(Github, "gh-10", &b), &b),
        Json(200, "accepted"),
    );
    add(
        "github: redelivery",
        "github",
        post("github", &good(Github, "gh-10", &b), &b),
        Json(200, "duplicate"),
    );
    add(
        "github: the same body under a new id",
        "github",
        post(
            "github",
            &with(
                Github,
                "gh-10",
                &b,
                "x-github-delivery",
                Some("gh-10-forged"),
            ),
            &b,
        ),
        Json(200, "duplicate"),
    );
    let signed = delivery(Mailgun, "mg-1", &body("mg-1"));
    add(
        "mailgun: first delivery",
        "mailgun",
        post("mailgun", &signed.headers, &signed.body),
        Json(200, "accepted"),
    );
    let forged = String::from_utf8(signed.body.clone())
        .expect("utf-8")
        .replace("mg-1", "mg-forged")
        .into_bytes();
    add(
        "mailgun: its signature block with new event-data",
        "mailgun",
        post("mailgun", &signed.headers, &forged),
        Json(200, "duplicate"),
    );
    let stale = verify::sign(
        Mailgun,
        secret_for(Mailgun).as_bytes(),
        &body("mg-2"),
        "mg-2",
        now() - 1000,
        SCHEME_OPTIONS,
    )
    .expect("signs");
    add(
        "mailgun: stale signature block",
        "mailgun",
        post(
            "mailgun",
            &[("content-type".into(), "application/json".into())],
            &stale.body,
        ),
        Json(401, "stale_timestamp"),
    );
    let flood = "a=&".repeat(1300).into_bytes();
    add(
        "twilio: 1,300 form parameters",
        "twilio",
        post(
            "twilio",
            &[
                (
                    "x-twilio-signature".into(),
                    "CQuVarSguTpbAcwVWMPQP2Oa6cM=".into(),
                ),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            &flood,
        ),
        Json(401, "signature_mismatch"),
    );
    add(
        "twilio: no signature",
        "twilio",
        post("twilio", &[], b"a=1"),
        Json(401, "missing_signature_header"),
    );
    // Twilio's form signature covers the decoded, sorted parameters and its
    // token is not signed: the guard keys on the signed string.
    let form = b"MessageSid=SM1&From=%2B15005550006&Body=Hello+world%21&To=%2B15005550001";
    let signed = good(Twilio, "tw-1", form);
    add(
        "twilio: first form post",
        "twilio",
        post("twilio", &signed, form),
        Json(200, "accepted"),
    );
    let reordered = b"To=%2B15005550001&Body=Hello%20world!&From=%2B15005550006&MessageSid=SM1";
    add(
        "twilio: its parameters reordered under a new token",
        "twilio",
        post(
            "twilio",
            &with(Twilio, "tw-1", form, TWILIO_TOKEN, Some("tw-1-forged")),
            reordered,
        ),
        Json(200, "duplicate"),
    );
    let b = body("tw-2");
    let json = verify::sign(
        Twilio,
        secret_for(Twilio).as_bytes(),
        &b,
        "tw-2",
        now(),
        SCHEME_OPTIONS,
    )
    .expect("signs");
    let query = json.query.clone().expect("bodySHA256");
    let twilio_json = format!("/webhooks/twilio?{query}");
    add(
        "twilio: first JSON post",
        "twilio",
        request("POST", &twilio_json, &json.headers, &b),
        Json(200, "accepted"),
    );
    let as_form = |headers: &[(String, String)]| -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| match name.to_ascii_lowercase().as_str() {
                "content-type" => (name.clone(), "application/x-www-form-urlencoded".into()),
                TWILIO_TOKEN => (name.clone(), "tw-2-forged".into()),
                _ => (name.clone(), value.clone()),
            })
            .collect()
    };
    let carried = format!("%3F{}", query.replace('=', "%3D")).into_bytes();
    add(
        "twilio: its signed string as a form body without the query",
        "twilio",
        post("twilio", &as_form(&json.headers), &carried),
        Json(200, "duplicate"),
    );
    add(
        "twilio: a JSON post sent as a form",
        "twilio",
        request("POST", &twilio_json, &as_form(&json.headers), &b),
        Json(401, "signature_mismatch"),
    );
    add(
        "twilio: a JSON post without bodySHA256",
        "twilio",
        post("twilio", &json.headers, &b),
        Json(401, "missing_signature_header"),
    );
    let plain: Vec<(String, String)> = json
        .headers
        .iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("content-type") {
                (name.clone(), "text/plain".into())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect();
    add(
        "twilio: a Content-Type that names no mode",
        "twilio",
        request("POST", &twilio_json, &plain, &b),
        Json(401, "malformed_signature_header"),
    );

    // Linear signs neither Linear-Delivery nor Linear-Event.
    let b = body("li-1");
    add(
        "linear: first delivery",
        "linear",
        post("linear", &good(Linear, "li-1", &b), &b),
        Json(200, "accepted"),
    );
    add(
        "linear: the same body under a new Linear-Delivery",
        "linear",
        post(
            "linear",
            &with(Linear, "li-1", &b, "linear-delivery", Some("li-1-forged")),
            &b,
        ),
        Json(200, "duplicate"),
    );

    // Plaid's id is the digest of the token's signed part, not of the token.
    let b = body("pl-1");
    let plaid = good(Plaid, "pl-1", &b);
    add(
        "plaid: first delivery",
        "plaid",
        post("plaid", &plaid, &b),
        Json(200, "accepted"),
    );
    let twin: Vec<(String, String)> = plaid
        .iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("plaid-verification") {
                (name.clone(), high_s_twin(value))
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect();
    add(
        "plaid: its token's high-S twin",
        "plaid",
        post("plaid", &twin, &b),
        Json(200, "duplicate"),
    );

    // HubSpot signs the configured URL, its query included: the request's
    // query is compared, never signed, so its end cannot move into the body.
    let b = br#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":7}]"#;
    let hubspot_options = verify::SchemeOptions {
        public_url: Some(HUBSPOT_URL),
        ..SCHEME_OPTIONS
    };
    let hubspot = verify::sign(
        HubSpot,
        secret_for(HubSpot).as_bytes(),
        b,
        "hs-1",
        now(),
        hubspot_options,
    )
    .expect("signs")
    .headers;
    add(
        "hubspot: signed for its configured query",
        "hubspot",
        request("POST", "/webhooks/hubspot?portal=1", &hubspot, b),
        Json(200, "accepted"),
    );
    add(
        "hubspot: the query's end moved into the body",
        "hubspot",
        request("POST", "/webhooks/hubspot?portal=1[", &hubspot, &b[1..]),
        Json(401, "signature_mismatch"),
    );
    add(
        "hubspot: without its configured query",
        "hubspot",
        post("hubspot", &hubspot, b),
        Json(401, "signature_mismatch"),
    );

    // Pipelining: answers come back in order.
    let (b1, b2) = (body("gh-11"), body("gh-12"));
    let mut two = post("github", &good(Github, "gh-11", &b1), &b1);
    two.extend(post(
        "github",
        &with(
            Github,
            "gh-12",
            &b2,
            gh_sig,
            Some(&format!("sha256={}", "ab".repeat(32))),
        ),
        &b2,
    ));
    cases.push(Case {
        name: "pipelined: good then forged",
        source: "github",
        bytes: two,
        expect: vec![Json(200, "accepted"), Json(401, "signature_mismatch")],
    });
    let (b1, b2) = (body("gh-13"), body("gh-14"));
    let mut two = post("github", &good(Github, "gh-13", &b1), &b1);
    two.extend(post("github", &good(Github, "gh-14", &b2), &b2));
    cases.push(Case {
        name: "pipelined: two good",
        source: "github",
        bytes: two,
        expect: vec![Json(200, "accepted"), Json(200, "accepted")],
    });

    // Connections that say nothing, or not enough.
    cases.push(case(
        "a connection that sends nothing",
        "_unrouted",
        Vec::new(),
        Closed,
    ));
    cases.push(case(
        "half a request line",
        "_unrouted",
        b"POST /webhooks/gith".to_vec(),
        Closed,
    ));
    cases.push(case(
        "part of the HTTP/2 preface",
        "_unrouted",
        b"PRI * HTTP/2.0\r\n".to_vec(),
        Closed,
    ));
    cases.push(case(
        "headers that never end",
        "_unrouted",
        b"POST /webhooks/github HTTP/1.1\r\nhost: h\r\n".to_vec(),
        Closed,
    ));
    cases
}

/// A bed and the `[[sources]]` of `kinds`, each on a topic of its own,
/// their secrets in the bed's folder.
async fn bed_and_sources(kinds: &[VerifierKind]) -> (Testbed, String) {
    let bed = Testbed::own_tansu("hostile").await;
    let mut sources = String::new();
    for &kind in kinds {
        let events = topic(kind.name());
        bed.create_topic(&events).await;
        sources += &source(bed.dir(), kind.name(), kind, &events);
    }
    (bed, sources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_a_clear_answer_and_is_counted() {
    let kinds = [
        VerifierKind::Github,
        VerifierKind::Stripe,
        VerifierKind::Slack,
        VerifierKind::StandardWebhooks,
        VerifierKind::Mailgun,
        VerifierKind::Twilio,
        VerifierKind::Linear,
        VerifierKind::Plaid,
        VerifierKind::HubSpot,
    ];
    let (bed, sources) = bed_and_sources(&kinds).await;
    // HubSpot was given a URL with a query: it belongs in public_url.
    let hubspot_source = "name = \"hubspot\"";
    let (before, after) = sources
        .split_once(hubspot_source)
        .expect("the hubspot source");
    let sources = format!(
        "{before}{hubspot_source}{}",
        after.replacen(
            &format!("public_url = \"{PUBLIC_URL}\""),
            &format!("public_url = \"{HUBSPOT_URL}\""),
            1
        )
    );
    let server = "max_body_bytes = 4096\nbody_timeout = \"1s\"\nheader_timeout = \"1s\"";
    let gateway = bed
        .gateway()
        .server(server)
        .sources(&sources)
        .start_process()
        .await;

    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut before = Vec::new();
        for expect in &case.expect {
            let series = counter(case.source, *expect);
            before.push((series.clone(), gateway.metric(&series).await));
        }
        let answers = exchange(gateway.addr, &case.bytes, case.expect.len()).await;
        let got: Vec<Expect> = answers
            .iter()
            .zip(&case.expect)
            .map(|((status, word), expect)| match (status, expect) {
                (0, _) => Expect::Closed,
                (status, Expect::Json(..)) => Expect::Json(*status, leak(word)),
                (status, _) if word.is_empty() => Expect::Http(*status),
                (status, _) => Expect::Json(*status, leak(word)),
            })
            .collect();
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expect, got
            ));
            continue;
        }
        // A connection hyper ends is counted as it ends, just after the
        // client read its answer: allow that moment.
        for (series, was) in before {
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut now = gateway.metric(&series).await;
            while now < was + 1.0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
                now = gateway.metric(&series).await;
            }
            if now < was + 1.0 {
                failures.push(format!("{}: {series} stayed at {now}", case.name));
            }
        }
    }
    let log = gateway.stop();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\nlog:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
}

/// A word of an answer as the `'static` the table holds.
fn leak(word: &str) -> &'static str {
    Box::leak(word.to_owned().into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_a_metric_or_an_answer() {
    let kinds = [
        VerifierKind::Github,
        VerifierKind::Stripe,
        VerifierKind::Mailgun,
    ];
    let (bed, sources) = bed_and_sources(&kinds).await;
    let gateway = bed
        .gateway()
        .log_format("json")
        .sources(&sources)
        .start_process()
        .await;
    let secret = secret_for(VerifierKind::Github);
    let mut answers = String::new();
    for kind in kinds {
        let path = format!("/webhooks/{}", kind.name());
        let b = body_with_id(&format!("leak-{}", kind.name()));
        let right = delivery(kind, &format!("leak-{}", kind.name()), &b);
        let stale = verify::sign(
            kind,
            secret.as_bytes(),
            &b,
            "leak-stale",
            now() - 5000,
            SCHEME_OPTIONS,
        )
        .expect("signs");
        let mut tampered = right.body.clone();
        tampered.push(b' ');
        for bytes in [
            closing("POST", &path, &right.headers, &right.body),
            closing("POST", &path, &right.headers, &right.body),
            closing("POST", &path, &right.headers, &tampered),
            closing("POST", &path, &stale.headers, &stale.body),
            closing("POST", &path, &[], &b),
            closing("GET", &path, &[], b""),
        ] {
            let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
            stream.write_all(&bytes).await.expect("write");
            let mut answer = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
            answers.push_str(&String::from_utf8_lossy(&answer));
        }
    }
    let metrics = try_get(&client(), &gateway.metrics_url("/metrics"))
        .await
        .expect("metrics")
        .1;
    let log = gateway.stop();
    assert!(answers.contains("signature_mismatch") && log.contains("signature_mismatch"));
    for (what, text) in [("answers", &answers), ("metrics", &metrics), ("log", &log)] {
        assert!(
            !text.contains(secret),
            "the secret is in the {what}:\n{text}"
        );
    }
}

/// A request that asks hookgate to close the connection after answering.
fn closing(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut headers = headers.to_vec();
    headers.push(("connection".into(), "close".into()));
    request(method, path, &headers, body)
}
