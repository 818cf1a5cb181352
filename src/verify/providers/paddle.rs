//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`,
//! HMAC-SHA256 of `{ts}:{body}` keyed by the notification destination's secret
//! key. Paddle's SDKs allow 5 seconds of clock difference, and so does this.

use std::time::Duration;

use crate::verify::list::ListFormat;
use crate::verify::mac::Encoding;
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Paddle-Signature";

static FORMAT: ListFormat = ListFormat {
    header: SIGNATURE,
    separator: b';',
    timestamp: Some(b"ts="),
    signature: b"h1=",
    encoding: Encoding::Hex,
    joiner: b":",
};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/event_type"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: Some(Duration::from_secs(5)),
    // The entity the notification is about (`data.id`: a subscription,
    // a transaction).
    partition_key: Some("json:/data/id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::timestamped_list(DEFAULTS, &FORMAT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::list::TimestampedList;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const KEY: &[u8] = b"pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI";
    const BODY: &[u8] =
        br#"{"event_id":"evt_01h8bkrbnr4s3vk7zctf1fgzgd","event_type":"transaction.paid"}"#;
    const TS: i64 = 1_671_552_777;
    /// `printf '%s' "1671552777:$BODY" | openssl dgst -sha256 -hmac "$KEY"`
    const H1: &str = "105c83f460c9348f6541556a30fb6b5eb992973f2bb924a09e335601569c90ca";

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &TimestampedList::new(&[Secret::new(KEY)], 5, &FORMAT),
            &[(SIGNATURE, header)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_vector_also_beside_a_rolled_signature() {
        assert_eq!(check(&format!("ts={TS};h1={H1}"), BODY, TS), Ok(()));
        let rolled = format!("ts={TS};h1={};h1={H1}", "0f".repeat(32));
        assert_eq!(check(&rolled, BODY, TS + 5), Ok(()));
    }

    #[test]
    fn rejects_late_tampered_and_malformed_deliveries() {
        let good = format!("ts={TS};h1={H1}");
        assert_eq!(check(&good, BODY, TS + 6), Err(VerifyError::StaleTimestamp));
        assert_eq!(check(&good, b"{}", TS), Err(VerifyError::Mismatch));
        let moved = format!("ts={};h1={H1}", TS + 1);
        assert_eq!(check(&moved, BODY, TS), Err(VerifyError::Mismatch));
        for bad in [
            format!("h1={H1}"),
            format!("ts={TS}"),
            format!("ts={TS},h1={H1}"),
        ] {
            assert_eq!(
                check(&bad, BODY, TS),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad}"
            );
        }
    }
}
