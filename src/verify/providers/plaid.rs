//! Plaid: `Plaid-Verification: <JWT>`, a JWS signed with ES256 (ECDSA P-256,
//! SHA-256; the signature raw `r || s`, base64url) whose header names the key
//! (`kid`) and whose claims are `iat` (within the tolerance, 5 minutes) and
//! `request_body_sha256`, the hex SHA-256 of the exact body. Any `alg` but
//! `ES256` is refused. hookgate fetches nothing, so each secret is Plaid's
//! verification key as `/webhook_verification_key/get` returns it: a JWK, that
//! response itself, or a JWK set `{"keys": [...]}`; keys are chosen by `kid`.
//! Plaid sends no event id and its bodies repeat, so the SHA-256 of the
//! token's signing input (`header.claims`, new in every delivery: the claims
//! hold `iat`) stands for one.
//!
//! An ECDSA signature has a twin, `(r, n - s)`, that verifies as well; signers
//! such as Go's produce the high-S one about half the time, so hookgate
//! accepts both rather than refuse real deliveries. The id is therefore not
//! the digest of the whole token, whose twin would be a second id for the
//! same signed delivery, but of the part the signature covers.
//!
//! Source: https://plaid.com/docs/api/webhooks/webhook-verification/

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::secret::Secret;
use crate::verify::{BuildError, Defaults, Provider, SchemeHeader, Signed, VerifyError, verdict};

const HEADER: &str = "Plaid-Verification";
const ALG: &str = "ES256";
/// The `kid` of the keys `hookgate send` signs with, and of their JWK.
const EXAMPLE_KID: &str = "example-kid";
/// Plaid's tokens are a few hundred bytes; a longer header is refused undecoded.
const MAX_TOKEN_LEN: usize = 4096;

pub(super) const DEFAULTS: Defaults = Defaults {
    // Plaid's bodies carry no id and repeat byte for byte (every
    // SYNC_UPDATES_AVAILABLE of an item is the same): the id is the digest
    // of the delivery's signed header and claims, new in every delivery, so
    // no update is taken for a repeat of an earlier one, and a token's
    // high-S twin is the same id.
    event_id: "jws-sha256:Plaid-Verification",
    event_type: Some("json:/webhook_type"),
    forward_headers: &[],
    timestamped: true,
    // The id and the body's digest are both signed.
    replay_guard: false,
    tolerance: Some(std::time::Duration::from_secs(300)),
    // The Item (`item_id`): one bank connection's events in order.
    partition_key: Some("json:/item_id"),
};

/// One verification key and the `kid` tokens name it by.
#[derive(Debug)]
struct Key {
    kid: String,
    key: VerifyingKey,
}

#[derive(Debug)]
pub(super) struct Plaid {
    keys: Vec<Key>,
    tolerance: u64,
    header: SchemeHeader,
}

impl Plaid {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, Vec<BuildError>> {
        let keys = crate::verify::parse_keys(
            secrets,
            parse_secret,
            "a Plaid verification key is a P-256 JWK (kty \"EC\", crv \"P-256\", x, y and kid; not expired), the /webhook_verification_key/get response that holds one, or a JWK set {\"keys\": [...]} of them",
        )?;
        Ok(Self {
            keys: keys.into_iter().flatten().collect(),
            tolerance,
            header: SchemeHeader::new(HEADER),
        })
    }
}

/// A JWK as Plaid returns it; `created_at` and other members are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    kid: String,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    /// Set once Plaid has retired the key.
    expired_at: Option<i64>,
}

/// What a secret may hold. Untagged: a set has `keys`, Plaid's response
/// `key`, a JWK neither.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeySecret {
    Set { keys: Vec<Jwk> },
    Response { key: Jwk },
    One(Jwk),
}

fn parse_secret(text: &[u8]) -> Option<Vec<Key>> {
    let jwks = match serde_json::from_slice::<KeySecret>(text.trim_ascii()).ok()? {
        KeySecret::Set { keys } => keys,
        KeySecret::Response { key } => vec![key],
        KeySecret::One(jwk) => vec![jwk],
    };
    if jwks.is_empty() {
        return None;
    }
    jwks.into_iter().map(parse_jwk).collect()
}

