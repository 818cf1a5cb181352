//! PandaDoc: the signature is in the URL, `?signature=<hex>` appended by
//! PandaDoc to the endpoint it was given: HMAC-SHA256 of the raw body keyed by
//! the webhook subscription's shared key. Nothing is timestamped and there is
//! no handshake.
//!
//! The body is a JSON array of notifications (`[{"event": …, "data": …}]`),
//! which PandaDoc says may hold several; it is published whole, as one
//! record, since its id is the delivery's: `X-PandaDoc-Webhook-Event-Id`,
//! the same across PandaDoc's automatic and manual retries. That header is
//! not signed, so the replay guard is on.
//!
//! Source: https://developers.pandadoc.com/docs/webhook-verification (the id:
//! https://developers.pandadoc.com/docs/webhooks-overview)

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{Defaults, Provider, Signed, SignedDelivery, VerifyError, verdict};

/// The query parameter PandaDoc adds to the URL.
const PARAMETER: &str = "signature";
const EVENT_ID: &str = "X-PandaDoc-Webhook-Event-Id";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Deliveries without the header (older subscriptions): the body's digest.
    event_id: "header:X-PandaDoc-Webhook-Event-Id | body-sha256",
    event_type: Some("json:/0/event"),
    forward_headers: &[],
    timestamped: false,
    // The id header is not signed: a captured delivery could come again
    // under a new one.
    replay_guard: true,
    tolerance: None,
    // The document (or template) of the first notification.
    partition_key: Some("json:/0/data/id"),
};

#[derive(Debug)]
pub(super) struct PandaDoc {
    keys: Keys,
}

impl PandaDoc {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
        }
    }
}

impl crate::verify::Scheme for PandaDoc {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let query = request.query.unwrap_or("");
        let mut found = form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == PARAMETER)
            .map(|(_, value)| value);
        let signature = found
            .next()
            .ok_or(VerifyError::MissingParameter(PARAMETER))?;
        // Two copies: which one another reader of the URL takes is unknown.
        // A value that is not one signature cannot match.
        if found.next().is_some() {
            return Err(VerifyError::Mismatch);
        }
        let signature =
            Signature::decode(signature.as_bytes(), Encoding::Hex).ok_or(VerifyError::Mismatch)?;
        verdict(self.keys.verify_one(&[request.body], signature))
    }
}

/// The `signature` query string PandaDoc appends for `body`.
pub(super) fn query(secret: &[u8], body: &[u8]) -> String {
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[body]);
    form_urlencoded::Serializer::new(String::new())
        .append_pair(PARAMETER, &hex::encode(mac))
        .finish()
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(PandaDoc::new(input.secrets))),
    |input| {
        Ok(SignedDelivery {
            headers: vec![
                (EVENT_ID.into(), input.event_id.into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: input.payload.to_vec(),
            query: Some(query(input.secret, input.payload)),
        })
    },
)
.with_sample(|_id, _now| {
    serde_json::json!([{
        "event": "document_state_changed",
        "data": {
            "id": "msFYActMfJHqNTKH8YSvF1",
            "name": "Sample Document",
            "status": "document.completed",
            "date_created": "2023-11-14T22:05:11.512Z",
            "date_modified": "2023-11-14T22:13:20.094Z",
            "expiration_date": null,
            "version": "2"
        }
    }])
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run_with_query;

    const KEY: &[u8] = b"pandadoc-shared-key";
    const BODY: &[u8] = br#"[{"event":"document_state_changed","data":{"id":"msFYActMfJHqNTKH8YSvF1","name":"Sample Document","status":"document.completed","date_created":"2023-11-14T22:05:11.512Z","date_modified":"2023-11-14T22:13:20.094Z","expiration_date":null,"version":"2"}}]"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac pandadoc-shared-key`
    const SIG: &str = "f7eba215492951808f151374e3be3785b1f4734de372578c63c91a04a161893b";

    fn check(secrets: &[&[u8]], query: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run_with_query(&PandaDoc::new(&secrets), &[], query, body, 0)
    }

    #[test]
    fn accepts_the_vector_beside_other_parameters_and_what_sign_produces() {
        let signed = format!("signature={SIG}");
        assert_eq!(check(&[KEY], Some(&signed), BODY), Ok(()));
        let among = format!("workspace=ws_1&signature={SIG}&x=");
        assert_eq!(check(&[KEY], Some(&among), BODY), Ok(()));
        assert_eq!(query(KEY, BODY), signed);
    }

    #[test]
    fn rejects_tampering_other_keys_and_bad_parameters() {
        let signed = format!("signature={SIG}");
        let changed = String::from_utf8_lossy(BODY).replace("completed", "declined");
        assert_eq!(
            check(&[KEY], Some(&signed), changed.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-key"], Some(&signed), BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[KEY], None, BODY),
            Err(VerifyError::MissingParameter(PARAMETER))
        );
        assert_eq!(
            check(&[KEY], Some("sig=1"), BODY),
            Err(VerifyError::MissingParameter(PARAMETER))
        );
        let cut = format!("signature={}", &SIG[..60]);
        let twice = format!("signature={SIG}&signature={SIG}");
        for bad in ["signature=", "signature=zz", cut.as_str(), twice.as_str()] {
            assert_eq!(
                check(&[KEY], Some(bad), BODY),
                Err(VerifyError::Mismatch),
                "{bad}"
            );
        }
        // The signature belongs in the URL, not in a header.
        assert_eq!(
            run_with_query(
                &PandaDoc::new(&[Secret::new(KEY)]),
                &[(PARAMETER, SIG)],
                None,
                BODY,
                0
            ),
            Err(VerifyError::MissingParameter(PARAMETER))
        );
    }

    #[test]
    fn a_rotated_key_still_verifies() {
        let signed = format!("signature={SIG}");
        assert_eq!(
            check(&[b"pandadoc-new-key", KEY], Some(&signed), BODY),
            Ok(())
        );
    }
}
