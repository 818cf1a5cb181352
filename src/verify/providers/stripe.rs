//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`, HMAC-SHA256 of
//! `{t}.{body}` keyed by the whole `whsec_…` string. Several `v1` appear while a
//! secret is being rolled; `v0` (test-mode legacy) is ignored.

use crate::verify::list::ListFormat;
use crate::verify::mac::Encoding;
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Stripe-Signature";

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
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The object the event is about (`data.object.id`: a charge, an
    // invoice), so one object's events stay in order on one partition.
    partition_key: Some("json:/data/object/id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::timestamped_list(DEFAULTS, &FORMAT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::list::TimestampedList;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const BODY: &[u8] = br#"{"id":"evt_test_webhook","object":"event"}"#;
    const T: i64 = 1_492_774_577;
    /// `printf '%s' "1492774577.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret`
    const V1: &str = "88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a";

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &TimestampedList::new(
                &[Secret::new(b"whsec_test_secret".as_slice())],
                300,
                &FORMAT,
            ),
            &[(SIGNATURE, header)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_vector_with_rolled_and_legacy_signatures() {
        assert_eq!(check(&format!("t={T},v1={V1}"), BODY, T), Ok(()));
        assert_eq!(
            check(
                &format!("t={T},v1={},v1={V1},v0=abcd", "ab".repeat(32)),
                BODY,
                T + 299
            ),
            Ok(())
        );
        assert_eq!(check(&format!("t={T}, v1={V1}"), BODY, T), Ok(()));
    }

    #[test]
    fn rejects_replays_tampering_and_malformed_headers() {
        assert_eq!(
            check(&format!("t={T},v1={V1}"), BODY, T + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&format!("t={},v1={V1}", T + 1), BODY, T),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&format!("t={T},v1={V1}"), b"{}", T),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&format!("t={T},v0={V1}"), BODY, T),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&format!("v1={V1}"), BODY, T),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&format!("t={T},v1=xyz"), BODY, T),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&format!("t=soon,v1={V1}"), BODY, T),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }
}
