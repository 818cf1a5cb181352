//! Segment (Webhooks destination, classic and Actions): `X-Signature: <hex>`,
//! HMAC-SHA1 of the body keyed by the destination's shared secret. No prefix,
//! nothing timestamped (the message's `timestamp` has no documented
//! tolerance), no handshake. The classic destination posts one Segment message
//! per request, whose `messageId` and `type` (`track`, `identify`, …) are in
//! the signed body; an Actions mapping shapes the body itself, so its sources
//! may need their own `event_id`.
//!
//! Source: https://www.twilio.com/docs/segment/connections/destinations/catalog/webhooks
//! (Actions: https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook)

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/messageId",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha1,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |_, signature| vec![signature]).with_sample(
        |id, _now| {
            serde_json::json!({
                "messageId": id,
                "type": "track",
                "event": "Order Completed",
                "userId": "user_1",
                "properties": { "orderId": "50314b8e9bcf000000000000", "total": 27.5 },
                "timestamp": "2023-11-14T22:13:20.000Z",
                "context": { "library": { "name": "hookgate", "version": "send" } }
            })
        },
    );

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"segment-shared-secret";
    const BODY: &[u8] = br#"{"messageId":"ajs-next-1700000000000-4f1c2d3e","type":"track","event":"Order Completed","userId":"user_1","timestamp":"2023-11-14T22:13:20.000Z"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac segment-shared-secret`
    const SIG: &str = "672202089cb88fe21c1f468424dad36a20d338fe";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
