//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of
//! `{t}.{body}` keyed by the webhook signing key. Calendly's guide rejects
//! signatures older than 3 minutes; so does this by default. Its payloads carry
//! no event id, so the body's SHA-256 stands for one.

use std::time::Duration;

use crate::verify::list::ListFormat;
use crate::verify::mac::Encoding;
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Calendly-Webhook-Signature";

static FORMAT: ListFormat = ListFormat {
    header: SIGNATURE,
    separator: b',',
    timestamp: Some(b"t="),
    signature: b"v1=",
    encoding: Encoding::Hex,
    joiner: b".",
};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: Some(Duration::from_secs(180)),
    partition_key: None,
};

pub(in crate::verify) const PROVIDER: Provider = Provider::timestamped_list(DEFAULTS, &FORMAT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::list::TimestampedList;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const BODY: &[u8] = br#"{"event":"invitee.created","payload":{"uri":"https://api.calendly.com/scheduled_events/AAA/invitees/BBB"}}"#;
    const T: i64 = 1_700_000_000;
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac calendly-signing-key`
    const V1: &str = "f2e4952bc7bbbc6ba191773483bb663665cae05020dbdd58c02acca6b6204502";

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &TimestampedList::new(
                &[Secret::new(b"calendly-signing-key".as_slice())],
                180,
                &FORMAT,
            ),
            &[(SIGNATURE, header)],
            body,
            now,
        )
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
