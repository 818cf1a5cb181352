//! monday.com: `Authorization: <JWT>`, a JWS signed HS256 (HMAC-SHA256 of
//! `header.claims`, base64url) with the app's Signing Secret; any other `alg`
//! is refused. Only webhooks created with an app's token carry it. The claims
//! hold `exp` (checked: a token is refused from `exp` on, as `jsonwebtoken`
//! does), `iat` (refused when further ahead of our clock than the tolerance)
//! and `aud`, the app's endpoint URL, which must equal the source's
//! `public_url` when one is set.
//!
//! The token does not cover the body: monday.com signs no digest of it. So
//! the body is not authenticated, and within a token's lifetime whoever has
//! seen one delivery's `Authorization` can send any body with it (hookgate
//! cannot tell that copy from a new event: its `triggerUuid` is new).
//!
//! Handshake: when a webhook is created monday.com POSTs
//! `{"challenge": "<token>"}` and expects the same JSON back. It is answered
//! before verification, echoing the challenge only.
//!
//! Source: https://developer.monday.com/apps/docs/authorization-header (the
//! challenge: https://developer.monday.com/api-reference/docs/webhooks)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    Challenge, Defaults, Handshake, Provider, Scheme, SchemeHeader, Signed, VerifyError, verdict,
};

const AUTHORIZATION: &str = "Authorization";
const ALG: &str = "HS256";
/// monday.com's tokens are a few hundred bytes; a longer header is refused
/// undecoded.
const MAX_TOKEN_LEN: usize = 4096;
/// The URL check is one short field; anything longer is not it.
const MAX_CHALLENGE_BODY: usize = 2048;
/// The lifetime of the tokens `hookgate send` makes, as monday.com's
/// documented example (`exp - iat`).
const TOKEN_LIFETIME: i64 = 300;

pub(super) const DEFAULTS: Defaults = Defaults {
    // The trigger's own id; bodies without one: their digest.
    event_id: "json:/event/triggerUuid | body-sha256",
    event_type: Some("json:/event/type"),
    forward_headers: &[],
    // The token's `exp` and `iat` are signed.
    timestamped: true,
    // Nothing binds the body to the token.
    replay_guard: true,
    tolerance: None,
    // The item (`pulseId`) the event is about.
    partition_key: Some("json:/event/pulseId"),
};

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    /// Extensions the verifier must understand (RFC 7515): none are.
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    iat: Option<i64>,
    aud: Option<Audience>,
}

/// `aud` is one string or, as RFC 7519 allows, a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn names(&self, expected: &str) -> bool {
        match self {
            Self::One(aud) => aud == expected,
            Self::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

#[derive(Debug)]
pub(super) struct Monday {
    keys: Keys,
    tolerance: u64,
    /// The source's `public_url`: the `aud` every token must carry.
    audience: Option<String>,
    authorization: SchemeHeader,
}

impl Monday {
    pub(super) fn new(secrets: &[Secret], tolerance: u64, public_url: Option<&str>) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            audience: public_url.map(str::to_owned),
            authorization: SchemeHeader::new(AUTHORIZATION),
        }
    }
}

/// A base64url part of the token, decoded and read as JSON.
fn json_part<T: for<'de> Deserialize<'de>>(part: &[u8]) -> Option<T> {
    let json = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&json).ok()
}

impl Scheme for Monday {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let malformed = VerifyError::MalformedHeader(AUTHORIZATION);
        let token = self.authorization.required(request.headers)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed);
        }
        let mut parts = token.split(|&b| b == b'.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed);
        };
        let header: JoseHeader = json_part(header_b64).ok_or(malformed)?;
        if header.alg != ALG || header.crit.is_some() {
            return Err(malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .ok()
            .filter(|raw| raw.len() == 32)
            .ok_or(malformed)?;
        let signature =
            Signature::decode(hex::encode(raw).as_bytes(), Encoding::Hex).ok_or(malformed)?;
        // What is signed: `header.claims`, as received.
        let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
        verdict(self.keys.verify_one(&[signed], signature))?;
        // Signed with the app's secret: what the claims say can be believed.
        let claims: Claims = json_part(claims_b64).ok_or(malformed)?;
        let skew = i64::try_from(self.tolerance).unwrap_or(i64::MAX);
        if request.now >= claims.exp
            || claims
                .iat
                .is_some_and(|iat| iat > request.now.saturating_add(skew))
        {
            return Err(VerifyError::StaleTimestamp);
        }
        if let Some(expected) = &self.audience {
            // A token made for another endpoint of the same app.
            verdict(claims.aud.is_some_and(|aud| aud.names(expected)))?;
        }
        Ok(())
    }

    /// The URL check, `{"challenge": "…"}` and nothing else, echoed as it
    /// came: unsigned whatever the webhook, so answered before verification.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        let body = request.request.body;
        if *request.method != Method::POST
            || body.len() > MAX_CHALLENGE_BODY
            || !crate::verify::mentions(body, b"challenge")
        {
            return None;
        }
        // A JSON object: serde would also read a struct from an array.
        let parsed: serde_json::Value = serde_json::from_slice(body).ok()?;
        let object = parsed.as_object()?;
        if object.len() != 1 {
            return None;
        }
        let challenge = crate::verify::echoable(object.get("challenge")?.as_str()?)?;
        Some(Handshake::json(
            "challenge",
            serde_json::json!({ "challenge": challenge }),
        ))
    }
}