fn parse_jwk(jwk: Jwk) -> Option<Key> {
    if jwk.kty != "EC"
        || jwk.crv != "P-256"
        || jwk.alg.as_deref().is_some_and(|alg| alg != ALG)
        || jwk.usage.as_deref().is_some_and(|usage| usage != "sig")
        || jwk.expired_at.is_some()
    {
        return None;
    }
    // The uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
    let mut point = [0u8; 65];
    point[0] = 0x04;
    let x = URL_SAFE_NO_PAD.decode(jwk.x).ok()?;
    let y = URL_SAFE_NO_PAD.decode(jwk.y).ok()?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    point[1..33].copy_from_slice(&x);
    point[33..].copy_from_slice(&y);
    Some(Key {
        kid: jwk.kid,
        key: VerifyingKey::from_sec1_bytes(&point).ok()?,
    })
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
    /// Extensions the verifier must understand (RFC 7515): none are.
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

impl crate::verify::Scheme for Plaid {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let malformed = VerifyError::MalformedHeader(HEADER);
        let token = self.header.required(request.headers)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed);
        }
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed);
        };
        let header: JoseHeader = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(malformed)?;
        if header.alg != ALG || header.crit.is_some() {
            return Err(malformed);
        }
        let kid = header.kid.ok_or(malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .ok()
            .and_then(|raw| Signature::from_slice(&raw).ok())
            .ok_or(malformed)?;
        // Signers in other languages may produce the high-S twin of a signature.
        let signature = signature.normalize_s().unwrap_or(signature);
        // What is signed: `header.claims`, as received.
        let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
        verdict(
            self.keys
                .iter()
                .filter(|key| key.kid == kid)
                .any(|key| key.key.verify(signed, &signature).is_ok()),
        )?;
        // Signed by Plaid: what the claims say can be believed.
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(claims_b64)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(malformed)?;
        if request.now.abs_diff(claims.iat) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        let actual = hex::encode(Sha256::digest(request.body));
        let claimed = claims.request_body_sha256.to_ascii_lowercase();
        verdict(actual.as_bytes().ct_eq(claimed.as_bytes()).into())
    }
}

fn signing_key(pem: &[u8]) -> Result<SigningKey, String> {
    std::str::from_utf8(pem)
        .ok()
        .and_then(|pem| SigningKey::from_pkcs8_pem(pem.trim()).ok())
        .ok_or_else(|| "a Plaid signing key is a P-256 private key in PKCS#8 PEM".to_owned())
}

/// Signs as Plaid would, with `kid` [`EXAMPLE_KID`]; `secret` is a P-256
/// private key in PKCS#8 PEM.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Result<Vec<(String, String)>, String> {
    let key = signing_key(secret)?;
    let header = serde_json::json!({ "alg": ALG, "kid": EXAMPLE_KID, "typ": "JWT" });
    let claims = serde_json::json!({
        "iat": now,
        "request_body_sha256": hex::encode(Sha256::digest(body)),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature: Signature = key.sign(signing_input.as_bytes());
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    );
    Ok(vec![(HEADER.into(), token)])
}

/// The public JWK (with `kid` [`EXAMPLE_KID`]) of a PEM private key given to
/// [`sign`], as a source configures it.
pub(super) fn public_jwk(pem: &[u8]) -> Option<String> {
    let point = signing_key(pem)
        .ok()?
        .verifying_key()
        .to_encoded_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x()?);
    let y = URL_SAFE_NO_PAD.encode(point.y()?);
    let jwk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "alg": ALG,
        "use": "sig",
        "kid": EXAMPLE_KID,
        "x": x,
        "y": y,
    });
    Some(jwk.to_string())
}

