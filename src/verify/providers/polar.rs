//! Polar: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64>`, HMAC-SHA256 of `{id}.{timestamp}.{body}`).
//! Endpoints made since 2026-09-08 key the base64 after `whsec_`, as the
//! specification does; older ones (`polar_whs_…` secrets) the whole secret's
//! UTF-8 bytes. Both keys are tried, as Polar's SDK does. `webhook-id` is
//! the event's id, the same on every retry.
//!
//! Source: <https://polar.sh/docs/integrate/webhooks/delivery>, Polar's
//! `sign_webhook` (polarsource/polar `server/polar/webhook/tasks.py`) and
//! its SDK's `validate_event`

use super::standard_webhooks::{KeyForm, StandardWebhooks, branded};
use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:webhook-id",
    event_type: Some("json:/type"),
    forward_headers: &["webhook-api-version"],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The order, subscription or checkout the event is about.
    partition_key: Some("json:/data/id"),
};

pub(in crate::verify) const PROVIDER: Provider = branded(DEFAULTS, |input| {
    Ok(Box::new(StandardWebhooks::with_keys(
        input.secrets,
        input.tolerance,
        KeyForm::Base64AndBytes,
    )?))
})
.with_sample(|_id, _now| {
    serde_json::json!({
        "type": "order.paid",
        "timestamp": "2026-11-30T12:00:00.000000Z",
        "data": { "id": "0d5e2c8a-3f4b-4c1d-9e7a-6b2f1a9c8d70", "status": "paid" }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"type":"order.paid","timestamp":"2026-11-30T12:00:00.000000Z","data":{"id":"0d5e2c8a-3f4b-4c1d-9e7a-6b2f1a9c8d70","status":"paid"}}"#;
    const ID: &str = "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7";
    const NOW: i64 = 1_796_040_000;
    /// An endpoint's secret from before 2026-09-08, keyed as its bytes:
    /// `python3 -c 'import hmac,hashlib,base64,sys; print(base64.b64encode(hmac.new(b"polar_whs_ZXhhbXBsZS1sZWdhY3ktc2VjcmV0", b"a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7.1796040000." + sys.argv[1].encode(), hashlib.sha256).digest()).decode())' "$BODY"`
    /// (polar-sdk 1.0.2's `validate_event` accepts it).
    const LEGACY: (&[u8], &str) = (
        b"polar_whs_ZXhhbXBsZS1sZWdhY3ktc2VjcmV0",
        "v1,8BTp/djD1ZeNXyCpiiG0e1xoyX2+BlEOQXItKGXr7JA=",
    );
    /// A newer endpoint's, keyed by the base64 after `whsec_` (the same
    /// command with `base64.b64decode("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")`).
    const STANDARD: (&[u8], &str) = (
        b"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "v1,IwtoXgUue81DeNF5lIF/pSr78g3l8HjrcVSxIyDScfo=",
    );

    fn check(secret: &[u8], signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        let scheme =
            StandardWebhooks::with_keys(&[Secret::new(secret)], 300, KeyForm::Base64AndBytes)
                .expect("builds");
        let now = NOW.to_string();
        let headers = [
            ("webhook-id", ID),
            ("webhook-timestamp", now.as_str()),
            ("webhook-signature", signature),
        ];
        run(&scheme, &headers, body, NOW)
    }

    #[test]
    fn old_and_new_endpoints_secrets_both_verify() {
        assert_eq!(check(LEGACY.0, LEGACY.1, BODY), Ok(()));
        assert_eq!(check(STANDARD.0, STANDARD.1, BODY), Ok(()));
        assert_eq!(check(STANDARD.0, LEGACY.1, BODY), Err(VerifyError::Mismatch));
        assert_eq!(check(LEGACY.0, STANDARD.1, BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_changed_body_does_not() {
        let changed = String::from_utf8_lossy(BODY).replace("paid\"}", "refunded\"}");
        assert_eq!(
            check(STANDARD.0, STANDARD.1, changed.as_bytes()),
            Err(VerifyError::Mismatch)
        );
    }
}
