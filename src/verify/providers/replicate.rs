//! Replicate: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64>`, HMAC-SHA256 of `{id}.{timestamp}.{body}`,
//! keyed by the base64 after `whsec_` of the secret from
//! `GET /v1/webhooks/default/secret`). The body is the prediction: its `id`
//! is the entity, its `status` (`starting`, `processing`, `succeeded`, …)
//! the type; each webhook (start, output, logs, completed) is its own
//! message, `webhook-id` the same when it is resent.
//!
//! Source: <https://replicate.com/docs/topics/webhooks/verify-webhook>

use super::standard_webhooks::{KeyForm, StandardWebhooks, branded};
use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:webhook-id",
    event_type: Some("json:/status"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The prediction.
    partition_key: Some("json:/id"),
};

pub(in crate::verify) const PROVIDER: Provider = branded(DEFAULTS, |input| {
    Ok(Box::new(StandardWebhooks::with_keys(
        input.secrets,
        input.tolerance,
        KeyForm::Base64,
    )?))
})
.with_sample(|_id, _now| {
    serde_json::json!({
        "id": "ufawqhfynnddngldkgtslldrkq",
        "status": "succeeded",
        "version": "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
        "output": ["https://replicate.delivery/pbxt/out.png"]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"id":"ufawqhfynnddngldkgtslldrkq","status":"succeeded","version":"5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa","output":["https://replicate.delivery/pbxt/out.png"]}"#;
    const SECRET: &[u8] = b"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    /// `python3 -c 'import hmac,hashlib,base64,sys; print(base64.b64encode(hmac.new(base64.b64decode("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), b"msg_2fVwk1CwVr5ZQh8p7rV9xTqkE1b.1700000000." + sys.argv[1].encode(), hashlib.sha256).digest()).decode())' "$BODY"`
    const SIG: &str = "v1,9z7SPUjXEeKPqFAtsGlu9mEqsOvmnBOnd2xvaOpPA9k=";

    fn check(signature: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let scheme = StandardWebhooks::with_keys(&[Secret::new(SECRET)], 300, KeyForm::Base64)
            .expect("builds");
        let headers = [
            ("webhook-id", "msg_2fVwk1CwVr5ZQh8p7rV9xTqkE1b"),
            ("webhook-timestamp", "1700000000"),
            ("webhook-signature", signature),
        ];
        run(&scheme, &headers, body, now)
    }

    #[test]
    fn replicate_s_signature_verifies_and_a_changed_prediction_does_not() {
        assert_eq!(check(SIG, BODY, 1_700_000_000), Ok(()));
        let changed = String::from_utf8_lossy(BODY).replace("succeeded", "failed");
        assert_eq!(
            check(SIG, changed.as_bytes(), 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, BODY, 1_700_000_000 + 301),
            Err(VerifyError::StaleTimestamp)
        );
    }
}
