//! Lemon Squeezy: `X-Signature: <hex>`, HMAC-SHA256 of the body keyed by the
//! webhook's signing secret. The event's name is the body's
//! `meta.event_name` (also in the unsigned `X-Event-Name`, forwarded); the
//! object (order, subscription, …) is `data`. Lemon Squeezy sends no event
//! id: the body's SHA-256 stands for one.
//!
//! Source: <https://docs.lemonsqueezy.com/help/webhooks/signing-requests>

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    // The signed name, not the header's.
    event_type: Some("json:/meta/event_name"),
    forward_headers: &["X-Event-Name"],
    timestamped: false,
    replay_guard: false,
    tolerance: None,
    partition_key: Some("json:/data/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |_, signature| {
        vec![signature, ("X-Event-Name".into(), "order_created".into())]
    })
    .with_sample(|_id, _now| {
        serde_json::json!({
            "meta": { "event_name": "order_created", "test_mode": true },
            "data": { "type": "orders", "id": "1", "attributes": { "status": "paid", "total": 999 } }
        })
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"meta":{"event_name":"order_created","test_mode":true,"webhook_id":"88f4ed9e-25b7-4f96-b1d4-e5ee8df0ad21"},"data":{"type":"orders","id":"1","attributes":{"status":"paid","total":999}}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac lemon-signing-secret`
    const SIG: &str = "7258ee9226639a1be6f804d376607ecfda59a05bf37926b39e82092640cbe0ea";

    #[test]
    fn lemon_squeezy_s_signature_verifies_and_a_changed_body_does_not() {
        let scheme = SHAPE.scheme(&[
            Secret::new(b"old-secret".as_slice()),
            Secret::new(b"lemon-signing-secret".as_slice()),
        ]);
        assert_eq!(run(&scheme, &[(SIGNATURE, SIG)], BODY, 0), Ok(()));
        let changed = String::from_utf8_lossy(BODY).replace("999", "1");
        assert_eq!(
            run(&scheme, &[(SIGNATURE, SIG)], changed.as_bytes(), 0),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(&scheme, &[], BODY, 0),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }
}
