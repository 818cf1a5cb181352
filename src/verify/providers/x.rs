//! X (Twitter) Account Activity API: `x-twitter-webhooks-signature:
//! sha256=<base64>`, HMAC-SHA256 of the body keyed by the app's consumer
//! secret (API secret key). Nothing is timestamped, and events carry no id:
//! the body's SHA-256 stands for one.
//!
//! Challenge-Response Check (CRC): when a webhook is registered, about every
//! hour after, and on demand, X sends `GET ?crc_token=<token>` and expects,
//! within three seconds, `{"response_token": "sha256=<base64>"}`, the
//! HMAC-SHA256 of the token under the same consumer secret (the source's
//! first secret). It is answered before verification, for anyone who asks,
//! so it signs whatever token it is given; hookgate therefore answers no
//! token that starts with `{` and accepts only deliveries whose body starts
//! with `{` (X's are JSON objects), so that no answer is ever a valid
//! signature of a body hookgate would accept.
//!
//! Source: https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks
//! (and https://docs.x.com/x-api/webhooks/quickstart)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding, Keys};
use crate::verify::{
    Challenge, Defaults, Handshake, Provider, Scheme, Signed, VerifyError, echoable,
};

const SIGNATURE: &str = "x-twitter-webhooks-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    // X sends no event id.
    event_id: "body-sha256",
    // The kind of event is the name of the body's array
    // (`tweet_create_events`, `favorite_events`, …), which no place names.
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    // The id is the digest of the signed body.
    replay_guard: false,
    tolerance: None,
    // The subscribed account the events are for.
    partition_key: Some("json:/for_user_id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha256=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Base64,
};

/// X's check: the body's HMAC, and the CRC answered with the same key.
#[derive(Debug)]
pub(super) struct X {
    keys: Keys,
    signature: HeaderSignature,
}

impl X {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        let keys = Keys::from_secrets(Algorithm::Sha256, secrets);
        Self {
            signature: HeaderSignature::new(
                keys.clone(),
                SHAPE.header,
                SHAPE.prefix.as_bytes(),
                SHAPE.encoding,
            ),
            keys,
        }
    }
}

impl Scheme for X {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signature.verify(request)?;
        // A body that is not a JSON object could be a CRC token signed on
        // request; X never sends one.
        if request.body.first() != Some(&b'{') {
            return Err(VerifyError::Mismatch);
        }
        Ok(())
    }

    /// The CRC: a GET with a `crc_token`, answered with its HMAC under the
    /// current secret.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::GET {
            return None;
        }
        let token = request.query_param("crc_token")?;
        let token = echoable(&token)?;
        if token.starts_with('{') {
            return None;
        }
        let mac = self.keys.mac_first(&[token.as_bytes()])?;
        Some(Handshake::json(
            "crc",
            serde_json::json!({ "response_token": format!("sha256={}", STANDARD.encode(mac)) }),
        ))
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(X::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
// A consumer secret is 50 letters and digits.
.with_example_secret(b"z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu")
.with_sample(|id, now| {
    serde_json::json!({
        "for_user_id": "2244994945",
        "tweet_create_events": [{
            "id_str": id,
            "text": "@XDevelopers hello from hookgate send",
            "user": { "id_str": "6253282", "screen_name": "XDevelopers" },
            "timestamp_ms": (now * 1000).to_string()
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::{header_hmac_vector, run};

    /// The consumer secret and token of X's CRC examples (the Python, Node
    /// and PHP samples its developer relations published with the guide).
    const SECRET: &[u8] = b"z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu";
    const CRC_TOKEN: &str = "9b4507b3-9040-4669-9ca3-6b94edb50553";
    /// `printf '%s' "$CRC_TOKEN" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64`
    const RESPONSE_TOKEN: &str = "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=";
    const BODY: &[u8] = br#"{"for_user_id":"2244994945","tweet_create_events":[{"created_at":"Wed Oct 10 20:19:24 +0000 2018","id_str":"1050118621198921728","text":"@XDevelopers hello from the Account Activity API","user":{"id_str":"6253282","screen_name":"XDevelopers"},"timestamp_ms":"1539202764000"}]}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64`
    const SIG: &str = "sha256=sfK/4ns20x+pynlmCBZHSH/gTfJs3Qr6rouQHRDtDR8=";

    fn x(secrets: &[&[u8]]) -> X {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        X::new(&secrets)
    }

    fn crc(scheme: &X, method: Method, query: &str) -> Option<Handshake> {
        crate::verify::test_support::challenge(scheme, method, &[], Some(query), b"")
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
        assert_eq!(run(&x(&[SECRET]), &[(SIGNATURE, SIG)], BODY, 0), Ok(()));
        assert_eq!(
            run(
                &x(&[b"old-secret".as_slice(), SECRET]),
                &[(SIGNATURE, SIG)],
                BODY,
                0
            ),
            Ok(())
        );
        assert_eq!(
            run(
                &x(&[b"old-secret".as_slice()]),
                &[(SIGNATURE, SIG)],
                BODY,
                0
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn the_crc_is_answered_with_the_hmac_of_its_token() {
        let answer = crc(
            &x(&[SECRET]),
            Method::GET,
            &format!("crc_token={CRC_TOKEN}"),
        )
        .expect("a handshake");
        assert_eq!(answer.kind, "crc");
        assert_eq!(
            answer.reply,
            Reply::Json(serde_json::json!({ "response_token": RESPONSE_TOKEN }))
        );
        // Under the current (first) secret while rotating.
        assert_eq!(
            crc(
                &x(&[SECRET, b"old-secret".as_slice()]),
                Method::GET,
                &format!("nonce=1&crc_token={CRC_TOKEN}")
            )
            .map(|h| h.reply),
            Some(Reply::Json(
                serde_json::json!({ "response_token": RESPONSE_TOKEN })
            ))
        );
    }

    #[test]
    fn nothing_else_is_a_crc() {
        let scheme = x(&[SECRET]);
        assert!(crc(&scheme, Method::POST, &format!("crc_token={CRC_TOKEN}")).is_none());
        assert!(crc(&scheme, Method::HEAD, &format!("crc_token={CRC_TOKEN}")).is_none());
        assert!(crc(&scheme, Method::GET, "token=abc").is_none());
        assert!(crc(&scheme, Method::GET, "crc_token=").is_none());
        assert!(crc(&scheme, Method::GET, "crc_token=a%0Ab").is_none());
    }

    #[test]
    fn a_crc_answer_never_signs_an_accepted_body() {
        let scheme = x(&[SECRET]);
        // The answer for a token is a valid signature of the token as a body.
        let answer = crc(&scheme, Method::GET, "crc_token=forged").expect("answered");
        let Reply::Json(json) = answer.reply else {
            panic!("a JSON answer");
        };
        let signature = json["response_token"].as_str().expect("a string");
        assert_eq!(
            run(&scheme, &[(SIGNATURE, signature)], b"forged", 0),
            Err(VerifyError::Mismatch)
        );
        // And no token that could be a body is answered.
        assert!(
            crc(
                &scheme,
                Method::GET,
                "crc_token=%7B%22for_user_id%22%3A%221%22%7D"
            )
            .is_none()
        );
    }
}
