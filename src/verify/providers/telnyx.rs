//! Telnyx (API v2 webhooks): `telnyx-signature-ed25519: <base64>` with
//! `telnyx-timestamp: <unix seconds>`, an Ed25519 signature of
//! `{timestamp}|{body}` by Telnyx's key. The source's "secret" is the
//! account's public key, in base64 as Mission Control shows it (the raw 32
//! bytes; a DER SubjectPublicKeyInfo is taken too). Signatures are checked
//! strictly (no malleable or small-order forms). Telnyx's SDKs refuse
//! timestamps more than 300 seconds away; so does hookgate. The event id is
//! the signed body's `data.id`, the same on every attempt (`meta.attempt`
//! counts them).
//!
//! Source: https://developers.telnyx.com/docs/development/api-fundamentals/webhooks
//! (tolerance: the Node, Python and Ruby SDKs' webhook verification)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::config::secret::Secret;
use crate::verify::{
    BuildError, Defaults, Provider, Scheme, SchemeHeader, Signed, VerifyError, check_timestamp,
    verdict,
};

const SIGNATURE: &str = "telnyx-signature-ed25519";
const TIMESTAMP: &str = "telnyx-timestamp";
/// What precedes the 32 key bytes in an Ed25519 public key's DER
/// SubjectPublicKeyInfo.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/data/id",
    event_type: Some("json:/data/event_type"),
    forward_headers: &[],
    timestamped: true,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The call (its session, shared by its legs) or, for messaging, the
    // message.
    partition_key: Some("json:/data/payload/call_session_id | json:/data/payload/id"),
};

#[derive(Debug)]
pub(super) struct Telnyx {
    keys: Vec<VerifyingKey>,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl Telnyx {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, Vec<BuildError>> {
        let keys = crate::verify::parse_keys(
            secrets,
            public_key_from_base64,
            "a Telnyx public key is 32 bytes in base64 (Mission Control's \"Public Key\")",
        )?;
        Ok(Self {
            keys,
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        })
    }
}

/// The key of a base64 text: 32 raw bytes, or their DER SubjectPublicKeyInfo.
fn public_key_from_base64(text: &[u8]) -> Option<VerifyingKey> {
    let mut bytes = [0u8; 48];
    let len = STANDARD.decode_slice(text.trim_ascii(), &mut bytes).ok()?;
    let raw = match len {
        32 => &bytes[..32],
        44 if bytes[..12] == SPKI_PREFIX => &bytes[12..44],
        _ => return None,
    };
    VerifyingKey::from_bytes(raw.try_into().ok()?).ok()
}

impl Scheme for Telnyx {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let timestamp = self.timestamp.required(request.headers)?;
        // Room for the decoder's estimate of a 64-byte signature's base64.
        let mut decoded = [0u8; 96];
        let len = STANDARD
            .decode_slice(self.signature.required(request.headers)?, &mut decoded)
            .map_err(|_| VerifyError::MalformedHeader(SIGNATURE))?;
        let bytes: [u8; 64] = decoded[..len]
            .try_into()
            .map_err(|_| VerifyError::MalformedHeader(SIGNATURE))?;
        let signature = Signature::from_bytes(&bytes);
        check_timestamp(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        let mut message = Vec::with_capacity(timestamp.len() + 1 + request.body.len());
        message.extend_from_slice(timestamp);
        message.push(b'|');
        message.extend_from_slice(request.body);
        verdict(
            self.keys
                .iter()
                .any(|key| key.verify_strict(&message, &signature).is_ok()),
        )
    }
}

/// The 32-byte Ed25519 seed of a base64 signing secret.
fn seed(secret: &[u8]) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 33];
    let len = STANDARD
        .decode_slice(secret.trim_ascii(), &mut bytes)
        .ok()?;
    bytes[..len].try_into().ok()
}

/// Signs as Telnyx would; `secret` is a 32-byte Ed25519 seed in base64.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Result<Vec<(String, String)>, String> {
    let seed = seed(secret)
        .ok_or_else(|| "a Telnyx signing key is a 32-byte Ed25519 seed in base64".to_owned())?;
    let timestamp = now.to_string();
    let mut message = timestamp.as_bytes().to_vec();
    message.push(b'|');
    message.extend_from_slice(body);
    let signature = SigningKey::from_bytes(&seed).sign(&message);
    Ok(vec![
        (SIGNATURE.into(), STANDARD.encode(signature.to_bytes())),
        (TIMESTAMP.into(), timestamp),
    ])
}

/// The public key, in base64, of a seed given to [`sign`].
pub(super) fn public_key(secret: &[u8]) -> Option<String> {
    let seed = seed(secret)?;
    Some(STANDARD.encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes()))
}

