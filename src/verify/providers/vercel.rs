//! Vercel: `x-vercel-signature: <hex>`, HMAC-SHA1 of the body keyed by the
//! webhook's secret (an account webhook) or the integration's client secret
//! (an integration's webhooks). No prefix, nothing timestamped, no handshake;
//! the event id and type are in the signed body.
//!
//! Source: https://vercel.com/docs/webhooks (section "Securing webhooks")

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "x-vercel-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
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

pub(in crate::verify) const PROVIDER: Provider = Provider::header_hmac(
    DEFAULTS,
    SHAPE,
    |_, signature| vec![signature],
)
.with_sample(|id, now| {
    serde_json::json!({
        "id": id,
        "type": "deployment.created",
        "createdAt": now * 1000,
        "region": "iad1",
        "payload": {
            "deployment": { "id": "dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ", "name": "hookgate-sample" },
            "project": { "id": "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB" },
            "target": "production"
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"vercel-webhook-secret";
    const BODY: &[u8] = br#"{"id":"evt_4nC2bRzQk1Xw","type":"deployment.created","createdAt":1700000000000,"payload":{"deployment":{"id":"dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ"}},"region":"iad1"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac vercel-webhook-secret`
    const SIG: &str = "fdc4b4f02ab3facaaee3c5b39d3a07a60170c245";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
