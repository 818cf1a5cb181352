//! Box (webhooks v2): `BOX-SIGNATURE-PRIMARY` and `BOX-SIGNATURE-SECONDARY`,
//! each `<base64>` of the HMAC-SHA256 of the body followed by the
//! `BOX-DELIVERY-TIMESTAMP` header (RFC 3339, e.g.
//! `2016-07-11T10:10:33-07:00`), keyed by the app's primary and secondary
//! signature keys. A source lists both keys as its secrets; a delivery passes
//! when either signature matches any of them, so either key can be rotated
//! while the other still verifies. Box's guide rejects deliveries older than
//! 10 minutes; hookgate checks the tolerance in both directions. The event id
//! is the body's `id`: Box's `BOX-DELIVERY-ID` header changes on every retry,
//! while the `id` in the body stays the same, and only the latter lets
//! retries be deduplicated (the header is forwarded).
//! Source: https://developer.box.com/guides/webhooks/v2/signatures-v2

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Candidates, Encoding, Keys, Signature};
use crate::verify::{Defaults, Provider, SchemeHeader, Signed, VerifyError, verdict};

const PRIMARY: &str = "BOX-SIGNATURE-PRIMARY";
const SECONDARY: &str = "BOX-SIGNATURE-SECONDARY";
const TIMESTAMP: &str = "BOX-DELIVERY-TIMESTAMP";
const DELIVERY_ID: &str = "BOX-DELIVERY-ID";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/trigger"),
    forward_headers: &[DELIVERY_ID],
    timestamped: true,
    replay_guard: false,
    tolerance: Some(Duration::from_secs(600)),
    // The file or folder (`source.id`).
    partition_key: Some("json:/source/id"),
};

#[derive(Debug)]
pub(super) struct BoxCom {
    keys: Keys,
    tolerance: u64,
    signatures: [SchemeHeader; 2],
    timestamp: SchemeHeader,
}

impl BoxCom {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signatures: [PRIMARY, SECONDARY].map(SchemeHeader::new),
            timestamp: SchemeHeader::new(TIMESTAMP),
        }
    }
}

impl crate::verify::Scheme for BoxCom {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let mut candidates = Candidates::new();
        let mut present = false;
        for header in &self.signatures {
            if !header.is_in(request.headers) {
                continue;
            }
            present = true;
            let value = header.required(request.headers)?;
            // The header of a key the app has not generated may come empty.
            if value.is_empty() {
                continue;
            }
            candidates.push(
                Signature::decode(value, Encoding::Base64)
                    .ok_or(VerifyError::MalformedHeader(header.label()))?,
            );
        }
        if !present {
            return Err(VerifyError::MissingHeader(PRIMARY));
        }
        if candidates.is_empty() {
            return Err(VerifyError::MalformedHeader(PRIMARY));
        }
        let timestamp = self.timestamp.required(request.headers)?;
        let sent = parse_rfc3339(timestamp).ok_or(VerifyError::MalformedHeader(TIMESTAMP))?;
        if request.now.abs_diff(sent) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        verdict(self.keys.verify(&[request.body, timestamp], &candidates))
    }
}

