//! Segment (Webhooks destination, classic and Actions): `X-Signature: <hex>`,
//! HMAC-SHA1 of the body keyed by the destination's shared secret. No prefix,
//! nothing timestamped (the message's `timestamp` has no documented
//! tolerance), no handshake. The classic destination posts one Segment message
//! per request, whose `messageId` and `type` (`track`, `identify`, …) are in
//! the signed body; an Actions mapping shapes the body itself, so its sources
//! may need their own `event_id`.
//!
//! Source: https://www.twilio.com/docs/segment/connections/destinations/catalog/webhooks
//! (Actions: https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook)

use super::Defaults;
use super::Provider;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "X-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/messageId",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha1, secrets),
        SIGNATURE,
        b"",
        Encoding::Hex,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha1, secret, &[body]);
    vec![(SIGNATURE.into(), hex::encode(mac))]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "messageId": id,
        "type": "track",
        "event": "Order Completed",
        "userId": "user_1",
        "properties": { "orderId": "50314b8e9bcf000000000000", "total": 27.5 },
        "timestamp": "2023-11-14T22:13:20.000Z",
        "context": { "library": { "name": "hookgate", "version": "send" } }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"segment-shared-secret";
    const BODY: &[u8] = br#"{"messageId":"ajs-next-1700000000000-4f1c2d3e","type":"track","event":"Order Completed","userId":"user_1","timestamp":"2023-11-14T22:13:20.000Z"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac segment-shared-secret`
    const SIG: &str = "672202089cb88fe21c1f468424dad36a20d338fe";

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&scheme(&secrets), pairs, body, 0)
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        assert_eq!(
            sign(SECRET, BODY),
            vec![(SIGNATURE.to_owned(), SIG.to_owned())]
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_truncation() {
        let tampered = String::from_utf8_lossy(BODY).replace("user_1", "user_2");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], tampered.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, &SIG[..20])], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"new-secret".as_slice(), SECRET],
                &[(SIGNATURE, SIG)],
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        assert_eq!(
            check(&[SECRET], &[], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        for bad in ["", "sha1=672202089cb88fe2", "6722020", "zz"] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }
}
