//! Typeform: `Typeform-Signature: sha256=<base64>`, HMAC-SHA256 of the body
//! keyed by the webhook's `secret`, base64 (not hex) after the `sha256=`
//! prefix. Nothing is timestamped and there is no handshake; the event id and
//! type are in the signed body.
//!
//! Source: https://www.typeform.com/developers/webhooks/secure-your-webhooks/

use base64::Engine as _;

use super::Defaults;
use super::Provider;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "Typeform-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/event_type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body: a replay under a new id cannot be made.
    replay_guard: false,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha256, secrets),
        SIGNATURE,
        b"sha256=",
        Encoding::Base64,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![(
        SIGNATURE.into(),
        format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        ),
    )]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
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
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"typeform-webhook-secret";
    const BODY: &[u8] = br#"{"event_id":"01HF6R4Z2X8N3K7Q5W9M1B0C4D","event_type":"form_response","form_response":{"form_id":"lT4Z3j","token":"a3a12ec67a1365927098a606107fac15","submitted_at":"2023-11-14T22:13:20Z"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac typeform-webhook-secret -binary | base64`
    const SIG: &str = "sha256=Z+KIz1KaknqyHchpcUfLWiBv27CJ4mENTZ88xyhlLTk=";

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&scheme(&secrets), pairs, body, 0)
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        let signed = sign(SECRET, BODY);
        assert_eq!(signed, vec![(SIGNATURE.to_owned(), SIG.to_owned())]);
    }

    #[test]
    fn rejects_tampering_and_other_secrets() {
        let tampered = String::from_utf8_lossy(BODY).replace("lT4Z3j", "lT4Z3k");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], tampered.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], &[(SIGNATURE, SIG)], BODY),
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
        for bad in [
            "",
            "sha256=",
            // Base64 without the prefix, and the prefix GitHub-style hex uses.
            "Z+KIz1KaknqyHchpcUfLWiBv27CJ4mENTZ88xyhlLTk=",
            "sha1=Z+KIz1KaknqyHchpcUfLWiBv27CJ4mENTZ88xyhlLTk=",
            "sha256=%%%",
        ] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }
}
