//! SendGrid's signed Event Webhook:
//! `X-Twilio-Email-Event-Webhook-Signature: <base64 DER ECDSA signature>` with
//! `X-Twilio-Email-Event-Webhook-Timestamp: <unix>`, ECDSA P-256 with SHA-256
//! over `{timestamp}{body}`. The "secret" is the verification key SendGrid
//! shows: a base64 DER public key. SendGrid posts events in batches with no
//! batch id, so the body's SHA-256 stands for one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};

use crate::config::secret::Secret;
use crate::verify::{
    BuildError, Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp, verdict,
};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// A DER ECDSA P-256 signature is at most 72 bytes.
const MAX_SIGNATURE_BASE64: usize = 100;

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct SendGrid {
    keys: Vec<VerifyingKey>,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl SendGrid {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, Vec<BuildError>> {
        let keys = crate::verify::parse_keys(
            secrets,
            |key| {
                let der = STANDARD.decode(key.trim_ascii()).ok()?;
                VerifyingKey::from_public_key_der(&der).ok()
            },
            "a SendGrid verification key is a base64 DER P-256 public key, as the Event Webhook settings show it",
        )?;
        Ok(Self {
            keys,
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        })
    }
}

impl crate::verify::Scheme for SendGrid {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let timestamp = self.timestamp.required(request.headers)?;
        let malformed = VerifyError::MalformedHeader(SIGNATURE);
        let encoded = self.signature.required(request.headers)?;
        if encoded.len() > MAX_SIGNATURE_BASE64 {
            return Err(malformed);
        }
        let der = STANDARD.decode(encoded).map_err(|_| malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| malformed)?;
        // Signers in other languages may produce the high-S twin of a signature.
        let signature = signature.normalize_s().unwrap_or(signature);
        check_timestamp(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        let mut message = Vec::with_capacity(timestamp.len() + request.body.len());
        message.extend_from_slice(timestamp);
        message.extend_from_slice(request.body);
        verdict(
            self.keys
                .iter()
                .any(|key| key.verify(&message, &signature).is_ok()),
        )
    }
}

fn signing_key(pem: &[u8]) -> Result<SigningKey, String> {
    std::str::from_utf8(pem)
        .ok()
        .and_then(|pem| SigningKey::from_pkcs8_pem(pem.trim()).ok())
        .ok_or_else(|| "a SendGrid signing key is a P-256 private key in PKCS#8 PEM".to_owned())
}

/// Signs as SendGrid would; `secret` is a P-256 private key in PKCS#8 PEM.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Result<Vec<(String, String)>, String> {
    let key = signing_key(secret)?;
    let ts = now.to_string();
    let mut message = ts.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature: Signature = key.sign(&message);
    Ok(vec![
        (
            SIGNATURE.into(),
            STANDARD.encode(signature.to_der().as_bytes()),
        ),
        (TIMESTAMP.into(), ts),
    ])
}

/// The base64 DER public key of a PEM private key given to [`sign`].
pub(super) fn public_key(pem: &[u8]) -> Option<String> {
    let der = signing_key(pem)
        .ok()?
        .verifying_key()
        .to_public_key_der()
        .ok()?;
    Some(STANDARD.encode(der.as_bytes()))
}

/// A P-256 key made with `openssl ecparam -name prime256v1 -genkey`, for
/// examples and tests.
const EXAMPLE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgihgUcxKBx12sccfJ
5NKHRpsi35dBelxxPHPJZIVfuumhRANCAASOyQtkuuNktfLciY/S4Vr97PYQ1ZFs
owguSdpOc5UaRlfelgo3YKwO5mF4NA8XuzfhJ78Nx28syj2zuCDRfip2
-----END PRIVATE KEY-----";

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(SendGrid::new(input.secrets, input.tolerance)?)),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)?),
)
.with_verification_key(|pem| public_key(pem).map(String::into_bytes))
.with_example_secret(EXAMPLE_KEY.as_bytes())
.with_sample(|id, now| {
    serde_json::json!([{ "email": "someone@example.com", "event": "delivered", "sg_event_id": id, "timestamp": now }])
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// `openssl ecparam -name prime256v1 -genkey`, then
    /// `openssl ec -pubout -outform DER | base64`.
    const PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjskLZLrjZLXy3ImP0uFa/ez2ENWRbKMILknaTnOVGkZX3pYKN2CsDuZheDQPF7s34Se/DcdvLMo9s7gg0X4qdg==";
    const PRIVATE: &str = EXAMPLE_KEY;
    const BODY: &[u8] = br#"[{"email":"a@example.com","event":"delivered","sg_event_id":"ZGVsaXZlcmVkLTAtMjQ","timestamp":1700000000}]"#;
    /// `openssl dgst -sha256 -sign` over `1700000000` followed by BODY, in
    /// base64. Its S is the high one of the pair.
    const SIG: &str = "MEUCIHyIhlkAFRblL4REjyFE9tQ0P+t8FsGhSBhftBkGcqfJAiEAyGPN1S5ULVJh38L7/Z/B+k5A7Cm1zPueUT6/A9tp3Is=";

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let scheme = SendGrid::new(&[Secret::new(PUBLIC.as_bytes())], 300).expect("key");
        run(&scheme, &[(SIGNATURE, signature), (TIMESTAMP, timestamp)], body, now)
    }

    #[test]
    fn accepts_the_openssl_signature_and_its_own() {
        assert_eq!(check(SIG, "1700000000", BODY, 1_700_000_000), Ok(()));
        assert_eq!(public_key(PRIVATE.as_bytes()).as_deref(), Some(PUBLIC));
        let signed = sign(PRIVATE.as_bytes(), BODY, 1_700_000_000).expect("signs");
        assert_eq!(
            check(&signed[0].1, &signed[1].1, BODY, 1_700_000_000),
            Ok(())
        );
    }

    #[test]
    fn rejects_forgeries_replays_and_bad_keys() {
        assert_eq!(
            check(SIG, "1700000001", BODY, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, "1700000000", b"[]", 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, "1700000000", BODY, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check("bm90IGEgc2lnbmF0dXJl", "1700000000", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let err = SendGrid::new(&[Secret::new(b"not-a-key".as_slice())], 300).unwrap_err();
        assert_eq!(err[0].field, "secrets[0]");
    }
}
