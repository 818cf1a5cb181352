//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed by the
//! app's client secret. Nothing is timestamped.

use super::Provider;
use super::Defaults;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "X-Hub-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/topic"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha1, secrets),
        SIGNATURE,
        b"sha1=",
        Encoding::Hex,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha1, secret, &[body]);
    vec![(SIGNATURE.into(), format!("sha1={}", hex::encode(mac)))]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const BODY: &[u8] = br#"{"type":"notification_event","id":"notif_ccd8a4d2-c5cc-46ee-94c7-f8f3d4e0c2c1","topic":"conversation.user.created"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac intercom-client-secret`
    const SHA1: &str = "9c7924ecd0682006f8e663c2a7f2678ce061d9d2";

    fn check(header: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&scheme(&[Secret::new(b"intercom-client-secret".as_slice())]), &[(SIGNATURE, header)], body, 0)
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(&format!("sha1={SHA1}"), BODY), Ok(()));
    }

    #[test]
    fn rejects_tampered_and_malformed_deliveries() {
        assert_eq!(
            check(&format!("sha1={SHA1}"), b"{}"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&format!("sha256={SHA1}"), BODY),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }
}
