//! Twitch EventSub (webhook transport): `Twitch-Eventsub-Message-Signature:
//! sha256=<hex>`, HMAC-SHA256 keyed by the subscription's secret of
//! `Twitch-Eventsub-Message-Id` + `Twitch-Eventsub-Message-Timestamp` + body,
//! concatenated as sent. The timestamp is RFC 3339 with nanoseconds; Twitch
//! asks receivers to refuse messages more than 10 minutes old (hookgate
//! checks both directions). The event id is `Twitch-Eventsub-Message-Id`,
//! which the signature covers and which Twitch keeps when it resends a
//! message.
//!
//! Three message types share the scheme (`Twitch-Eventsub-Message-Type`,
//! forwarded): `notification`, published; `revocation`, a body with the
//! `subscription` and no `event`, published like a notification, under the
//! subscription's type; and `webhook_callback_verification`, whose signed body
//! carries a top-level `challenge`, answered with that challenge as
//! `text/plain` and never published.
//!
//! Source: https://dev.twitch.tv/docs/eventsub/handling-webhook-events/
//! (duplicates and replays: https://dev.twitch.tv/docs/eventsub/)

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    Defaults, Handshake, Provider, Scheme, SchemeHeader, Signed, VerifyError, echoable, verdict,
};

const SIGNATURE: &str = "Twitch-Eventsub-Message-Signature";
const MESSAGE_ID: &str = "Twitch-Eventsub-Message-Id";
const TIMESTAMP: &str = "Twitch-Eventsub-Message-Timestamp";
const MESSAGE_TYPE: &str = "Twitch-Eventsub-Message-Type";
const RETRY: &str = "Twitch-Eventsub-Message-Retry";
const SUBSCRIPTION_TYPE: &str = "Twitch-Eventsub-Subscription-Type";
const SUBSCRIPTION_VERSION: &str = "Twitch-Eventsub-Subscription-Version";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:Twitch-Eventsub-Message-Id",
    // The signed body's subscription type (`channel.follow`), which the
    // unsigned `Twitch-Eventsub-Subscription-Type` header repeats.
    event_type: Some("json:/subscription/type"),
    // Whether a message is a notification or a revocation is only in the
    // (unsigned) message type header; consumers get it, and the rest.
    forward_headers: &[MESSAGE_TYPE, RETRY, SUBSCRIPTION_TYPE, SUBSCRIPTION_VERSION],
    timestamped: true,
    // The message id is signed.
    replay_guard: false,
    tolerance: Some(Duration::from_secs(600)),
    // The broadcaster the subscription is for: in the condition of
    // notifications and revocations alike.
    partition_key: Some("json:/subscription/condition/broadcaster_user_id"),
};

#[derive(Debug)]
pub(super) struct Twitch {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
    message_id: SchemeHeader,
    timestamp: SchemeHeader,
}

impl Twitch {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            message_id: SchemeHeader::new(MESSAGE_ID),
            timestamp: SchemeHeader::new(TIMESTAMP),
        }
    }
}

impl Scheme for Twitch {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature = self
            .signature
            .required(request.headers)?
            .strip_prefix(b"sha256=")
            .and_then(|hex| Signature::decode(hex, Encoding::Hex))
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let message_id = self.message_id.required(request.headers)?;
        let timestamp = self.timestamp.required(request.headers)?;
        // Only a whole RFC 3339 timestamp passes, which also fixes where the
        // id ends in the unseparated signed string.
        let sent = parse_rfc3339(timestamp).ok_or(VerifyError::MalformedHeader(TIMESTAMP))?;
        if request.now.abs_diff(sent) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        verdict(
            self.keys
                .verify_one(&[message_id, timestamp, request.body], signature),
        )
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        handshake(body)
    }
}

/// Twitch's `webhook_callback_verification`: a verified body whose top level
/// has a `challenge` string, echoed as it is. Only bodies that mention it are
/// parsed.
pub(super) fn handshake(body: &[u8]) -> Option<Handshake> {
    if !crate::verify::mentions(body, b"\"challenge\"") {
        return None;
    }
    // A JSON object: serde would also read a struct from an array.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    #[derive(Deserialize)]
    struct Verification {
        challenge: String,
    }
    let verification: Verification = serde_json::from_slice(body).ok()?;
    let challenge = echoable(&verification.challenge)?;
    Some(Handshake::text(
        "webhook_callback_verification",
        challenge.to_owned(),
    ))
}

