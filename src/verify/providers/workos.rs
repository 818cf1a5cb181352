//! WorkOS: `WorkOS-Signature: t=<unix milliseconds>, v1=<hex>`, HMAC-SHA256
//! of `{t}.{body}` (the timestamp as sent, in milliseconds) keyed by the
//! endpoint's webhook secret as it is written. WorkOS's SDKs refuse
//! signatures more than 3 minutes old, and so does this by default (in both
//! directions). The id and type are the body's `id` and `event`, both signed.
//!
//! Source: https://workos.com/docs/events/data-syncing/webhooks (the
//! `WorkOS-Signature` header); the format, message and tolerance are those of
//! WorkOS's SDKs (`workos` on PyPI, `WebhookSignature.verify_header`).

use std::time::Duration;

use crate::config::secret::Secret;
use crate::verify::list::ListFormat;
use crate::verify::mac::{Algorithm, Encoding, Keys};
use crate::verify::{
    Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp_millis, verdict,
};

const SIGNATURE: &str = "WorkOS-Signature";

/// `t=…, v1=…`; each item is trimmed, so the space WorkOS writes after the
/// comma does not matter.
static FORMAT: ListFormat = ListFormat {
    header: SIGNATURE,
    separator: b',',
    timestamp: Some(b"t="),
    signature: b"v1=",
    encoding: Encoding::Hex,
    joiner: b".",
};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    // `user.created`, `dsync.user.updated`, …
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: Some(Duration::from_secs(180)),
    // The user, connection or directory object the event is about.
    partition_key: Some("json:/data/id"),
};

#[derive(Debug)]
pub(super) struct WorkOs {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
}

impl WorkOs {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
        }
    }
}

impl crate::verify::Scheme for WorkOs {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let parsed = FORMAT.parse(self.signature.required(request.headers)?)?;
        // The format requires a timestamp: parsing fails without one.
        let timestamp = parsed.timestamp.unwrap_or_default();
        check_timestamp_millis(timestamp, request.now, self.tolerance, SIGNATURE)?;
        verdict(
            self.keys
                .verify(&[timestamp, b".", request.body], &parsed.signatures),
        )
    }
}

/// The header WorkOS sends for `body` at `now` (seconds).
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    let millis = now.saturating_mul(1000).to_string();
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[millis.as_bytes(), b".", body]);
    vec![(
        SIGNATURE.into(),
        format!("t={millis}, v1={}", hex::encode(mac)),
    )]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(WorkOs::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "id": id,
        "event": "user.created",
        "data": {
            "object": "user",
            "id": "user_01E4ZCR3C56J083X43JQXF3JK5",
            "email": "marcelina.davis@example.com",
            "first_name": "Marcelina",
            "last_name": "Davis",
            "email_verified": true,
            "created_at": "2023-11-14T22:13:20.000Z",
            "updated_at": "2023-11-14T22:13:20.000Z"
        },
        "created_at": "2023-11-14T22:13:20.000Z"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The vector in the tests of WorkOS's Python SDK (`tests/test_webhooks.py`):
    /// its secret, body and header.
    const SECRET: &[u8] = b"1lyKDzhJjuCkIscIWqkSe4YsQ";
    const BODY: &[u8] = br#"{"id":"wh_01FG9JXJ9C9S052FX59JVG4EG1","data":{"id":"conn_01EHWNC0FCBHZ3BJ7EGKYXK0E6","name":"Foo Corp's Connection","state":"active","object":"connection","domains":[{"id":"conn_domain_01EHWNFTAFCF3CQAE5A9Q0P1YB","domain":"foo-corp.com","object":"connection_domain"}],"connection_type":"OktaSAML","organization_id":"org_01EHWNCE74X7JSDV0X3SZ3KJNY"},"event":"connection.activated"}"#;
    const HEADER: &str =
        "t=1632409405772, v1=67612f0e74f008b436a13b00266f90ef5c13f9cbcf6262206f5f4a539ff61702";
    /// The second in which the vector was signed.
    const NOW: i64 = 1_632_409_405;
    const V1: &str = "67612f0e74f008b436a13b00266f90ef5c13f9cbcf6262206f5f4a539ff61702";

    fn check(secrets: &[&[u8]], header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(
            &WorkOs::new(&secrets, 180),
            &[(SIGNATURE, header)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_sdk_vector_within_three_minutes() {
        assert_eq!(check(&[SECRET], HEADER, BODY, NOW), Ok(()));
        assert_eq!(check(&[SECRET], HEADER, BODY, NOW + 180), Ok(()));
        // Without the space, too.
        assert_eq!(
            check(&[SECRET], &format!("t=1632409405772,v1={V1}"), BODY, NOW),
            Ok(())
        );
        assert_eq!(
            check(&[b"previous-secret".as_slice(), SECRET], HEADER, BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn rejects_late_tampered_and_malformed_deliveries() {
        // 1632409405772 ms is 180.228 s before this.
        assert_eq!(
            check(&[SECRET], HEADER, BODY, NOW + 181),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&[SECRET], HEADER, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[b"another-secret".as_slice()], HEADER, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // The same second in other milliseconds is another message.
        assert_eq!(
            check(&[SECRET], &format!("t=1632409405771, v1={V1}"), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // Seconds where milliseconds belong are decades off.
        assert_eq!(
            check(&[SECRET], &format!("t=1632409405, v1={V1}"), BODY, NOW),
            Err(VerifyError::StaleTimestamp)
        );
        for bad in [
            format!("v1={V1}"),
            "t=1632409405772".to_owned(),
            "t=1632409405772, v1=xyz".to_owned(),
            format!("t=soon, v1={V1}"),
        ] {
            assert_eq!(
                check(&[SECRET], &bad, BODY, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad}"
            );
        }
        assert_eq!(
            run(&WorkOs::new(&[Secret::new(SECRET)], 180), &[], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn what_it_signs_verifies() {
        let signed = sign(SECRET, BODY, NOW);
        assert_eq!(signed[0].0, SIGNATURE);
        assert!(signed[0].1.starts_with("t=1632409405000, v1="), "{}", signed[0].1);
        assert_eq!(check(&[SECRET], &signed[0].1, BODY, NOW), Ok(()));
    }
}
