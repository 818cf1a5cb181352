//! Zoom: `x-zm-signature: v0=<hex>` with `x-zm-request-timestamp: <unix>`,
//! HMAC-SHA256 of `v0:{timestamp}:{body}` keyed by the app's secret token.
//! Zoom events carry no unique id, so the body's SHA-256 stands for one.

use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::v0::{V0, V0Headers};
use crate::verify::{Defaults, Handshake, Provider};

const SIGNATURE: &str = "x-zm-signature";
const TIMESTAMP: &str = "x-zm-request-timestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The meeting, webinar or recording (`payload.object.id`).
    partition_key: Some("json:/payload/object/id"),
};

#[derive(Deserialize)]
struct Validation {
    event: String,
    payload: ValidationPayload,
}

#[derive(Deserialize)]
struct ValidationPayload {
    #[serde(rename = "plainToken")]
    plain_token: String,
}

/// Zoom's `endpoint.url_validation`: answer the plain token with its
/// HMAC-SHA256 under the (current) secret token, in hex.
pub(super) fn handshake(scheme: &V0, body: &[u8]) -> Option<Handshake> {
    if !crate::verify::mentions(body, b"endpoint.url_validation") {
        return None;
    }
    let request: Validation = serde_json::from_slice(body).ok()?;
    if request.event != "endpoint.url_validation" {
        return None;
    }
    let token = request.payload.plain_token;
    let encrypted = hex::encode(scheme.mac_first(&[token.as_bytes()])?);
    Some(Handshake::json(
        "endpoint.url_validation",
        serde_json::json!({ "plainToken": token, "encryptedToken": encrypted }),
    ))
}

const HEADERS: V0Headers = V0Headers {
    signature: SIGNATURE,
    timestamp: TIMESTAMP,
    prefix: "v0=",
};

pub(super) fn scheme(secrets: &[Secret], tolerance: u64) -> V0 {
    V0::new(secrets, tolerance, &HEADERS)
}

pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    crate::verify::v0::sign(secret, body, now, &HEADERS)
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Zoom(scheme(input.secrets, input.tolerance)))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
);

/// Zoom's check: Slack's scheme, and its own `endpoint.url_validation`.
#[derive(Debug)]
struct Zoom(V0);

impl crate::verify::Scheme for Zoom {
    fn verify(&self, request: crate::verify::Signed<'_>) -> Result<(), crate::verify::VerifyError> {
        self.0.verify(request)
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        handshake(&self.0, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    use crate::verify::{Reply, VerifyError};

    const BODY: &[u8] =
        br#"{"event":"meeting.started","event_ts":1700000000123,"payload":{"account_id":"abc"}}"#;
    const TS: &str = "1700000000";
    /// `printf '%s' "v0:1700000000:$BODY" | openssl dgst -sha256 -hmac zoom-secret-token`
    const V0: &str = "4ab47b2cb92630a644991d3965fe4a010331e36ad729f6290da7d2207778ab5a";

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &Zoom(scheme(&[Secret::new(b"zoom-secret-token".as_slice())], 300)),
            &[(SIGNATURE, signature), (TIMESTAMP, timestamp)],
            body,
            now,
        )
    }

    #[test]
    fn answers_the_url_validation_with_the_hmac_of_the_plain_token() {
        let zoom = scheme(&[Secret::new(b"zoom-secret-token".as_slice())], 300);
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        let answer = handshake(&zoom, body).expect("a handshake");
        // `printf qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac zoom-secret-token`
        assert_eq!(
            answer.reply,
            Reply::Json(serde_json::json!({
                "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                "encryptedToken": "d9e0d764a78494688ba3f2d5c0ed4ca311394b4834d959759213424d2df961e3"
            }))
        );
        assert!(handshake(&zoom, BODY).is_none());
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(&format!("v0={V0}"), TS, BODY, 1_700_000_100), Ok(()));
    }

    #[test]
    fn rejects_replays_tampering_and_malformed_headers() {
        let v0 = format!("v0={V0}");
        assert_eq!(
            check(&v0, TS, BODY, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&v0, "1700000001", BODY, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&v0, TS, b"{}", 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(V0, TS, BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&v0, "soon", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
    }
}
