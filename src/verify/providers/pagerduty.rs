//! PagerDuty webhooks v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`,
//! HMAC-SHA256 of the body; one `v1` per active secret while it is rotated.
//! Nothing is timestamped.

use crate::config::secret::Secret;
use crate::verify::list::ListFormat;
use crate::verify::mac::{Algorithm, Encoding, Keys};
use crate::verify::{Defaults, Provider, SchemeHeader, Signed, VerifyError, verdict};

const SIGNATURE: &str = "X-PagerDuty-Signature";

const FORMAT: ListFormat = ListFormat {
    header: SIGNATURE,
    separator: b',',
    timestamp: None,
    signature: b"v1=",
    encoding: Encoding::Hex,
    joiner: b"",
};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event/id",
    event_type: Some("json:/event/event_type"),
    forward_headers: &["X-Webhook-Id", "X-Webhook-Subscription"],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The incident or service the event is about (`event.data.id`).
    partition_key: Some("json:/event/data/id"),
};

#[derive(Debug)]
pub(super) struct PagerDuty {
    keys: Keys,
    signature: SchemeHeader,
}

impl PagerDuty {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            signature: SchemeHeader::new(SIGNATURE),
        }
    }
}

impl crate::verify::Scheme for PagerDuty {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let parsed = FORMAT.parse(self.signature.required(request.headers)?)?;
        verdict(self.keys.verify(&[request.body], &parsed.signatures))
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![(SIGNATURE.into(), format!("v1={}", hex::encode(mac)))]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(PagerDuty::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(
    |id, _now| serde_json::json!({ "event": { "id": id, "event_type": "incident.triggered" } }),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const BODY: &[u8] =
        br#"{"event":{"id":"01DEN4HPBQAJFLRXQYMKWWUDTK","event_type":"incident.triggered"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac pagerduty-secret`
    const V1: &str = "417215bd335766e786a7202347084bac0ec7567240379f1df93ce9d7eb3f4ed9";

    fn check(header: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(
            &PagerDuty::new(&[Secret::new(b"pagerduty-secret".as_slice())]),
            &[(SIGNATURE, header)],
            body,
            0,
        )
    }

    #[test]
    fn accepts_the_vector_alone_or_among_rotated_signatures() {
        assert_eq!(check(&format!("v1={V1}"), BODY), Ok(()));
        assert_eq!(
            check(&format!("v1={},v1={V1}", "aa".repeat(32)), BODY),
            Ok(())
        );
    }

    #[test]
    fn rejects_tampered_and_malformed_deliveries() {
        assert_eq!(
            check(&format!("v1={V1}"), b"{}"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(V1, BODY),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }
}
