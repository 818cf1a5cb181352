//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `v0:{timestamp}:{body}` with
//! the timestamp from `X-Slack-Request-Timestamp`.

use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::v0::{V0, V0Headers};
use crate::verify::{Defaults, Handshake, Provider};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/event/type"),
    forward_headers: &["X-Slack-Retry-Num", "X-Slack-Retry-Reason"],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The workspace (`team_id`): a workspace's events in order.
    partition_key: Some("json:/team_id"),
};

#[derive(Deserialize)]
struct UrlVerification {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
}

/// Slack's `url_verification`, sent when an Events API URL is saved: echo
/// the challenge. Only bodies that mention it are parsed.
pub(super) fn handshake(body: &[u8]) -> Option<Handshake> {
    if !crate::verify::mentions(body, b"url_verification") {
        return None;
    }
    let request: UrlVerification = serde_json::from_slice(body).ok()?;
    (request.kind == "url_verification").then(|| {
        Handshake::json(
            "url_verification",
            serde_json::json!({ "challenge": request.challenge }),
        )
    })
}

const HEADERS: V0Headers = V0Headers {
    signature: SIGNATURE,
    timestamp: TIMESTAMP,
    prefix: "v0=",
};

pub(super) fn scheme(secrets: &[Secret], tolerance: u64) -> V0 {
    V0::new(secrets, tolerance, &HEADERS)
}

pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    crate::verify::v0::sign(secret, body, now, &HEADERS)
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Slack(scheme(input.secrets, input.tolerance)))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_sample(|id, _now| {
    serde_json::json!({ "type": "event_callback", "event_id": id, "event": { "type": "app_mention", "text": "hello from hookgate send" } })
});

/// Slack's check: the `v0` scheme, and its `url_verification` handshake.
#[derive(Debug)]
struct Slack(V0);

impl crate::verify::Scheme for Slack {
    fn verify(&self, request: crate::verify::Signed<'_>) -> Result<(), crate::verify::VerifyError> {
        self.0.verify(request)
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        handshake(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;
    use crate::verify::{Reply, Signed, VerifyError};

    #[test]
    fn url_verification_is_answered_with_its_challenge() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            handshake(body).map(|h| h.reply),
            Some(Reply::Json(
                serde_json::json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" })
            ))
        );
        assert!(handshake(br#"{"type":"event_callback","event_id":"Ev1"}"#).is_none());
    }
    use crate::verify::test_support::headers;

    /// The example in Slack's "Verifying requests from Slack" documentation.
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const T: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOCUMENTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &Slack(scheme(&[Secret::new(SECRET)], 300)),
            &[(SIGNATURE, signature), (TIMESTAMP, timestamp)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_documented_vector() {
        assert_eq!(check(DOCUMENTED, T, BODY, 1_531_420_618), Ok(()));
    }

    #[test]
    fn rejects_replays_tampering_and_malformed_headers() {
        assert_eq!(
            check(DOCUMENTED, T, BODY, 1_531_420_618 + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(DOCUMENTED, "1531420619", BODY, 1_531_420_618),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(DOCUMENTED, T, b"token=x", 1_531_420_618),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&DOCUMENTED[3..], T, BODY, 1_531_420_618),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check("v0=", T, BODY, 1_531_420_618),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let only_signature = headers(&[(SIGNATURE, DOCUMENTED)]);
        assert_eq!(
            scheme(&[Secret::new(SECRET)], 300).verify(Signed {
                headers: &only_signature,
                body: BODY,
                now: 0,
                query: None,
            }),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }
}
