//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-Shopify-Webhook-Id",
    event_type: Some("header:X-Shopify-Topic"),
    forward_headers: &[
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-API-Version",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
    ],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The resource itself (an order, a product): Shopify's payload is the
    // resource, its `id` at the top.
    partition_key: Some("json:/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Base64,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |input, signature| {
        vec![
            signature,
            ("X-Shopify-Webhook-Id".into(), input.event_id.into()),
            ("X-Shopify-Topic".into(), "orders/create".into()),
        ]
    });

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    /// `printf '%s' BODY | openssl dgst -sha256 -hmac hush -binary | base64`
    const VECTOR: &str = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, b"hush", BODY, VECTOR);
    }
}
