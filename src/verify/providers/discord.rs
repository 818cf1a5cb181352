//! Discord interactions: `X-Signature-Ed25519: <hex>` with
//! `X-Signature-Timestamp: <unix>`, an Ed25519 signature of `{timestamp}{body}`
//! by the application's key. The "secret" is the application's public key, in
//! hex as the developer portal shows it. Signatures are checked strictly (no
//! malleable or small-order forms).

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::{
    BuildError, Defaults, Handshake, Provider, SchemeHeader, Signed, VerifyError, check_timestamp,
    verdict,
};

const SIGNATURE: &str = "X-Signature-Ed25519";
const TIMESTAMP: &str = "X-Signature-Timestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: None,
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct Discord {
    keys: Vec<VerifyingKey>,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl Discord {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, Vec<BuildError>> {
        let keys = crate::verify::parse_keys(
            secrets,
            |key| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(key.trim_ascii(), &mut bytes).ok()?;
                VerifyingKey::from_bytes(&bytes).ok()
            },
            "a Discord public key is 64 hex digits (the application's \"Public Key\")",
        )?;
        Ok(Self {
            keys,
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        })
    }
}

impl crate::verify::Scheme for Discord {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let timestamp = self.timestamp.required(request.headers)?;
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(self.signature.required(request.headers)?, &mut bytes)
            .map_err(|_| VerifyError::MalformedHeader(SIGNATURE))?;
        let signature = Signature::from_bytes(&bytes);
        check_timestamp(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        let mut message = Vec::with_capacity(timestamp.len() + request.body.len());
        message.extend_from_slice(timestamp);
        message.extend_from_slice(request.body);
        verdict(
            self.keys
                .iter()
                .any(|key| key.verify_strict(&message, &signature).is_ok()),
        )
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        handshake(body)
    }
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: u8,
}

/// Discord's PING (interaction type 1), sent when the endpoint URL is saved
/// and now and then after: answer PONG (type 1).
pub(super) fn handshake(body: &[u8]) -> Option<Handshake> {
    let interaction: Interaction = serde_json::from_slice(body).ok()?;
    (interaction.kind == 1).then(|| Handshake::json("ping", serde_json::json!({ "type": 1 })))
}

/// Signs as Discord would; `secret` is the 32-byte private seed in hex.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Result<Vec<(String, String)>, String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(secret.trim_ascii(), &mut seed)
        .map_err(|_| "a Discord signing key is a 32-byte seed in 64 hex digits".to_owned())?;
    let ts = now.to_string();
    let mut message = ts.as_bytes().to_vec();
    message.extend_from_slice(body);
    let signature = SigningKey::from_bytes(&seed).sign(&message);
    Ok(vec![
        (SIGNATURE.into(), hex::encode(signature.to_bytes())),
        (TIMESTAMP.into(), ts),
    ])
}

/// The public key, in hex, of a seed given to [`sign`].
pub(super) fn public_key(seed_hex: &[u8]) -> Option<String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex.trim_ascii(), &mut seed).ok()?;
    Some(hex::encode(
        SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
    ))
}

/// An ed25519 seed in hex (`openssl genpkey -algorithm ed25519`), for
/// examples and tests.
const EXAMPLE_SEED: &str = "6c8228bb0814bb9c0b08761f983d2f718695a65cf218c08f2daf91c12d2b0845";

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Discord::new(input.secrets, input.tolerance)?)),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)?),
)
.with_verification_key(|seed_hex| public_key(seed_hex).map(String::into_bytes))
.with_example_secret(EXAMPLE_SEED.as_bytes())
.with_sample(|id, _now| serde_json::json!({ "type": 2, "id": id, "data": { "name": "hello" } }));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;
    use crate::verify::Reply;

    /// `openssl genpkey -algorithm ed25519`; the raw public key in hex.
    const PUBLIC: &str = "d191302a9a1d27db122c554a6c97c0ab4ecfd9eb8190abd9d27a193b2d2e2965";
    const SEED: &str = EXAMPLE_SEED;
    const BODY: &[u8] = br#"{"type":1,"id":"1187422411428020234","application_id":"1000"}"#;
    /// `openssl pkeyutl -sign -rawin` over `1700000000` followed by BODY.
    const SIG: &str = "1ad3df4580c339f298b08b382c40891a7d8bbe7d1295ce4d0650afd321054d6a399b2221b3f2a83decd2f8b06aef854fa158677481b70cba6ba26c7549335407";

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let scheme = Discord::new(&[Secret::new(PUBLIC.as_bytes())], 300).expect("key");
        run(&scheme, &[(SIGNATURE, signature), (TIMESTAMP, timestamp)], body, now)
    }

    #[test]
    fn accepts_the_openssl_signature() {
        assert_eq!(check(SIG, "1700000000", BODY, 1_700_000_000), Ok(()));
        assert_eq!(public_key(SEED.as_bytes()).as_deref(), Some(PUBLIC));
    }

    #[test]
    fn a_ping_is_answered_with_pong_and_commands_are_not() {
        assert_eq!(
            handshake(BODY).map(|h| h.reply),
            Some(Reply::Json(serde_json::json!({ "type": 1 })))
        );
        assert!(handshake(br#"{"type":2,"id":"1"}"#).is_none());
    }

    #[test]
    fn rejects_forgeries_replays_and_bad_keys() {
        assert_eq!(
            check(SIG, "1700000001", BODY, 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, "1700000000", b"{}", 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, "1700000000", BODY, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&SIG[2..], "1700000000", BODY, 1_700_000_000),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let err = Discord::new(&[Secret::new(b"not-a-key".as_slice())], 300).unwrap_err();
        assert_eq!(err[0].field, "secrets[0]");
    }
}
