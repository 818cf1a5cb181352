//! Airwallex: `x-signature: <hex>`, HMAC-SHA256 keyed by the webhook's
//! secret over the `x-timestamp` header (Unix milliseconds) followed directly
//! by the raw body, nothing between them. Airwallex documents no tolerance,
//! so the default applies, in both directions. The id is the body's `id`,
//! stable across Airwallex's retries and signed; the type is its `name`
//! (`payment_intent.succeeded`).
//!
//! Source: https://www.airwallex.com/docs/developer-tools/webhooks/listen-for-webhook-events

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp_millis, verdict,
};

const SIGNATURE: &str = "x-signature";
const TIMESTAMP: &str = "x-timestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/name"),
    forward_headers: &[],
    timestamped: true,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The object the event is about (a payment intent, a transfer): under
    // `data.object` in current API versions, `data` itself in older ones.
    partition_key: Some("json:/data/object/id | json:/data/id"),
};

#[derive(Debug)]
pub(super) struct Airwallex {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl Airwallex {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        }
    }
}

impl crate::verify::Scheme for Airwallex {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature = Signature::decode(self.signature.required(request.headers)?, Encoding::Hex)
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let timestamp = self.timestamp.required(request.headers)?;
        // Digits only and within the tolerance: nothing separates the
        // timestamp from the body, and a digit moved from one to the other
        // changes the time tenfold.
        check_timestamp_millis(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        verdict(self.keys.verify_one(&[timestamp, request.body], signature))
    }
}

/// The two headers of a delivery signed at `now` (seconds).
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    let millis = now.saturating_mul(1000).to_string();
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[millis.as_bytes(), body]);
    vec![
        (TIMESTAMP.into(), millis),
        (SIGNATURE.into(), hex::encode(mac)),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Airwallex::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "id": id,
        "name": "payment_intent.succeeded",
        "account_id": "acct_Mh6pq0VbQ2yGkwT8cN1zYg",
        "data": {
            "object": {
                "id": "int_hkdm8n2q4g7v3kx1",
                "amount": 100.0,
                "currency": "USD",
                "status": "SUCCEEDED"
            }
        },
        "created_at": "2023-11-14T22:13:20+0000",
        "version": "2024-09-27"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"awx-webhook-secret";
    const TS: &str = "1700000000123";
    const BODY: &[u8] = br#"{"id":"evt_awx_9c2f4e1a7b3d","name":"payment_intent.succeeded","account_id":"acct_Mh6pq0VbQ2yGkwT8cN1zYg","data":{"object":{"id":"int_hkdm8n2q4g7v3kx1","amount":100.0,"currency":"USD","status":"SUCCEEDED"}},"created_at":"2023-11-14T22:13:20+0000","version":"2024-09-27"}"#;
    /// `printf '%s%s' 1700000000123 "$BODY" | openssl dgst -sha256 -hmac awx-webhook-secret`
    const SIG: &str = "744f4370e0455f6ea0aa9184c5055781508529aee143c4871fe84c8513320113";
    /// 1700000000.123 s, as Airwallex's millisecond timestamp says.
    const NOW: i64 = 1_700_000_000;

    fn check(
        secrets: &[&[u8]],
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&Airwallex::new(&secrets, 300), pairs, body, now)
    }

    fn signed(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        check(
            &[SECRET],
            &[(SIGNATURE, signature), (TIMESTAMP, timestamp)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_vector_within_the_tolerance_and_what_sign_produces() {
        assert_eq!(signed(SIG, TS, BODY, NOW), Ok(()));
        assert_eq!(signed(SIG, TS, BODY, NOW + 300), Ok(()));
        assert_eq!(signed(SIG, TS, BODY, NOW - 299), Ok(()));
        let headers = sign(SECRET, BODY, NOW);
        assert_eq!(
            headers[0],
            (TIMESTAMP.to_owned(), "1700000000000".to_owned())
        );
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(check(&[SECRET], &pairs, BODY, NOW), Ok(()));
    }

    #[test]
    fn rejects_stale_tampered_and_foreign_deliveries() {
        assert_eq!(
            signed(SIG, TS, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            signed(SIG, TS, BODY, NOW - 301),
            Err(VerifyError::StaleTimestamp)
        );
        // Another timestamp, the body changed, another secret.
        assert_eq!(
            signed(SIG, "1700000000124", BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        let changed = String::from_utf8_lossy(BODY).replace("SUCCEEDED", "CANCELLED");
        assert_eq!(
            signed(SIG, TS, changed.as_bytes(), NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &[b"another-secret"],
                &[(SIGNATURE, SIG), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_digit_moved_between_timestamp_and_body_is_stale() {
        // Signs the same bytes, but the time is a tenth of what was signed.
        let body = [b"3".as_slice(), BODY].concat();
        assert_eq!(
            signed(SIG, &TS[..TS.len() - 1], &body, NOW),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"awx-new-secret", SECRET],
                &[(SIGNATURE, SIG), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        assert_eq!(
            check(&[SECRET], &[(TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
        for bad in ["", "zz", &SIG[1..], "sha256=744f"] {
            assert_eq!(
                signed(bad, TS, BODY, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
        for bad in ["", "soon", "1700000000.123", "-1700000000123"] {
            assert_eq!(
                signed(SIG, bad, BODY, NOW),
                Err(VerifyError::MalformedHeader(TIMESTAMP)),
                "{bad:?}"
            );
        }
        // Seconds where milliseconds are expected: 1970, far outside.
        assert_eq!(
            signed(SIG, "1700000000", BODY, NOW),
            Err(VerifyError::StaleTimestamp)
        );
    }
}
