//! Customer.io (reporting webhooks): `X-CIO-Signature: <hex>` (no prefix)
//! with `X-CIO-Timestamp: <unix seconds>`, HMAC-SHA256 of
//! `v0:{timestamp}:{body}` keyed by the webhook's signing secret: Slack's
//! message, with the signature bare. Customer.io documents no tolerance, so
//! hookgate's default applies, in both directions.
//!
//! The id is the body's `event_id`, signed; the type is the kind of object
//! the event is about (`object_type`: `email`, `push`, `sms`, `customer`, …),
//! whose `metric` (`sent`, `opened`, …) stays in the event.
//!
//! Source: https://docs.customer.io/api/webhooks/ ("Securely Verifying
//! Requests"); hex, as the verifier in Customer.io's Node client
//! (`customerio-node`, `verifyRequestSignature`) reads it.

use crate::config::secret::Secret;
use crate::verify::v0::{V0, V0Headers};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-CIO-Signature";
const TIMESTAMP: &str = "X-CIO-Timestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/object_type"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The delivery (one message's sent, opened, clicked…); a person's
    // events without one, by the person.
    partition_key: Some("json:/data/delivery_id | json:/data/customer_id"),
};

/// Slack's scheme under Customer.io's names, the signature bare.
const HEADERS: V0Headers = V0Headers {
    signature: SIGNATURE,
    timestamp: TIMESTAMP,
    prefix: "",
};

pub(super) fn scheme(secrets: &[Secret], tolerance: u64) -> V0 {
    V0::new(secrets, tolerance, &HEADERS)
}

/// The two headers Customer.io sends with `body` at `now`.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    crate::verify::v0::sign(secret, body, now, &HEADERS)
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_sample(|id, now| {
    serde_json::json!({
        "data": {
            "action_id": 42,
            "campaign_id": 23,
            "customer_id": "user-123",
            "delivery_id": "RPILAgABcRhIBqSp7kiPekGBIeVh",
            "identifiers": { "id": "user-123", "email": "user@example.com" },
            "recipient": "user@example.com",
            "subject": "hello from hookgate send"
        },
        "event_id": id,
        "metric": "sent",
        "object_type": "email",
        "timestamp": now
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"cio-webhook-signing-secret";
    const BODY: &[u8] = br#"{"data":{"action_id":42,"campaign_id":23,"customer_id":"user-123","delivery_id":"RPILAgABcRhIBqSp7kiPekGBIeVh","identifiers":{"id":"user-123"},"recipient":"user@example.com","subject":"Welcome"},"event_id":"01E4C4CT6YDC7Y5M7FE1GWWPQJ","metric":"sent","object_type":"email","timestamp":1700000000}"#;
    const TS: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;
    /// `printf '%s' "v0:1700000000:$BODY" | openssl dgst -sha256 -hmac cio-webhook-signing-secret`
    const SIG: &str = "35c198007c512c3c4a55978d30821615fd8d6e3f6b50497de45a2c9b9bfb4f55";

    fn check(
        secrets: &[&[u8]],
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&scheme(&secrets, 300), pairs, body, now)
    }

    #[test]
    fn accepts_the_vector_under_any_configured_secret() {
        let pairs = [(SIGNATURE, SIG), (TIMESTAMP, TS)];
        assert_eq!(check(&[SECRET], &pairs, BODY, NOW), Ok(()));
        assert_eq!(
            check(&[b"previous-secret".as_slice(), SECRET], &pairs, BODY, NOW - 300),
            Ok(())
        );
    }

    #[test]
    fn rejects_replays_tampering_and_malformed_headers() {
        let pairs = [(SIGNATURE, SIG), (TIMESTAMP, TS)];
        assert_eq!(
            check(&[SECRET], &pairs, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&[SECRET], &pairs, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[b"another-secret".as_slice()], &pairs, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG), (TIMESTAMP, "1700000001")], BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // Customer.io's signature is bare: Slack's `v0=` prefix is not hex.
        let prefixed = format!("v0={SIG}");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, prefixed.as_str()), (TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG), (TIMESTAMP, "soon")], BODY, NOW),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
        assert_eq!(
            check(&[SECRET], &[(TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn what_it_signs_verifies() {
        assert_eq!(
            sign(SECRET, BODY, NOW),
            vec![
                (SIGNATURE.to_owned(), SIG.to_owned()),
                (TIMESTAMP.to_owned(), TS.to_owned())
            ]
        );
    }
}
