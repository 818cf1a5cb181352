//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of
//! `{t}.{body}` keyed by the webhook signing key. Calendly's guide rejects
//! signatures older than 3 minutes; so does this by default. Its payloads carry
//! no event id, so the body's SHA-256 stands for one.

use std::time::Duration;

use super::list::ListFormat;
use super::mac::{Algorithm, Encoding, Keys};
use super::{Defaults, Signed, VerifyError, check_timestamp, required, verdict};
use crate::secret::Secret;

const SIGNATURE: &str = "Calendly-Webhook-Signature";

const FORMAT: ListFormat = ListFormat {
    header: SIGNATURE,
    separator: b',',
    timestamp: Some(b"t="),
    signature: b"v1=",
    encoding: Encoding::Hex,
};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: true,
    tolerance: Some(Duration::from_secs(180)),
};

#[derive(Debug)]
pub(super) struct Calendly {
    keys: Keys,
    tolerance: u64,
}

impl Calendly {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
        }
    }

    pub(super) fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let parsed = FORMAT.parse(required(request.headers, SIGNATURE, SIGNATURE)?)?;
        let t = parsed.timestamp.unwrap_or_default();
        check_timestamp(t, request.now, self.tolerance, SIGNATURE)?;
        verdict(
            self.keys
                .verify(&[t, b".", request.body], &parsed.signatures),
        )
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    let t = now.to_string();
    let mac = super::mac::sign(Algorithm::Sha256, secret, &[t.as_bytes(), b".", body]);
    vec![(SIGNATURE.into(), format!("t={t},v1={}", hex::encode(mac)))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    const BODY: &[u8] = br#"{"event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/AAA/invitees/BBB"}}"#;
    const T: i64 = 1_700_000_000;
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac calendly-signing-key`
    const V1: &str = "f2e4952bc7bbbc6ba191773483bb663665cae05020dbdd58c02acca6b6204502";

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let headers = headers(&[(SIGNATURE, header)]);
        Calendly::new(&[Secret::new(b"calendly-signing-key".as_slice())], 180).verify(Signed {
            headers: &headers,
            body,
            now,
            query: None,
        })
    }

    #[test]
    fn accepts_the_vector_within_three_minutes() {
        assert_eq!(check(&format!("t={T},v1={V1}"), BODY, T), Ok(()));
        assert_eq!(check(&format!("t={T},v1={V1}"), BODY, T + 180), Ok(()));
    }

    #[test]
    fn rejects_late_tampered_and_malformed_deliveries() {
        let good = format!("t={T},v1={V1}");
        assert_eq!(
            check(&good, BODY, T + 181),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&good, b"{}", T), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&format!("v1={V1}"), BODY, T),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }
}