/// Seconds since the Unix epoch of an RFC 3339 date-time, with any offset.
fn parse_rfc3339(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `now` (Unix seconds) as an RFC 3339 date-time in UTC.
fn format_rfc3339(now: i64) -> String {
    OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The headers Box sends with `body` at `now`, signed with the primary key.
pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
    let timestamp = format_rfc3339(now);
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[body, timestamp.as_bytes()]);
    vec![
        (PRIMARY.into(), STANDARD.encode(mac)),
        (TIMESTAMP.into(), timestamp),
        (DELIVERY_ID.into(), event_id.into()),
        ("BOX-SIGNATURE-VERSION".into(), "1".into()),
        ("BOX-SIGNATURE-ALGORITHM".into(), "HmacSHA256".into()),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(BoxCom::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id, input.now)),
)
.with_sample(|id, now| {
    serde_json::json!({
        "type": "webhook_event",
        "id": id,
        "created_at": format_rfc3339(now),
        "trigger": "FILE.UPLOADED",
        "webhook": { "id": "53", "type": "webhook" },
        "created_by": { "type": "user", "id": "2", "name": "Sample User", "login": "user@example.com" },
        "source": { "type": "file", "id": "5", "name": "sample.txt" },
        "additional_info": []
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"type":"webhook_event","id":"eb0c4e06-751f-442c-86f8-fd5bb404dbec","created_at":"2023-11-14T14:13:19-08:00","trigger":"FILE.UPLOADED","webhook":{"id":"53","type":"webhook"},"source":{"type":"file","id":"5","name":"report.txt"}}"#;
    /// 1_700_000_000, at UTC-8.
    const TS: &str = "2023-11-14T14:13:20-08:00";
    const NOW: i64 = 1_700_000_000;
    const PRIMARY_KEY: &[u8] = b"box-primary-key";
    const SECONDARY_KEY: &[u8] = b"box-secondary-key";
    /// `printf '%s' "${BODY}${TS}" | openssl dgst -sha256 -hmac box-primary-key -binary | base64`
    const SIG_PRIMARY: &str = "nIrcfua42VTEvKkY5o5yo2h+rXl3sEgYx1zyvjygqzs=";
    /// `printf '%s' "${BODY}${TS}" | openssl dgst -sha256 -hmac box-secondary-key -binary | base64`
    const SIG_SECONDARY: &str = "BiDXtYDK4zrCCvfTR4TSjJNdQXIL+yA3hfro0UTKILU=";

    fn check(
        keys: &[&[u8]],
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = keys.iter().map(|key| Secret::new(*key)).collect();
        run(&BoxCom::new(&secrets, 600), pairs, body, now)
    }

    const BOTH: &[(&str, &str)] = &[
        (PRIMARY, SIG_PRIMARY),
        (SECONDARY, SIG_SECONDARY),
        (TIMESTAMP, TS),
    ];

    #[test]
    fn accepts_either_signature_under_either_key() {
        assert_eq!(
            check(&[PRIMARY_KEY, SECONDARY_KEY], BOTH, BODY, NOW),
            Ok(())
        );
        // One key rotated away: the other signature still verifies.
        assert_eq!(check(&[PRIMARY_KEY], BOTH, BODY, NOW), Ok(()));
        assert_eq!(check(&[SECONDARY_KEY], BOTH, BODY, NOW), Ok(()));
        assert_eq!(
            check(&[b"old-key".as_slice(), SECONDARY_KEY], BOTH, BODY, NOW),
            Ok(())
        );
        assert_eq!(
            check(
                &[SECONDARY_KEY],
                &[(PRIMARY, ""), (SECONDARY, SIG_SECONDARY), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[PRIMARY_KEY],
                &[(PRIMARY, SIG_PRIMARY), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_tampering_other_keys_and_malformed_headers() {
        assert_eq!(
            check(&[PRIMARY_KEY], BOTH, b"{}", NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-key".as_slice()], BOTH, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // The same instant written otherwise is other bytes: Box signs the header as sent.
        assert_eq!(
            check(
                &[PRIMARY_KEY],
                &[(PRIMARY, SIG_PRIMARY), (TIMESTAMP, "2023-11-14T22:13:20Z")],
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &[PRIMARY_KEY],
                &[(PRIMARY, "%%%"), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Err(VerifyError::MalformedHeader(PRIMARY))
        );
        assert_eq!(
            check(
                &[PRIMARY_KEY],
                &[(PRIMARY, ""), (SECONDARY, ""), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Err(VerifyError::MalformedHeader(PRIMARY))
        );
        assert_eq!(
            check(
                &[PRIMARY_KEY],
                &[(PRIMARY, SIG_PRIMARY), (TIMESTAMP, "yesterday")],
                BODY,
                NOW
            ),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
        assert_eq!(
            check(&[PRIMARY_KEY], &[(TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(PRIMARY))
        );
        assert_eq!(
            check(&[PRIMARY_KEY], &[(PRIMARY, SIG_PRIMARY)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn the_timestamp_is_within_ten_minutes_either_way() {
        assert_eq!(check(&[PRIMARY_KEY], BOTH, BODY, NOW + 600), Ok(()));
        assert_eq!(
            check(&[PRIMARY_KEY], BOTH, BODY, NOW + 601),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&[PRIMARY_KEY], BOTH, BODY, NOW - 601),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn rfc3339_timestamps_parse_with_any_offset() {
        // The example in Box's documentation.
        assert_eq!(
            parse_rfc3339(b"2016-07-11T10:10:33-07:00"),
            Some(1_468_257_033)
        );
        assert_eq!(parse_rfc3339(b"2016-07-11T17:10:33Z"), Some(1_468_257_033));
        assert_eq!(
            parse_rfc3339(b"2016-07-11T19:10:33.250+02:00"),
            Some(1_468_257_033)
        );
        assert_eq!(parse_rfc3339(TS.as_bytes()), Some(NOW));
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        // RFC 3339 lets a space stand for the T; the signature covers the
        // header's exact bytes either way.
        assert_eq!(parse_rfc3339(b"2016-07-11 17:10:33Z"), Some(1_468_257_033));
        for bad in [
            &b""[..],
            b"2016-07-11",
            b"2016-07-11T10:10:33",
            b"2016-13-11T10:10:33Z",
            b"2016-07-11T10:10:33.Z",
            b"2016-07-11T10:10:33+0700",
            b"2016-07-11T10:10:33+7:00",
            b"+016-07-11T10:10:33Z",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(format_rfc3339(NOW), "2023-11-14T22:13:20Z");
        assert_eq!(parse_rfc3339(format_rfc3339(NOW).as_bytes()), Some(NOW));
    }

    #[test]
    fn what_it_signs_verifies() {
        let signed = sign(PRIMARY_KEY, BODY, "d-1", NOW);
        let pairs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(check(&[PRIMARY_KEY], &pairs, BODY, NOW), Ok(()));
    }
}