/// An Ed25519 seed in base64 (`openssl genpkey -algorithm ed25519`, the last
/// 32 bytes of its DER), for examples and tests.
const EXAMPLE_SEED: &str = "fSysK6SzdPtXo4ECu9KIBgogxXKFusL75gDMHImBElA=";

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Telnyx::new(input.secrets, input.tolerance)?)),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)?),
)
.with_verification_key(|seed| public_key(seed).map(String::into_bytes))
.with_example_secret(EXAMPLE_SEED.as_bytes())
.with_sample(|id, _now| {
    serde_json::json!({
        "data": {
            "event_type": "message.received",
            "id": id,
            "occurred_at": "2024-01-15T20:16:07.588+00:00",
            "payload": {
                "direction": "inbound",
                "from": { "phone_number": "+13125550001" },
                "id": "84cca175-9755-4859-b67f-4730d7f58aa3",
                "record_type": "message",
                "text": "hello from hookgate send",
                "to": [{ "phone_number": "+17735550002", "status": "webhook_delivered" }],
                "type": "SMS"
            },
            "record_type": "event"
        },
        "meta": { "attempt": 1, "delivered_to": "https://hooks.example.com/webhooks/telnyx" }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The public key of EXAMPLE_SEED: `openssl pkey -in key.pem -pubout
    /// -outform DER | tail -c 32 | base64`.
    const PUBLIC: &str = "VxgEDATXA9TUjzqxE0zQqNSXPrx8YrjjwehUzNvjRKE=";
    const BODY: &[u8] = br#"{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4","occurred_at":"2024-01-15T20:16:07.588+00:00","payload":{"direction":"inbound","from":{"phone_number":"+13125550001"},"id":"84cca175-9755-4859-b67f-4730d7f58aa3","record_type":"message","text":"Hello from Telnyx!","to":[{"phone_number":"+17735550002","status":"webhook_delivered"}],"type":"SMS"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://hooks.example.com/webhooks/telnyx"}}"#;
    const TS: &str = "1700000000";
    /// `(printf '1700000000|'; printf '%s' "$BODY") | openssl pkeyutl -sign
    /// -inkey key.pem -rawin | base64 -w0`; the official Node (`telnyx` 7.24.0)
    /// and Python (`telnyx` 4.189.0) SDKs verify it.
    const SIG: &str =
        "tqXU4xDNR0Pw677iAiuyEEBG7jGOkpmj/OiVTVOvvGRPmUeS8kFmdzp+dObWH8PQ1e0h1NaYy8ID8KIaWWZPAw==";

    fn telnyx(keys: &[&str]) -> Telnyx {
        let keys: Vec<Secret> = keys.iter().map(|k| Secret::new(k.as_bytes())).collect();
        Telnyx::new(&keys, 300).expect("keys")
    }

    fn check(keys: &[&str], sig: &str, ts: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &telnyx(keys),
            &[(SIGNATURE, sig), (TIMESTAMP, ts)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_vector_within_300_seconds() {
        assert_eq!(check(&[PUBLIC], SIG, TS, BODY, 1_700_000_000), Ok(()));
        assert_eq!(check(&[PUBLIC], SIG, TS, BODY, 1_700_000_300), Ok(()));
        assert_eq!(
            check(&[PUBLIC], SIG, TS, BODY, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&[PUBLIC], SIG, TS, BODY, 1_699_999_699),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(public_key(EXAMPLE_SEED.as_bytes()).as_deref(), Some(PUBLIC));
    }

    #[test]
    fn the_der_form_of_the_key_and_a_second_key_verify() {
        // `openssl pkey -in key.pem -pubout -outform DER | base64`
        let der = "MCowBQYDK2VwAyEAVxgEDATXA9TUjzqxE0zQqNSXPrx8YrjjwehUzNvjRKE=";
        assert_eq!(check(&[der], SIG, TS, BODY, 1_700_000_000), Ok(()));
        let other = public_key(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("a key");
        assert_eq!(
            check(&[other.as_str(), PUBLIC], SIG, TS, BODY, 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            check(&[other.as_str()], SIG, TS, BODY, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampering_and_malformed_headers() {
        let tampered = String::from_utf8_lossy(BODY).replace("Hello", "Jello");
        assert_eq!(
            check(&[PUBLIC], SIG, TS, tampered.as_bytes(), 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[PUBLIC], SIG, "1700000001", BODY, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        for bad in ["", "not base64!", &SIG[4..], "AAAA"] {
            assert_eq!(
                check(&[PUBLIC], bad, TS, BODY, 1_700_000_000),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&[PUBLIC], SIG, "2023-11-14T22:13:20Z", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
        assert_eq!(
            run(&telnyx(&[PUBLIC]), &[(TIMESTAMP, TS)], BODY, 1_700_000_000),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            run(&telnyx(&[PUBLIC]), &[(SIGNATURE, SIG)], BODY, 1_700_000_000),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn a_key_that_is_not_one_stops_the_source() {
        for bad in [
            "not-a-key",
            "VxgEDATXA9TUjzqxE0zQqNSXPrx8YrjjwehUzNvj",
            // A Discord key, in hex.
            "d191302a9a1d27db122c554a6c97c0ab4ecfd9eb8190abd9d27a193b2d2e2965",
        ] {
            let err = Telnyx::new(&[Secret::new(bad.as_bytes())], 300).unwrap_err();
            assert_eq!(err[0].field, "secrets[0]", "{bad}");
        }
    }

    #[test]
    fn what_it_signs_verifies() {
        let headers = sign(EXAMPLE_SEED.as_bytes(), BODY, 1_700_000_000).expect("signs");
        assert_eq!(headers[0], (SIGNATURE.to_owned(), SIG.to_owned()));
        assert_eq!(headers[1], (TIMESTAMP.to_owned(), TS.to_owned()));
        assert!(sign(b"short", BODY, 0).is_err());
    }
}
