//! Recurly (JSON webhooks): `recurly-signature: <unix milliseconds>,<hex>[,<hex>]`,
//! HMAC-SHA256 of `{timestamp}.{body}` keyed by the webhook endpoint's
//! secret key as it is written. When a key is regenerated the old and the new
//! one both sign for 24 hours, hence several signatures. Recurly's client
//! libraries refuse notifications more than 5 minutes off; so does this by
//! default. XML notifications are not signed and cannot be verified here.
//!
//! A JSON notification names the object it is about (`id`, `object_type`,
//! `event_type`, `event_time`, and `account_code` or `uuid`) and carries no
//! id of its own: its `id` is the object's, the same for every event of that
//! object. So the body's SHA-256 stands for the event id.
//!
//! Source: https://docs.recurly.com/recurly-subscriptions/docs/signature-verification
//! (format, message, key rotation); milliseconds and the tolerance as
//! `Recurly::Webhooks.verify_signature` in Recurly's Ruby client has them.

use std::time::Duration;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Candidates, Encoding, Keys, Signature};
use crate::verify::{
    Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp_millis, verdict,
};

const SIGNATURE: &str = "recurly-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    // `account`, `subscription`, `charge_invoice`, …; `event_type` (`created`,
    // `renewed`, …) stays in the event.
    event_type: Some("json:/object_type"),
    forward_headers: &[],
    timestamped: true,
    // The id is the digest of the signed body.
    replay_guard: false,
    tolerance: Some(Duration::from_secs(300)),
    // The object the notification is about.
    partition_key: Some("json:/id"),
};

#[derive(Debug)]
pub(super) struct Recurly {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
}

impl Recurly {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
        }
    }
}

/// The timestamp (the first element) and the signatures (the rest); any other
/// shape is malformed.
fn parse(value: &[u8]) -> Result<(&[u8], Candidates), VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE);
    let mut parts = value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
    let timestamp = parts.next().unwrap_or_default();
    let mut signatures = Candidates::new();
    for part in parts {
        signatures.push(Signature::decode(part, Encoding::Hex).ok_or(malformed)?);
    }
    if signatures.is_empty() {
        return Err(malformed);
    }
    Ok((timestamp, signatures))
}

impl crate::verify::Scheme for Recurly {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let (timestamp, signatures) = parse(self.signature.required(request.headers)?)?;
        check_timestamp_millis(timestamp, request.now, self.tolerance, SIGNATURE)?;
        verdict(
            self.keys
                .verify(&[timestamp, b".", request.body], &signatures),
        )
    }
}

/// The header Recurly sends for `body` at `now` (seconds).
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    let millis = now.saturating_mul(1000).to_string();
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[millis.as_bytes(), b".", body]);
    vec![(SIGNATURE.into(), format!("{millis},{}", hex::encode(mac)))]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Recurly::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_sample(|id, now| {
    serde_json::json!({
        "id": id,
        "object_type": "subscription",
        "site_id": "qc326l1hl8k9",
        "event_type": "created",
        "event_time": time::OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()),
        "uuid": "63ab531e1d5b1d47eaf1ef44eeb853c3"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The vector in the tests of Recurly's Ruby client
    /// (`spec/recurly/webhooks_spec.rb`, "with notification older than five
    /// minutes"): its secret, body and header.
    const SECRET: &[u8] = b"354fab5bd35f5a0d50845ee7e30165244468b13c2c343f104e4e730a59326d9d";
    const BODY: &[u8] = br#"{"id":"rjxwmwedwqug","object_type":"account","site_id":"qc326l1hl8k9","event_type":"created","event_time":"2022-09-13T21:18:40Z","account_code":"adfas23zzz14123"}"#;
    const TS: &str = "1663103925004";
    const SIG: &str = "ad24699f3beaa24c9af2cc7ada3ce4c835da0090194241b9d3add83d27f14bc3";
    /// The second in which the vector was signed.
    const NOW: i64 = 1_663_103_925;

    fn check(secrets: &[&[u8]], header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&Recurly::new(&secrets, 300), &[(SIGNATURE, header)], body, now)
    }

    #[test]
    fn accepts_the_client_vector_within_five_minutes() {
        let header = format!("{TS},{SIG}");
        assert_eq!(check(&[SECRET], &header, BODY, NOW), Ok(()));
        assert_eq!(check(&[SECRET], &header, BODY, NOW + 300), Ok(()));
        assert_eq!(
            check(&[b"previous-key".as_slice(), SECRET], &header, BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn accepts_any_of_the_signatures_of_a_rotation() {
        let old = "de1ec7ab1e".repeat(6) + "de1e";
        assert_eq!(check(&[SECRET], &format!("{TS},{old},{SIG}"), BODY, NOW), Ok(()));
        assert_eq!(check(&[SECRET], &format!("{TS},{SIG},{old}"), BODY, NOW), Ok(()));
        assert_eq!(
            check(&[SECRET], &format!("{TS},{old}"), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rejects_late_tampered_and_malformed_deliveries() {
        let header = format!("{TS},{SIG}");
        // 1663103925004 ms is 300.996 s before this.
        assert_eq!(
            check(&[SECRET], &header, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&[SECRET], &header, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[b"key".as_slice()], &header, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // Another millisecond is another message.
        assert_eq!(
            check(&[SECRET], &format!("1663103925005,{SIG}"), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        for bad in [
            format!("abc,{SIG}"),
            format!("{TS},"),
            TS.to_owned(),
            format!("{TS},xyz"),
            format!("{SIG},{TS}"),
            String::new(),
        ] {
            assert_eq!(
                check(&[SECRET], &bad, BODY, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad}"
            );
        }
        assert_eq!(
            run(&Recurly::new(&[Secret::new(SECRET)], 300), &[], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn what_it_signs_verifies() {
        let signed = sign(SECRET, BODY, NOW);
        assert!(signed[0].1.starts_with("1663103925000,"), "{}", signed[0].1);
        assert_eq!(check(&[SECRET], &signed[0].1, BODY, NOW), Ok(()));
    }
}
