//! Intuit QuickBooks Online: `intuit-signature: <base64>`, HMAC-SHA256 of the
//! body keyed by the app's webhook verifier token. Nothing is timestamped and
//! there is no handshake.
//!
//! Intuit moved webhooks to the CloudEvents format (mandatory from May 2026):
//! the body is a JSON array of events, each with its own `id`, `type`
//! (`qbo.invoice.updated.v1`), `intuitentityid` (the record) and
//! `intuitaccountid` (the company, the realm). Such a batch is checked once and
//! each event published as its own record, its exact bytes in the batch. A
//! body in the former format (`{"eventNotifications": [...]}`, realms and
//! their changed entities, with no id) is published whole, its digest as its
//! id.
//!
//! Source: https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks
//! (the CloudEvents format:
//! https://blogs.a.intuit.com/2025/11/12/upcoming-change-to-webhooks-payload-structure)

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, MalformedBatch, Provider, Scheme, Signed, VerifyError};

const SIGNATURE: &str = "intuit-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Each CloudEvent's `id`; a body in the former format has none.
    event_id: "json:/id | body-sha256",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The record the event is about (an invoice, a customer).
    partition_key: Some("json:/intuitentityid"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Base64,
};

/// The body's HMAC, and the CloudEvents batch split into its events.
#[derive(Debug)]
pub(super) struct QuickBooks {
    signature: HeaderSignature,
}

impl QuickBooks {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            signature: SHAPE.scheme(secrets),
        }
    }
}

impl Scheme for QuickBooks {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signature.verify(request)
    }

    fn split(&self, body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        split(body)
    }
}

/// A CloudEvents batch (a JSON array) as its events' exact text, all sharing
/// the body's buffer; `None` for a body in the former format, one event.
fn split(body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
    if body.iter().copied().find(|b| !b.is_ascii_whitespace()) != Some(b'[') {
        return None;
    }
    Some(
        serde_json::from_slice::<Vec<&RawValue>>(body)
            .map(|events| {
                events
                    .iter()
                    // Each element was borrowed from `body`, so it is a part of it.
                    .map(|event| body.slice_ref(event.get().as_bytes()))
                    .collect()
            })
            .map_err(|err| MalformedBatch(format!("the CloudEvents array: {err}"))),
    )
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(QuickBooks::new(input.secrets))),
    |input| input.with_headers(vec![SHAPE.sign(input.secret, &[input.payload])]),
)
.with_sample(|id, _now| {
    // A batch of one, as Intuit sends it.
    serde_json::json!([{
        "specversion": "1.0",
        "id": id,
        "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
        "type": "qbo.invoice.updated.v1",
        "datacontenttype": "application/json",
        "time": "2025-09-10T21:31:25.179851517Z",
        "intuitentityid": "95",
        "intuitaccountid": "310687",
        "data": {}
    }])
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The vector of Intuit's Java SDK (`WebhooksServiceTest`,
    /// github.com/intuit/QuickBooks-V3-Java-SDK): a body in the former format.
    const JAVA_TOKEN: &[u8] = b"b5771f19b12ddb4bcdb9f08bdc50bc63878a";
    const JAVA_BODY: &[u8] = br#"{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}"#;
    const JAVA_SIG: &str = "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=";

    const TOKEN: &[u8] = b"qbo-verifier-token";
    const EVENT_1: &str = r#"{"specversion":"1.0","id":"88cd52aa-33b6-4351-9aa4-47572edbd068","source":"intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=","type":"qbo.account.created.v1","datacontenttype":"application/json","time":"2025-09-10T21:31:25.179851517Z","intuitentityid":"1234","intuitaccountid":"310687","data":{}}"#;
    const EVENT_2: &str = r#"{"specversion":"1.0","id":"5d3b1c1e-7f0e-4e53-9d8a-2b1f6c0a9e41","source":"intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=","type":"qbo.invoice.updated.v1","datacontenttype":"application/json","time":"2025-09-10T21:31:26.002114208Z","intuitentityid":"95","intuitaccountid":"310687","data":{}}"#;
    /// `printf '%s' "[$EVENT_1,$EVENT_2]" | openssl dgst -sha256 -hmac qbo-verifier-token -binary | base64`
    const BATCH_SIG: &str = "2wm0US7erpnmxth4jZ7DGLyX2/IVdpKy7sDRn44RL7g=";

    fn batch() -> String {
        format!("[{EVENT_1},{EVENT_2}]")
    }

    #[test]
    fn intuit_s_java_sdk_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, JAVA_TOKEN, JAVA_BODY, JAVA_SIG);
    }

    #[test]
    fn a_body_in_the_former_format_is_one_event() {
        let qbo = QuickBooks::new(&[Secret::new(JAVA_TOKEN)]);
        assert_eq!(run(&qbo, &[(SIGNATURE, JAVA_SIG)], JAVA_BODY, 0), Ok(()));
        assert!(qbo.split(&Bytes::from_static(JAVA_BODY)).is_none());
    }

    #[test]
    fn a_cloudevents_batch_verifies_once_and_splits_into_its_exact_events() {
        let qbo = QuickBooks::new(&[Secret::new(TOKEN)]);
        let body = batch();
        assert_eq!(
            run(&qbo, &[(SIGNATURE, BATCH_SIG)], body.as_bytes(), 0),
            Ok(())
        );
        let events = qbo
            .split(&Bytes::from(body))
            .expect("a batch")
            .expect("splits");
        assert_eq!(events, vec![Bytes::from(EVENT_1), Bytes::from(EVENT_2)]);
        // Whitespace around the array and between its events is not theirs.
        let spaced = format!(" \n[ {EVENT_1} ,\n {EVENT_2} ]\n");
        let events = split(&Bytes::from(spaced))
            .expect("a batch")
            .expect("splits");
        assert_eq!(events, vec![Bytes::from(EVENT_1), Bytes::from(EVENT_2)]);
    }

    #[test]
    fn a_changed_batch_or_another_token_is_refused_and_a_rotated_one_is_not() {
        let body = batch();
        let changed = body.replace("qbo.invoice.updated.v1", "qbo.invoice.deleted.v1");
        let check = |secrets: &[&[u8]], body: &[u8]| {
            let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
            run(
                &QuickBooks::new(&secrets),
                &[(SIGNATURE, BATCH_SIG)],
                body,
                0,
            )
        };
        assert_eq!(
            check(&[TOKEN], changed.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-token"], body.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(&[b"new-token", TOKEN], body.as_bytes()), Ok(()));
    }

    #[test]
    fn a_signed_array_that_does_not_parse_is_a_malformed_batch() {
        for body in ["[", "[{}", "[{},]", "[] x"] {
            assert!(
                split(&Bytes::from(body)).expect("an array").is_err(),
                "{body}"
            );
        }
        assert_eq!(split(&Bytes::from("[]")), Some(Ok(Vec::new())));
    }
}