/// A P-256 key made with
/// `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`,
/// for examples and tests.
const EXAMPLE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBk3LXIMEW6YtZVQI
pedUR2o3d1m986PKdetPLC03PFShRANCAARU5Ewz4iXKzqYhJFwGGCyWInaPk8um
1IMGN9S93Ltf/dby3fyTIuDHMRV1P1m0HipA8bVJM+eYuCmORyiEnpAA
-----END PRIVATE KEY-----";

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Plaid::new(input.secrets, input.tolerance)?)),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)?),
)
.with_verification_key(|pem| public_jwk(pem).map(String::into_bytes))
.with_example_secret(EXAMPLE_KEY.as_bytes())
.with_sample(|id, _now| {
    serde_json::json!({
        "webhook_type": "TRANSACTIONS",
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "item_id": id,
        "initial_update_complete": true,
        "historical_update_complete": false,
        "environment": "sandbox"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// Made with `openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`;
    /// x and y are the last 64 bytes of `openssl pkey -pubout -outform DER`, in base64url.
    const JWK: &str = r#"{"alg":"ES256","created_at":1560466143,"crv":"P-256","expired_at":null,"kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","kty":"EC","use":"sig","x":"9-oBus4JPnK-MowCqVJ3fhwFePsmfC5HxBa_nj4LJP0","y":"3YE8urEV7MeSn9jCBPerJHe31WLDUUgZxoM1zLb3CQA"}"#;
    /// The x and y of [`EXAMPLE_KEY`], found the same way.
    const EXAMPLE_X: &str = "VORMM-Ilys6mISRcBhgsliJ2j5PLptSDBjfUvdy7X_0";
    const BODY: &[u8] = br#"{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"wz666MBjYWTp2PDzzggYhM6oWWmBb","initial_update_complete":true,"historical_update_complete":false,"environment":"production"}"#;
    const NOW: i64 = 1_700_000_000;
    /// Made outside Rust: header `{"alg":"ES256","kid":"bfbd5111-…","typ":"JWT"}`
    /// and claims `{"iat":1700000000,"request_body_sha256":"<sha256sum of BODY>"}`,
    /// each base64url; their `h.c` signed with
    /// `openssl dgst -sha256 -sign key.pem`, the DER signature's r and s written
    /// as 32 bytes each, base64url (python3 stdlib); checked with python3's
    /// `cryptography` against the JWK's x and y.
    const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImJmYmQ1MTExLThlMzMtNDY0My04Y2VkLWIyZTY0MmE3MmYzYyIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsInJlcXVlc3RfYm9keV9zaGEyNTYiOiI2MTQ1NDdjYzVhODZlNGI2YWZhNDFlNjU0MmE2YjBkNTcxNDYxMDdmZjg2YmZlMjhkOWQyYjM1YmIwNzZmMTgxIn0.8TxLV9VqfPsnVVI7rsbSF1R4DepCt4GxFfAYHz-W79QIMvHmkHgQ6xzX1zvMmdtVI3dMvdlBF5gAQuewU5FzJg";

    fn plaid(secrets: &[&str]) -> Plaid {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(s.as_bytes())).collect();
        Plaid::new(&secrets, 300).expect("keys")
    }

    fn check(token: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(&plaid(&[JWK]), &[(HEADER, token)], body, now)
    }

    /// TOKEN with its header replaced (the signature then no longer matters).
    fn with_header(header: &str) -> String {
        let rest = TOKEN.split_once('.').expect("a JWT").1;
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn accepts_the_token_made_with_openssl() {
        assert_eq!(check(TOKEN, BODY, NOW), Ok(()));
        // The iat may be up to the tolerance old, or ahead.
        assert_eq!(check(TOKEN, BODY, NOW + 300), Ok(()));
        assert_eq!(check(TOKEN, BODY, NOW - 300), Ok(()));
    }

    #[test]
    fn rejects_other_bodies_stale_tokens_and_forged_claims() {
        assert_eq!(check(TOKEN, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(TOKEN, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        // A changed claim (iat 1700000001) breaks the signature.
        let (header, rest) = TOKEN.split_once('.').expect("a JWT");
        let signature = rest.split_once('.').expect("a JWT").1;
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"iat":1700000001,"request_body_sha256":"{}"}}"#,
            hex::encode(Sha256::digest(BODY))
        ));
        assert_eq!(
            check(&format!("{header}.{claims}.{signature}"), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // Another key's JWK.
        let other = public_jwk(EXAMPLE_KEY.as_bytes())
            .expect("a JWK")
            .replace(EXAMPLE_KID, "bfbd5111-8e33-4643-8ced-b2e642a72f3c");
        assert_eq!(
            run(&plaid(&[other.as_str()]), &[(HEADER, TOKEN)], BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn only_es256_with_a_known_kid_is_accepted() {
        for header in [
            r#"{"alg":"none","kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","typ":"JWT"}"#,
            r#"{"alg":"ES256","typ":"JWT"}"#,
            r#"{"alg":"ES256","kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","crit":["exp"]}"#,
        ] {
            assert_eq!(
                check(&with_header(header), BODY, NOW),
                Err(VerifyError::MalformedHeader(HEADER)),
                "{header}"
            );
        }
        assert_eq!(
            check(&with_header(r#"{"alg":"ES256","kid":"other"}"#), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        assert_eq!(
            run(&plaid(&[JWK]), &[], BODY, NOW),
            Err(VerifyError::MissingHeader(HEADER))
        );
        let (signing_input, _) = TOKEN.rsplit_once('.').expect("a JWT");
        let four_parts = format!("{TOKEN}.extra");
        let short_signature = format!("{signing_input}.AAAA");
        let too_long = format!("{TOKEN}{}", "A".repeat(MAX_TOKEN_LEN));
        for token in [
            "not a jwt",
            signing_input,
            four_parts.as_str(),
            short_signature.as_str(),
            too_long.as_str(),
        ] {
            assert_eq!(
                check(token, BODY, NOW),
                Err(VerifyError::MalformedHeader(HEADER)),
                "{token}"
            );
        }
    }

    /// TOKEN with its signature `(r, s)` written as its twin `(r, n - s)`.
    fn high_s_twin(token: &str) -> String {
        let (signing_input, signature) = token.rsplit_once('.').expect("a JWT");
        let raw = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let signature = Signature::from_slice(&raw).expect("r || s");
        let (r, s) = signature.split_scalars();
        let twin = Signature::from_scalars(r, -s).expect("a signature");
        assert_ne!(twin, signature);
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(twin.to_bytes())
        )
    }

    #[test]
    fn a_tokens_high_s_twin_verifies_and_is_the_same_event() {
        let twin = high_s_twin(TOKEN);
        assert_eq!(check(&twin, BODY, NOW), Ok(()));
        let event_id = |token: &str| {
            crate::pipeline::locate::Locator::parse(DEFAULTS.event_id)
                .expect("parses")
                .extract(
                    &crate::verify::test_support::headers(&[(HEADER, token)]),
                    BODY,
                )
                .expect("an id")
        };
        assert_eq!(event_id(&twin), event_id(TOKEN));
        // A token signed anew (another iat) is another delivery.
        let resigned = sign(EXAMPLE_KEY.as_bytes(), BODY, NOW + 1).expect("signs");
        assert_ne!(event_id(&resigned[0].1), event_id(TOKEN));
    }

    #[test]
    fn a_jwk_set_holds_keys_while_plaid_rotates_them() {
        let example = public_jwk(EXAMPLE_KEY.as_bytes()).expect("a JWK");
        assert!(example.contains(EXAMPLE_X), "{example}");
        let set = format!(r#"{{"keys":[{example},{JWK}]}}"#);
        let response = format!(r#"{{"key":{JWK},"request_id":"HvfCtrDLG1ihcp7"}}"#);
        for secrets in [
            vec![set.as_str()],
            vec![example.as_str(), response.as_str()],
        ] {
            let both = plaid(&secrets);
            assert_eq!(run(&both, &[(HEADER, TOKEN)], BODY, NOW), Ok(()));
            let signed = sign(EXAMPLE_KEY.as_bytes(), BODY, NOW).expect("signs");
            assert_eq!(
                run(&both, &[(HEADER, signed[0].1.as_str())], BODY, NOW),
                Ok(())
            );
        }
    }

    #[test]
    fn unusable_keys_are_build_errors_naming_the_secret() {
        let expired = JWK.replace(r#""expired_at":null"#, r#""expired_at":1700000000"#);
        let wrong_curve = JWK.replace("P-256", "P-384");
        for bad in [
            "not json",
            r#"{"keys":[]}"#,
            expired.as_str(),
            wrong_curve.as_str(),
            r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"k"}"#,
        ] {
            let secrets = [Secret::new(JWK.as_bytes()), Secret::new(bad.as_bytes())];
            let err = Plaid::new(&secrets, 300).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}");
            assert_eq!(err[0].field, "secrets[1]", "{bad}");
        }
    }
}