/// The `Authorization` token monday.com would send at `now`, for `audience`.
pub(super) fn token(secret: &[u8], audience: Option<&str>, now: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut claims = serde_json::json!({
        "accountId": 1825529,
        "userId": 4012689,
        "exp": now.saturating_add(TOKEN_LIFETIME),
        "iat": now,
    });
    if let (Some(aud), Some(object)) = (audience, claims.as_object_mut()) {
        object.insert("aud".into(), aud.into());
    }
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[signing_input.as_bytes()]);
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac))
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Monday::new(
            input.secrets,
            input.tolerance,
            input.options.public_url,
        )))
    },
    |input| {
        input.with_headers(vec![(
            AUTHORIZATION.into(),
            token(input.secret, input.options.public_url, input.now),
        )])
    },
)
.without_body_signature()
.unguarded_because(
    "its JWT does not cover the body: within the token's lifetime, whoever has seen one delivery's Authorization header can send any body with it, and each body is a new event id and a new replay-guard key",
)
.with_sample(|id, _now| {
    serde_json::json!({
        "event": {
            "app": "monday",
            "type": "update_column_value",
            "triggerTime": "2023-11-14T22:13:20.000Z",
            "subscriptionId": 147295839,
            "userId": 4012689,
            "originalTriggerUuid": null,
            "boardId": 2924980809_u64,
            "groupId": "topics",
            "pulseId": 4277581981_u64,
            "pulseName": "Task 1",
            "columnId": "status",
            "columnType": "color",
            "columnTitle": "Status",
            "value": { "label": { "index": 1, "text": "Done" } },
            "previousValue": null,
            "isTopGroup": true,
            "triggerUuid": id
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"monday-signing-secret";
    const AUD: &str = "https://hooks.example.com/monday";
    /// `{"alg":"HS256","typ":"JWT"}` and `{"accountId":1825529,"userId":4012689,
    /// "aud":"https://hooks.example.com/monday","exp":1700000300,
    /// "shortLivedToken":"SHORT_LIVED_TOKEN","iat":1700000000}`, each base64url
    /// without padding, joined by `.`, then `.` and the base64url of
    /// `hmac.new(b'monday-signing-secret', signing_input, hashlib.sha256)`
    /// (python3); `jsonwebtoken` 9 verifies it with that secret and audience.
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2NvdW50SWQiOjE4MjU1MjksInVzZXJJZCI6NDAxMjY4OSwiYXVkIjoiaHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS9tb25kYXkiLCJleHAiOjE3MDAwMDAzMDAsInNob3J0TGl2ZWRUb2tlbiI6IlNIT1JUX0xJVkVEX1RPS0VOIiwiaWF0IjoxNzAwMDAwMDAwfQ.CWfZFbJGUse_rbhLAXESmat4lR9hosaNWd16vach4p4";
    const IAT: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"event":{"app":"monday","type":"create_pulse","triggerTime":"2023-11-14T22:13:20.000Z","subscriptionId":147295839,"userId":4012689,"originalTriggerUuid":null,"boardId":2924980809,"pulseId":4277581981,"pulseName":"Task 1","groupId":"topics","triggerUuid":"b5ed2e17c530446a98b25b8e6f0d6a1f"}}"#;

    fn monday(secrets: &[&[u8]], audience: Option<&str>) -> Monday {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Monday::new(&secrets, 300, audience)
    }

    fn check(scheme: &Monday, token: &str, now: i64) -> Result<(), VerifyError> {
        run(scheme, &[(AUTHORIZATION, token)], BODY, now)
    }

    /// `TOKEN` with its claims replaced by `claims`, signed anew with
    /// `secret` under `header`.
    fn forged(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[input.as_bytes()]);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    #[test]
    fn accepts_the_vector_until_it_expires_with_or_without_an_audience() {
        for scheme in [monday(&[SECRET], Some(AUD)), monday(&[SECRET], None)] {
            assert_eq!(check(&scheme, TOKEN, IAT), Ok(()));
            assert_eq!(check(&scheme, TOKEN, IAT + 299), Ok(()));
            assert_eq!(
                check(&scheme, TOKEN, IAT + 300),
                Err(VerifyError::StaleTimestamp)
            );
        }
        // Issued further ahead of our clock than the tolerance.
        assert_eq!(
            check(&monday(&[SECRET], Some(AUD)), TOKEN, IAT - 301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn what_sign_produces_verifies() {
        let scheme = monday(&[SECRET], Some(AUD));
        assert_eq!(check(&scheme, &token(SECRET, Some(AUD), IAT), IAT), Ok(()));
        // Without an `aud`, only a source without `public_url` takes it.
        let unaddressed = token(SECRET, None, IAT);
        assert_eq!(
            check(&scheme, &unaddressed, IAT),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(&monday(&[SECRET], None), &unaddressed, IAT), Ok(()));
    }

    #[test]
    fn rejects_other_secrets_other_audiences_and_changed_claims() {
        assert_eq!(
            check(&monday(&[b"another-secret"], None), TOKEN, IAT),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &monday(&[SECRET], Some("https://hooks.example.com/other")),
                TOKEN,
                IAT
            ),
            Err(VerifyError::Mismatch)
        );
        // A later `exp` under the original signature.
        let (signing_input, signature) = TOKEN.rsplit_once('.').expect("three parts");
        let (header, _) = signing_input.split_once('.').expect("three parts");
        let later = URL_SAFE_NO_PAD.encode(format!(r#"{{"aud":"{AUD}","exp":1900000000}}"#));
        assert_eq!(
            check(
                &monday(&[SECRET], Some(AUD)),
                &format!("{header}.{later}.{signature}"),
                IAT
            ),
            Err(VerifyError::Mismatch)
        );
        // A list of audiences that names this one.
        let listed = forged(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"aud":["https://a.example.com","{AUD}"],"exp":1700000300}}"#),
            SECRET,
        );
        assert_eq!(check(&monday(&[SECRET], Some(AUD)), &listed, IAT), Ok(()));
    }

    #[test]
    fn the_body_is_not_signed() {
        let scheme = monday(&[SECRET], Some(AUD));
        assert_eq!(
            run(&scheme, &[(AUTHORIZATION, TOKEN)], b"{\"event\":{}}", IAT),
            Ok(())
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &monday(&[b"monday-new-secret", SECRET], Some(AUD)),
                TOKEN,
                IAT
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_malformed_and_other_algorithms_are_refused() {
        let scheme = monday(&[SECRET], Some(AUD));
        assert_eq!(
            run(&scheme, &[], BODY, IAT),
            Err(VerifyError::MissingHeader(AUTHORIZATION))
        );
        let claims = format!(r#"{{"aud":"{AUD}","exp":1700000300}}"#);
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(&claims)
        );
        let hs512 = forged(r#"{"alg":"HS512"}"#, &claims, SECRET);
        let critical = forged(r#"{"alg":"HS256","crit":["exp"]}"#, &claims, SECRET);
        let no_exp = forged(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"aud":"{AUD}"}}"#),
            SECRET,
        );
        let bearer = format!("Bearer {TOKEN}");
        let padded = format!("{TOKEN}=");
        let four = format!("{TOKEN}.x");
        let long = format!("{TOKEN}{}", "A".repeat(MAX_TOKEN_LEN));
        for bad in [
            "",
            "abc",
            "a.b",
            none.as_str(),
            hs512.as_str(),
            critical.as_str(),
            no_exp.as_str(),
            bearer.as_str(),
            padded.as_str(),
            four.as_str(),
            long.as_str(),
        ] {
            assert_eq!(
                check(&scheme, bad, IAT),
                Err(VerifyError::MalformedHeader(AUTHORIZATION)),
                "{bad}"
            );
        }
    }

    fn challenge(method: Method, body: &[u8]) -> Option<Handshake> {
        crate::verify::test_support::challenge(
            &monday(&[SECRET], Some(AUD)),
            method,
            &[],
            None,
            body,
        )
    }

    #[test]
    fn the_url_check_is_echoed_and_nothing_else_is_taken_for_it() {
        let body = br#"{"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
        let answer = challenge(Method::POST, body).expect("a handshake");
        assert_eq!(answer.kind, "challenge");
        assert_eq!(
            answer.reply,
            Reply::Json(serde_json::json!({
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
            }))
        );
        assert!(challenge(Method::GET, body).is_none());
        assert!(challenge(Method::POST, BODY).is_none());
        let long = format!(r#"{{"challenge":"{}"}}"#, "x".repeat(MAX_CHALLENGE_BODY));
        for bad in [
            br#"{"challenge":"abc","event":{}}"#.as_slice(),
            br#"{"challenge":42}"#,
            br#"{"challenge":""}"#,
            br#"{"challenge":"line\nbreak"}"#,
            br#"["challenge"]"#,
            b"challenge=abc",
            long.as_bytes(),
        ] {
            assert!(
                challenge(Method::POST, bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
