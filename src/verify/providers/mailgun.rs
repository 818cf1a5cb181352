//! Mailgun: the signature travels in the JSON body, not a header:
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}`, with
//! `signature` the hex HMAC-SHA256 of `{timestamp}{token}` keyed by the
//! webhook signing key. Mailgun signs only those two values, not the rest of
//! the body. So a captured delivery's signature block can be sent again for as
//! long as the timestamp is within tolerance, with any `event-data` (a new id,
//! a new event) beside it. The token is the signed part that is new in every
//! delivery (Mailgun re-signs each retry): hookgate's replay guard keeps it
//! for the dedup window, and a second delivery with an accepted token is a
//! duplicate whatever its `event-data` says.

use std::ops::Range;

use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    Defaults, Provider, ReplayMaterial, Signed, SignedDelivery, VerifyError, check_timestamp,
    verdict,
};

const FIELD: &str = "signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event-data/id",
    event_type: Some("json:/event-data/event"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    signature: Block<'a>,
}

#[derive(Deserialize)]
struct Block<'a> {
    timestamp: &'a str,
    token: &'a str,
    signature: &'a str,
}

#[derive(Debug)]
pub(super) struct Mailgun {
    keys: Keys,
    tolerance: u64,
}

impl Mailgun {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
        }
    }

    /// Verifies the signature block; returns where the signed token is in
    /// the body, for the replay guard.
    fn verify_token(&self, request: Signed<'_>) -> Result<Range<usize>, VerifyError> {
        let envelope: Envelope<'_> =
            serde_json::from_slice(request.body).map_err(|_| VerifyError::MalformedField(FIELD))?;
        let block = envelope.signature;
        let signature = Signature::decode(block.signature.as_bytes(), Encoding::Hex)
            .ok_or(VerifyError::MalformedField(FIELD))?;
        check_timestamp(
            block.timestamp.as_bytes(),
            request.now,
            self.tolerance,
            FIELD,
        )?;
        verdict(self.keys.verify_one(
            &[block.timestamp.as_bytes(), block.token.as_bytes()],
            signature,
        ))?;
        // The token is borrowed from the body: its place is its offset there.
        let start = (block.token.as_ptr() as usize).saturating_sub(request.body.as_ptr() as usize);
        Ok(start..start + block.token.len())
    }
}

/// Mailgun's signature block is part of the body: this returns the body to
/// send, wrapping `event_data` with a signature block for `now`.
pub(super) fn sign_body(secret: &[u8], event_data: &[u8], event_id: &str, now: i64) -> Vec<u8> {
    let timestamp = now.to_string();
    let token = hex::encode(
        &crate::verify::mac::sign(
            Algorithm::Sha256,
            b"token",
            &[event_id.as_bytes(), timestamp.as_bytes()],
        )[..25],
    );
    let mac = crate::verify::mac::sign(
        Algorithm::Sha256,
        secret,
        &[timestamp.as_bytes(), token.as_bytes()],
    );
    let mut body = format!(
        r#"{{"signature":{{"timestamp":"{timestamp}","token":"{token}","signature":"{}"}},"event-data":"#,
        hex::encode(mac)
    )
    .into_bytes();
    body.extend_from_slice(event_data);
    body.push(b'}');
    body
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Mailgun::new(input.secrets, input.tolerance))),
    // Mailgun signs inside the body: the payload becomes its `event-data`.
    |input| {
        Ok(SignedDelivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: sign_body(input.secret, input.payload, input.event_id, input.now),
            query: None,
        })
    },
)
.with_sample(|id, _now| serde_json::json!({ "id": id, "event": "delivered" }))
// It signs its timestamp and token, not the event.
.without_body_signature();

impl crate::verify::Scheme for Mailgun {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.verify_token(request).map(drop)
    }

    /// The token's place in the body: what the replay guard remembers.
    fn verify_replay(&self, request: Signed<'_>) -> Result<ReplayMaterial, VerifyError> {
        self.verify_token(request).map(ReplayMaterial::Within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    const TOKEN: &str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0";
    /// `printf '%s' "1700000000$TOKEN" | openssl dgst -sha256 -hmac key-mailgun-signing`
    const SIG: &str = "bc1d4695b271aaa416998b45ddede459c204863b78219cf9fc0d64a057a67253";

    fn body(timestamp: &str, signature: &str) -> Vec<u8> {
        format!(
            r#"{{"signature":{{"timestamp":"{timestamp}","token":"{TOKEN}","signature":"{signature}"}},"event-data":{{"id":"CPgfbmQMTCKtHW6uIWtuVe","event":"delivered"}}}}"#
        )
        .into_bytes()
    }

    fn check(body: &[u8], now: i64) -> Result<Range<usize>, VerifyError> {
        Mailgun::new(&[Secret::new(b"key-mailgun-signing".as_slice())], 300).verify_token(Signed {
            headers: &headers(&[]),
            body,
            now,
            query: None,
        })
    }

    #[test]
    fn accepts_the_vector() {
        let body = body("1700000000", SIG);
        let token = check(&body, 1_700_000_100).expect("verifies");
        assert_eq!(&body[token], TOKEN.as_bytes());
    }

    #[test]
    fn rejects_replays_forgeries_and_unsigned_bodies() {
        assert_eq!(
            check(&body("1700000000", SIG), 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&body("1700000001", SIG), 1_700_000_001),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&body("1700000000", "zz"), 1_700_000_000),
            Err(VerifyError::MalformedField(FIELD))
        );
        assert_eq!(
            check(br#"{"event-data":{}}"#, 1_700_000_000),
            Err(VerifyError::MalformedField(FIELD))
        );
    }

    #[test]
    fn a_signed_body_verifies() {
        let body = sign_body(
            b"key-mailgun-signing",
            br#"{"id":"e1"}"#,
            "e1",
            1_700_000_000,
        );
        assert!(check(&body, 1_700_000_000).is_ok());
    }
}
