//! Coinbase Commerce: `X-CC-Webhook-Signature: <hex>`, HMAC-SHA256 of the body
//! keyed by the webhook shared secret (Settings > Notifications). No prefix,
//! nothing timestamped, no handshake. The event is nested under `event`: its
//! id and type are `/event/id` and `/event/type` (the top-level `id` is the
//! notification's), all inside the signed body.
//!
//! Source: https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security
//! (delivery and retries: https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-overview)

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-CC-Webhook-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event/id",
    event_type: Some("json:/event/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The charge (`event.data.id`).
    partition_key: Some("json:/event/data/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider = Provider::header_hmac(
    DEFAULTS,
    SHAPE,
    |_, signature| vec![signature],
)
.with_sample(|id, _now| {
    serde_json::json!({
        "id": 1,
        "attempt_number": 1,
        "scheduled_for": "2023-11-14T22:13:20Z",
        "event": {
            "id": id,
            "resource": "event",
            "type": "charge:created",
            "api_version": "2018-03-22",
            "created_at": "2023-11-14T22:13:20Z",
            "data": { "code": "66BEOV2A", "name": "hookgate sample", "pricing_type": "fixed_price" }
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"coinbase-shared-secret";
    const BODY: &[u8] = br#"{"attempt_number":1,"event":{"api_version":"2018-03-22","created_at":"2023-11-14T22:13:20Z","data":{"code":"66BEOV2A"},"id":"24934862-d980-46cb-9402-43c81b0cdba6","resource":"event","type":"charge:created"},"id":"f6a1b3c5-9d1e-4a8c-8e6f-2b7d0c3e5a91","scheduled_for":"2023-11-14T22:13:20Z"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac coinbase-shared-secret`
    const SIG: &str = "b690d82b483d3d6482ea74a50475681e77b7e4536dc35b5fb4fff432eed632e3";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
