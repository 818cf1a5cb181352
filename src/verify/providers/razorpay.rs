//! Razorpay: `X-Razorpay-Signature: <hex>`, HMAC-SHA256 of the body keyed by
//! the webhook secret set in the Dashboard (not the API key secret, and not
//! the `order_id|payment_id` signature of Checkout). No prefix, nothing
//! timestamped, no handshake.
//!
//! The id is `x-razorpay-event-id`, the same on every retry of an event; it is
//! not signed, so the replay guard is on. The type is the body's `event`
//! (`payment.captured`, `order.paid`, …).
//!
//! Source: https://razorpay.com/docs/webhooks/validate-test/
//! (the event id header: https://razorpay.com/docs/webhooks/best-practices/)

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Razorpay-Signature";
const EVENT_ID: &str = "x-razorpay-event-id";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:x-razorpay-event-id",
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |input, signature| {
    vec![
        (EVENT_ID.into(), input.event_id.into()),
        signature,
    ]
    })
.with_sample(|_id, now| {
    serde_json::json!({
        "entity": "event",
        "account_id": "acc_BFQ7uQEaa7j2z7",
        "event": "payment.captured",
        "contains": ["payment"],
        "payload": {
            "payment": {
                "entity": { "id": "pay_DESlfW9H8K9uqM", "entity": "payment", "amount": 100, "currency": "INR", "status": "captured" }
            }
        },
        "created_at": now
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifierKind;
    use crate::verify::test_support::signed_headers;

    /// What Razorpay sends for `body`, signed with `secret`.
    fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
        signed_headers(VerifierKind::Razorpay, secret, body, event_id, now)
    }

    const SECRET: &[u8] = b"razorpay-webhook-secret";
    const BODY: &[u8] = br#"{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_DESlfW9H8K9uqM","amount":100,"currency":"INR"}}},"created_at":1700000000}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac razorpay-webhook-secret`
    const SIG: &str = "93da0290737b006a3bb4c571ad9462a228ecee31d9e316f1002eb9d8f9127785";

    #[test]
    fn signing_adds_the_providers_id_header() {
        let signed = sign(SECRET, BODY, "Gb5kMCdcAZ8jJ8", 0);
        assert_eq!(
            signed,
            vec![
                (EVENT_ID.to_owned(), "Gb5kMCdcAZ8jJ8".to_owned()),
                (SIGNATURE.to_owned(), SIG.to_owned())
            ]
        );
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
