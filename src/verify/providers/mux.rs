//! Mux: `Mux-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 of `{t}.{body}`
//! keyed by the webhook's signing secret (one per endpoint). The event's
//! `id` and `type` (`video.asset.ready`, …) are in the signed body, the
//! asset or live stream it is about in `object`.
//!
//! Source: <https://mux.com/docs/core/verify-webhook-signatures>

use crate::verify::list::ListFormat;
use crate::verify::mac::Encoding;
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Mux-Signature";

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
    partition_key: Some("json:/object/id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::timestamped_list(DEFAULTS, &FORMAT)
    .with_sample(|id, _now| {
        serde_json::json!({
            "type": "video.asset.ready",
            "object": { "type": "asset", "id": "0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002" },
            "id": id,
            "data": { "id": "0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002", "status": "ready" }
        })
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::list::TimestampedList;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"type":"video.asset.ready","object":{"type":"asset","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"id":"3a56ac3d-33da-4366-855b-f592d898409d","environment":{"name":"Demo pages","id":"j0863n"},"data":{"id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002","status":"ready"},"created_at":"2026-11-30T12:00:00.000000Z"}"#;
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac mux-signing-secret`
    const V1: &str = "8f07a8033a0edac067a55d4a0947a5728929fedacad300eba8f81397e8920bfc";

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let scheme = TimestampedList::new(
            &[Secret::new(b"mux-signing-secret".as_slice())],
            300,
            &FORMAT,
        );
        run(&scheme, &[(SIGNATURE, header)], body, now)
    }

    #[test]
    fn mux_s_signature_verifies_and_a_changed_or_stale_one_does_not() {
        let header = format!("t=1700000000,v1={V1}");
        assert_eq!(check(&header, BODY, 1_700_000_000), Ok(()));
        let changed = String::from_utf8_lossy(BODY).replace("ready\"}", "errored\"}");
        assert_eq!(
            check(&header, changed.as_bytes(), 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&header, BODY, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check("v1=00", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }
}
