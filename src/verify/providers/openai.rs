//! OpenAI: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64>`, HMAC-SHA256 of `{id}.{timestamp}.{body}`),
//! keyed as OpenAI's SDKs key it: the base64 after `whsec_` (the secrets
//! OpenAI issues), a secret without that prefix as its bytes. Two signatures
//! are sent for 24 hours after a secret is rotated. The event's `id` is in
//! the body too; `webhook-id` is the delivery's, the same on retries.
//!
//! Source: <https://platform.openai.com/docs/guides/webhooks>, the SDK's
//! `verify_signature` (openai-python `openai/lib/_webhooks.py`)

use super::standard_webhooks::{KeyForm, StandardWebhooks, branded};
use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:webhook-id",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The response, batch or job the event is about.
    partition_key: Some("json:/data/id"),
};

pub(in crate::verify) const PROVIDER: Provider = branded(DEFAULTS, |input| {
    Ok(Box::new(StandardWebhooks::with_keys(
        input.secrets,
        input.tolerance,
        KeyForm::Base64OrBytes,
    )?))
})
.with_sample(|_id, now| {
    serde_json::json!({
        "id": "evt_685343a1381c819085d44c354e1b330e",
        "object": "event",
        "created_at": now,
        "type": "response.completed",
        "data": { "id": "resp_685343a1381c819085d44c354e1b330e" }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const BODY: &[u8] = br#"{"id":"evt_685343a1381c819085d44c354e1b330e","object":"event","created_at":1700000000,"type":"response.completed","data":{"id":"resp_abc123"}}"#;
    const ID: &str = "wh_685342e6c53c8190a1be43f081506c52";
    const SECRET: &[u8] = b"whsec_bXlzZWNyZXRmb3JvcGVuYWl3ZWJob29rc3Rlc3Q=";
    /// `python3 -c 'import hmac,hashlib,base64,sys; print(base64.b64encode(hmac.new(base64.b64decode("bXlzZWNyZXRmb3JvcGVuYWl3ZWJob29rc3Rlc3Q="), b"wh_685342e6c53c8190a1be43f081506c52.1700000000." + sys.argv[1].encode(), hashlib.sha256).digest()).decode())' "$BODY"`
    const SIG: &str = "v1,P3EvYa/lv1itUDAS9mjQCKwDX1k99BfgQ93FqPlxAs0=";
    /// The same, keyed by the bytes `plain-openai-secret`.
    const RAW_SIG: &str = "v1,9Fp1l8koYZUbxbZYhG2aWoohkBqfk2BQJRWHxJfTjcU=";

    fn check(secret: &[u8], signature: &str, now: i64) -> Result<(), VerifyError> {
        let scheme =
            StandardWebhooks::with_keys(&[Secret::new(secret)], 300, KeyForm::Base64OrBytes)
                .expect("builds");
        let headers = [
            ("webhook-id", ID),
            ("webhook-timestamp", "1700000000"),
            ("webhook-signature", signature),
        ];
        run(&scheme, &headers, BODY, now)
    }

    #[test]
    fn a_whsec_secret_is_its_base64_and_a_plain_one_its_bytes() {
        assert_eq!(check(SECRET, SIG, 1_700_000_000), Ok(()));
        assert_eq!(check(b"plain-openai-secret", RAW_SIG, 1_700_000_000), Ok(()));
        // Each keyed the other way does not verify.
        assert_eq!(
            check(b"plain-openai-secret", SIG, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(SECRET, RAW_SIG, 1_700_000_000), Err(VerifyError::Mismatch));
    }

    #[test]
    fn a_rotation_s_two_signatures_and_the_tolerance() {
        let both = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {SIG}");
        assert_eq!(check(SECRET, &both, 1_700_000_000), Ok(()));
        assert_eq!(
            check(SECRET, SIG, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn a_whsec_secret_that_is_not_base64_stops_the_source() {
        let errors = StandardWebhooks::with_keys(
            &[Secret::new(b"whsec_!!!".as_slice())],
            300,
            KeyForm::Base64OrBytes,
        )
        .expect_err("refused");
        assert_eq!(errors[0].field, "secrets[0]");
    }
}
