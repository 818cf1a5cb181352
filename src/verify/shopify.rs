//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.

use base64::Engine as _;

use super::Provider;
use super::Defaults;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-Shopify-Webhook-Id",
    event_type: Some("header:X-Shopify-Topic"),
    forward_headers: &[
        "X-Shopify-Topic",
        "X-Shopify-Shop-Domain",
        "X-Shopify-API-Version",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
    ],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha256, secrets),
        SIGNATURE,
        b"",
        Encoding::Base64,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![
        (
            SIGNATURE.into(),
            base64::engine::general_purpose::STANDARD.encode(mac),
        ),
        ("X-Shopify-Webhook-Id".into(), event_id.into()),
        ("X-Shopify-Topic".into(), "orders/create".into()),
    ]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id)),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    /// `printf '%s' BODY | openssl dgst -sha256 -hmac hush -binary | base64`
    const VECTOR: &str = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=";

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&scheme(&[Secret::new(b"hush".as_slice())]), &[(SIGNATURE, signature)], body, 0)
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(VECTOR, BODY), Ok(()));
    }

    #[test]
    fn rejects_tampering_and_malformed_headers() {
        assert_eq!(check(VECTOR, b"{}"), Err(VerifyError::Mismatch));
        assert_eq!(
            check("D0UMXmhjwBRi4y66TmhJrDlhQABD", BODY),
            Err(VerifyError::Mismatch)
        );
        for bad in [
            "",
            "not base64!",
            "0f450c5e6863c01462e32eba4e6849ac39616000",
        ] {
            let got = check(bad, BODY);
            assert!(
                matches!(
                    got,
                    Err(VerifyError::MalformedHeader(_)) | Err(VerifyError::Mismatch)
                ),
                "{bad:?}: {got:?}"
            );
            assert!(got.is_err());
        }
    }
}