/// Seconds since the Unix epoch of an RFC 3339 date-time.
fn parse_rfc3339(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `now` (Unix seconds) as an RFC 3339 date-time in UTC.
fn format_rfc3339(now: i64) -> String {
    OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The headers Twitch sends with `body` as message `message_id` at `now`:
/// the message type follows from the body, and the subscription's type and
/// version are copied from it where it has them.
pub(super) fn sign(
    secret: &[u8],
    body: &[u8],
    message_id: &str,
    now: i64,
) -> Vec<(String, String)> {
    let timestamp = format_rfc3339(now);
    let mac = crate::verify::mac::sign(
        Algorithm::Sha256,
        secret,
        &[message_id.as_bytes(), timestamp.as_bytes(), body],
    );
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let message_type = if parsed.get("challenge").is_some() {
        "webhook_callback_verification"
    } else if parsed.get("subscription").is_some() && parsed.get("event").is_none() {
        "revocation"
    } else {
        "notification"
    };
    let mut headers = vec![
        (MESSAGE_ID.to_owned(), message_id.to_owned()),
        (TIMESTAMP.to_owned(), timestamp),
        (SIGNATURE.to_owned(), format!("sha256={}", hex::encode(mac))),
        (MESSAGE_TYPE.to_owned(), message_type.to_owned()),
        (RETRY.to_owned(), "0".to_owned()),
    ];
    for (header, pointer) in [
        (SUBSCRIPTION_TYPE, "/subscription/type"),
        (SUBSCRIPTION_VERSION, "/subscription/version"),
    ] {
        if let Some(value) = parsed.pointer(pointer).and_then(serde_json::Value::as_str) {
            headers.push((header.to_owned(), value.to_owned()));
        }
    }
    headers
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Twitch::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id, input.now)),
)
// Twitch takes a secret of 10 to 100 ASCII characters, chosen by the
// subscriber.
.with_example_secret(b"s3cRe7-twitch-eventsub")
.with_sample(|_id, now| {
    serde_json::json!({
        "subscription": {
            "id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
            "status": "enabled",
            "type": "channel.follow",
            "version": "2",
            "cost": 0,
            "condition": { "broadcaster_user_id": "1337", "moderator_user_id": "1337" },
            "transport": { "method": "webhook", "callback": "https://hooks.example.com/webhooks/twitch" },
            "created_at": "2019-11-16T10:11:12.634234626Z"
        },
        "event": {
            "user_id": "1234",
            "user_login": "cool_user",
            "user_name": "Cool_User",
            "broadcaster_user_id": "1337",
            "broadcaster_user_login": "cooler_user",
            "broadcaster_user_name": "Cooler_User",
            "followed_at": format_rfc3339(now)
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"s3cRe7-twitch-eventsub";
    const ID: &str = "e76c6bd4-55c9-4987-8304-da1588d8988b";
    const TS: &str = "2019-11-16T10:11:12.634234626Z";
    /// TS in Unix seconds.
    const NOW: i64 = 1_573_899_072;
    const BODY: &[u8] = br#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://hooks.example.com/webhooks/twitch"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}"#;
    /// `(printf '%s' "$ID$TS"; printf '%s' "$BODY") | openssl dgst -sha256 -hmac s3cRe7-twitch-eventsub`
    const SIG: &str = "sha256=538111256f670a626e703aca29de16fd16106b434e6d33847d40e8100a32c1f4";
    const VERIFICATION_ID: &str = "a8b1c4d0-2e2b-4b52-9a0b-3c1f0c2e7d11";
    const VERIFICATION: &[u8] = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://hooks.example.com/webhooks/twitch"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
    /// As SIG, for VERIFICATION_ID, TS and VERIFICATION.
    const VERIFICATION_SIG: &str =
        "sha256=383e36d3cad69d7d8db8c7415818a09bb1e07a3958d2797439e5c7f0236bcc0d";

    fn twitch(secrets: &[&[u8]]) -> Twitch {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Twitch::new(&secrets, 600)
    }

    fn check(
        secrets: &[&[u8]],
        (id, ts, sig): (&str, &str, &str),
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        run(
            &twitch(secrets),
            &[(MESSAGE_ID, id), (TIMESTAMP, ts), (SIGNATURE, sig)],
            body,
            now,
        )
    }

    #[test]
    fn accepts_the_vector_within_ten_minutes_either_way() {
        assert_eq!(check(&[SECRET], (ID, TS, SIG), BODY, NOW), Ok(()));
        assert_eq!(check(&[SECRET], (ID, TS, SIG), BODY, NOW + 600), Ok(()));
        assert_eq!(check(&[SECRET], (ID, TS, SIG), BODY, NOW - 600), Ok(()));
        assert_eq!(
            check(&[SECRET], (ID, TS, SIG), BODY, NOW + 601),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&[SECRET], (ID, TS, SIG), BODY, NOW - 601),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"another-secret".as_slice(), SECRET],
                (ID, TS, SIG),
                BODY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn the_id_the_timestamp_and_the_body_are_signed() {
        let tampered = String::from_utf8_lossy(BODY).replace("cool_user", "evil_user");
        assert_eq!(
            check(&[SECRET], (ID, TS, SIG), tampered.as_bytes(), NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &[SECRET],
                ("e76c6bd4-55c9-4987-8304-da1588d8988c", TS, SIG),
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &[SECRET],
                (ID, "2019-11-16T10:11:12.634234627Z", SIG),
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], (ID, TS, SIG), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        let scheme = twitch(&[SECRET]);
        assert_eq!(
            run(&scheme, &[(MESSAGE_ID, ID), (TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            run(&scheme, &[(TIMESTAMP, TS), (SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(MESSAGE_ID))
        );
        assert_eq!(
            run(&scheme, &[(MESSAGE_ID, ID), (SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
        for bad in ["", "sha256=", &SIG[7..], "sha1=538111256f", "sha256=zz"] {
            assert_eq!(
                check(&[SECRET], (ID, TS, bad), BODY, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
        for bad in [
            "1573899072",
            "2019-11-16T10:11:12",
            "019-11-16T10:11:12Z",
            "",
        ] {
            assert_eq!(
                check(&[SECRET], (ID, bad, SIG), BODY, NOW),
                Err(VerifyError::MalformedHeader(TIMESTAMP)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_callback_verification_is_verified_then_answered_with_its_challenge() {
        assert_eq!(
            check(
                &[SECRET],
                (VERIFICATION_ID, TS, VERIFICATION_SIG),
                VERIFICATION,
                NOW
            ),
            Ok(())
        );
        let answer = handshake(VERIFICATION).expect("a handshake");
        assert_eq!(
            (answer.kind, answer.reply),
            (
                "webhook_callback_verification",
                Reply::Text("pogchamp-kappa-360noscope-vohiyo".into())
            )
        );
        // A wrongly signed one is refused before it is read.
        assert_eq!(
            check(&[SECRET], (VERIFICATION_ID, TS, SIG), VERIFICATION, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn notifications_and_revocations_are_not_handshakes() {
        assert!(handshake(BODY).is_none());
        let revocation = br#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337"},"transport":{"method":"webhook","callback":"https://hooks.example.com/webhooks/twitch"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
        assert!(handshake(revocation).is_none());
        // A chat message that says "challenge" is still an event.
        let chat = br#"{"subscription":{"type":"channel.chat.message"},"event":{"message":{"text":"\"challenge\" accepted"}}}"#;
        assert!(handshake(chat).is_none());
        assert!(handshake(br#"["challenge"]"#).is_none());
        assert!(handshake(br#"{"challenge":"line\nbreak"}"#).is_none());
        assert!(handshake(br#"{"challenge":42}"#).is_none());
    }

    #[test]
    fn what_it_signs_verifies_with_the_message_type_it_implies() {
        let headers = sign(SECRET, BODY, ID, NOW);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(run(&twitch(&[SECRET]), &pairs, BODY, NOW), Ok(()));
        let value = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(value(MESSAGE_TYPE), Some("notification"));
        assert_eq!(value(SUBSCRIPTION_TYPE), Some("channel.follow"));
        assert_eq!(
            sign(SECRET, VERIFICATION, ID, NOW)
                .iter()
                .find(|(header, _)| header == MESSAGE_TYPE)
                .map(|(_, value)| value.as_str()),
            Some("webhook_callback_verification")
        );
    }
}
