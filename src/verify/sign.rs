//! Deliveries as providers send them, for `hookgate send`, the interop
//! tests and every provider's round trip: [`sign`], the signing secrets
//! providers issue ([`example_secret`]), the key a source configures for one
//! ([`verification_key`]), and a sample event in the provider's shape.

use super::{SchemeOptions, SignInput, VerifierKind};

/// A delivery as its provider would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    pub headers: Vec<(String, String)>,
    /// The body to send: the payload itself, except for schemes that sign
    /// inside the body (Mailgun wraps the payload as its `event-data`).
    pub body: Vec<u8>,
    /// A query string to add to the URL posted to, for schemes that sign one
    /// (Twilio's `bodySHA256`).
    pub query: Option<String>,
}

/// A correctly signed delivery of `payload`, for tools and tests that send
/// deliveries. `secret` is written as it would be in the secret file.
pub fn sign(
    kind: VerifierKind,
    secret: &[u8],
    payload: &[u8],
    event_id: &str,
    now: i64,
    options: SchemeOptions<'_>,
) -> Result<SignedDelivery, String> {
    kind.provider().sign(&SignInput {
        secret,
        payload,
        event_id,
        now,
        options,
    })
}

/// A signing secret of the form `kind`'s provider issues, for examples and
/// tests; never one to deploy.
pub fn example_secret(kind: VerifierKind) -> &'static [u8] {
    kind.provider().example_secret
}

/// What a source configures to verify deliveries signed with `signing_secret`:
/// the secret itself for HMAC schemes, the public key for asymmetric ones.
pub fn verification_key(kind: VerifierKind, signing_secret: &[u8]) -> Option<Vec<u8>> {
    (kind.provider().verification_key)(signing_secret)
}

/// An event in the provider's shape carrying `id`, for `hookgate send`.
pub fn sample(kind: VerifierKind, id: &str, now: i64) -> serde_json::Value {
    match kind.provider().sample {
        Some(sample) => sample(id, now),
        None => serde_json::json!({
            "id": id,
            "event_id": id,
            "type": "hookgate.sample",
            "created": now,
            "data": { "message": "hello from hookgate send" }
        }),
    }
}
