//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed by the
//! app's client secret. Nothing is timestamped.

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Hub-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/topic"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The conversation, contact or ticket (`data.item.id`).
    partition_key: Some("json:/data/item/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha1=",
    algorithm: Algorithm::Sha1,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |_, signature| vec![signature]);

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"type":"notification_event","id":"notif_ccd8a4d2-c5cc-46ee-94c7-f8f3d4e0c2c1","topic":"conversation.user.created"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac intercom-client-secret`
    const SHA1: &str = "9c7924ecd0682006f8e663c2a7f2678ce061d9d2";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(
            &SHAPE,
            b"intercom-client-secret",
            BODY,
            &format!("sha1={SHA1}"),
        );
    }
}
