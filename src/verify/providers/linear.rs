//! Linear: `Linear-Signature: <hex>`, HMAC-SHA256 of the body. The timestamp
//! is inside the signed body (`webhookTimestamp`, milliseconds); Linear asks
//! receivers to refuse deliveries more than 60 seconds old.
//!
//! The `Linear-Delivery` and `Linear-Event` headers are not signed. So the
//! replay guard is on (a captured delivery sent again within its minute under
//! a new `Linear-Delivery` is still a duplicate), and the event type is the
//! signed body's `type` (`Issue`, `Comment`, …, the same word `Linear-Event`
//! carries), so that a changed header cannot route a delivery elsewhere.
//! Source: https://linear.app/developers/webhooks

use std::time::Duration;

use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{Defaults, Provider, SchemeHeader, Signed, VerifyError, verdict};

const SIGNATURE: &str = "Linear-Signature";
const TIMESTAMP: &str = "webhookTimestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:Linear-Delivery",
    event_type: Some("json:/type"),
    // Consumers that read it still get it; routing does not trust it.
    forward_headers: &["Linear-Event"],
    timestamped: true,
    replay_guard: true,
    tolerance: Some(Duration::from_secs(60)),
    // The issue, comment or project the event is about (`data.id`).
    partition_key: Some("json:/data/id"),
};

#[derive(Deserialize)]
struct Stamp {
    #[serde(rename = "webhookTimestamp")]
    millis: i64,
}

#[derive(Debug)]
pub(super) struct Linear {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
}

impl Linear {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
        }
    }
}

impl crate::verify::Scheme for Linear {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature = Signature::decode(self.signature.required(request.headers)?, Encoding::Hex)
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        verdict(self.keys.verify_one(&[request.body], signature))?;
        // Only an authentic body is parsed, for its timestamp.
        let stamp: Stamp = serde_json::from_slice(request.body)
            .map_err(|_| VerifyError::MalformedField(TIMESTAMP))?;
        if (stamp.millis / 1000).abs_diff(request.now) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        Ok(())
    }
}

/// Linear signs the body only; a body to send must carry a fresh
/// `webhookTimestamp` of its own.
pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str) -> Vec<(String, String)> {
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![
        (SIGNATURE.into(), hex::encode(mac)),
        ("Linear-Delivery".into(), event_id.into()),
        ("Linear-Event".into(), "Issue".into()),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Linear::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id)),
)
.with_sample(|id, now| {
    serde_json::json!({ "action": "create", "type": "Issue", "data": { "id": id }, "webhookTimestamp": now * 1000 })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"action":"create","type":"Issue","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9"},"webhookTimestamp":1700000000123}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac lin_wh_secret`
    const SIG: &str = "6f8adcba1ce4a4b4bb6cf90609bc2f807136c74d574422a8106399551c256124";

    fn check(signature: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &Linear::new(&[Secret::new(b"lin_wh_secret".as_slice())], 60),
            &[(SIGNATURE, signature)],
            body,
            now,
        )
    }

    #[test]
    fn the_event_type_is_the_signed_bodys_not_the_headers() {
        let event_type =
            crate::pipeline::locate::Locator::parse(DEFAULTS.event_type.expect("a type"))
                .expect("parses")
                .extract(
                    &crate::verify::test_support::headers(&[("Linear-Event", "Project")]),
                    BODY,
                )
                .expect("a type");
        assert_eq!(event_type.as_str(), "Issue");
    }

    #[test]
    fn accepts_the_vector_within_a_minute() {
        assert_eq!(check(SIG, BODY, 1_700_000_060), Ok(()));
    }

    #[test]
    fn rejects_old_tampered_and_unstamped_deliveries() {
        assert_eq!(
            check(SIG, BODY, 1_700_000_061),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(SIG, b"{}", 1_700_000_000), Err(VerifyError::Mismatch));
        assert_eq!(
            check("sha256=abcd", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let unstamped = br#"{"action":"create"}"#;
        let mac = hex::encode(crate::verify::mac::sign(
            Algorithm::Sha256,
            b"lin_wh_secret",
            &[unstamped],
        ));
        assert_eq!(
            check(&mac, unstamped, 1_700_000_000),
            Err(VerifyError::MalformedField(TIMESTAMP))
        );
    }
}
