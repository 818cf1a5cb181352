//! Deliveries signed the way each provider signs them, with the example
//! secrets every test source verifies with.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate::verify::{self, VerifierKind};

/// The URL every test source tells its provider (schemes that sign it).
pub const PUBLIC_URL: &str = "https://hooks.example.com/webhooks";

/// What test deliveries are signed with besides the secret.
pub const SCHEME_OPTIONS: verify::SchemeOptions<'static> = verify::SchemeOptions {
    hmac: None,
    public_url: Some(PUBLIC_URL),
    token: None,
    verify_token: None,
    certificates: None,
    confirm_subscriptions: false,
};

/// Seconds since the epoch, as signatures carry them.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// What deliveries of `kind` are signed with.
pub fn secret_for(kind: VerifierKind) -> &'static str {
    std::str::from_utf8(verify::example_secret(kind)).expect("example secrets are text")
}

/// A `[[sources]]` entry at `/webhooks/NAME` publishing to `topic`, whose
/// secret (the one that verifies [`secret_for`] `kind`) lives in a file
/// under `dir`.
pub fn source(dir: &Path, name: &str, kind: VerifierKind, topic: &str) -> String {
    let file = dir.join(format!("{name}.secret"));
    let key = verify::verification_key(kind, secret_for(kind).as_bytes()).expect("key");
    std::fs::write(&file, key).expect("secret file");
    // The schemes that sign with a certificate verify the example signer's.
    let certificates = if signs_with_a_certificate(kind) {
        format!(
            "certificates = {{ pinned = [\"{}\"] }}\n",
            example_certificate().display()
        )
    } else {
        String::new()
    };
    format!(
        "[[sources]]\nname = \"{name}\"\npath = \"/webhooks/{name}\"\nverifier = \"{}\"\nsecrets = [\"file:{}\"]\ntopic = \"{topic}\"\npublic_url = \"{PUBLIC_URL}\"\n{certificates}",
        kind.name(),
        file.display()
    )
}

/// Whether `kind` names a signing certificate by URL (SNS, PayPal).
pub fn signs_with_a_certificate(kind: VerifierKind) -> bool {
    matches!(kind, VerifierKind::Sns | VerifierKind::PayPal)
}

/// The example signer's certificate, written once to a file to pin.
pub fn example_certificate() -> std::path::PathBuf {
    static WRITTEN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            let path = std::env::temp_dir().join(format!(
                "hookgate-example-signer-{}.pem",
                std::process::id()
            ));
            std::fs::write(&path, verify::example_signer::CERTIFICATE).expect("certificate file");
            path
        })
        .clone()
}

/// A JSON body carrying `id` where every scheme's default looks for it, with
/// spacing and non-ASCII text a re-serialiser would change.
pub fn body_with_id(id: &str) -> Vec<u8> {
    format!("{{ \"id\" : \"{id}\",\n  \"event_id\":\"{id}\", \"messageId\":\"{id}\", \"eventId\":\"{id}\", \"hash\":\"{id}\", \"action\": {{ \"id\": \"{id}\" }}, \"data\": {{ \"id\": \"{id}\" }}, \"meta\": {{ \"id\": \"{id}\" }}, \"event\": {{ \"id\": \"{id}\", \"triggerUuid\": \"{id}\" }}, \"text\": \"h\\u00e9llo  wörld\" , \"n\": 1.50, \"webhookTimestamp\": {} }}\n", now() * 1000).into_bytes()
}

/// A GitHub delivery of a fresh event `id`, signed with `secret` (not the
/// example one): its headers and body.
pub fn github_signed_with(secret: &[u8], id: &str) -> (Vec<(String, String)>, Vec<u8>) {
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
pub fn delivery(kind: VerifierKind, id: &str, payload: &[u8]) -> verify::SignedDelivery {
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

/// What hookgate publishes of `delivery` (signed for `kind` with its
/// example secret): its body, or each event of a batch the scheme splits
/// (Mandrill's, GoCardless's, Adyen's, …) as the exact bytes it had.
pub fn published_events(kind: VerifierKind, delivery: &verify::SignedDelivery) -> Vec<Vec<u8>> {
    use hookgate::config::secret::Secret;
    let key = verify::verification_key(kind, secret_for(kind).as_bytes()).expect("key");
    let certificates = verify::CertificateOptions {
        pinned: vec![example_certificate()],
        ..verify::CertificateOptions::default()
    };
    let options = verify::SchemeOptions {
        certificates: Some(&certificates),
        ..SCHEME_OPTIONS
    };
    let verifier = verify::Verifier::build(
        kind,
        &[Secret::new(key)],
        verify::DEFAULT_TOLERANCE,
        options,
    )
    .expect("builds");
    let headers = header_map(&delivery.headers);
    let body = bytes::Bytes::from(delivery.body.clone());
    let verified = verifier
        .verify_with_query(&headers, delivery.query.as_deref(), body, now())
        .expect("the delivery verifies");
    match verifier.split(&verified) {
        Some(events) => events
            .expect("a readable batch")
            .iter()
            .map(|event| event.body().to_vec())
            .collect(),
        None => vec![verified.body().to_vec()],
    }
}

/// `headers` as a request carries them.
pub fn header_map(headers: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

/// A JSON `Content-Type` for the schemes whose signing sets none; one the
/// scheme set (Twilio's names its mode) is kept, never sent twice.
pub fn add_content_type(headers: &mut Vec<(String, String)>) {
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
}

/// The headers that sign `body` as it is, for schemes that sign in headers.
pub fn signed(kind: VerifierKind, id: &str, body: &[u8]) -> Vec<(String, String)> {
    let delivery = delivery(kind, id, body);
    assert_eq!(
        delivery.body, body,
        "{kind:?} signs inside the body: use delivery()"
    );
    delivery.headers
}
