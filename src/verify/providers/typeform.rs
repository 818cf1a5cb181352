//! Typeform: `Typeform-Signature: sha256=<base64>`, HMAC-SHA256 of the body
//! keyed by the webhook's `secret`, base64 (not hex) after the `sha256=`
//! prefix. Nothing is timestamped and there is no handshake; the event id and
//! type are in the signed body.
//!
//! Source: https://www.typeform.com/developers/webhooks/secure-your-webhooks/

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Typeform-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/event_type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body: a replay under a new id cannot be made.
    replay_guard: false,
    tolerance: None,
    // The form (`form_response.form_id`): its responses in order.
    partition_key: Some("json:/form_response/form_id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha256=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Base64,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |_, signature| {
    vec![signature]
    })
.with_sample(|id, _now| {
    serde_json::json!({
        "event_id": id,
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "token": "a3a12ec67a1365927098a606107fac15",
            "answers": [{ "type": "text", "text": "hello from hookgate send", "field": { "id": "JwWggjAKtOkA", "type": "short_text" } }]
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"typeform-webhook-secret";
    const BODY: &[u8] = br#"{"event_id":"01HF6R4Z2X8N3K7Q5W9M1B0C4D","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","submitted_at":"2023-11-14T22:13:20Z"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac typeform-webhook-secret -binary | base64`
    const SIG: &str = "sha256=Z+KIz1KaknqyHchpcUfLWiBv27CJ4mENTZ88xyhlLTk=";

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
