//! Zendesk (webhooks): `X-Zendesk-Webhook-Signature: <base64>`, HMAC-SHA256
//! of the `X-Zendesk-Webhook-Signature-Timestamp` header as sent (ISO 8601 in
//! UTC, e.g. `2021-03-25T05:09:27Z`) followed by the body, keyed by the
//! webhook's signing secret as it is written (Zendesk's example keys with the
//! base64-looking string itself, not its decoding). Zendesk documents no
//! tolerance, so hookgate's default applies, in both directions.
//!
//! Webhooks subscribed to Zendesk events send Zendesk's event (`id`, `type`,
//! `subject` such as `zen:user:6596848315901`); webhooks connected to a
//! trigger or an automation send whatever body the trigger builds. So the id
//! is the `X-Zendesk-Webhook-Invocation-Id` header every request carries,
//! which is not signed: the replay guard is on. Such webhooks must use `POST`,
//! the only method hookgate takes a delivery by.
//!
//! Source: https://developer.zendesk.com/documentation/webhooks/verifying/
//! (headers and signed content), with the request headers listed at
//! https://developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request/

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{Defaults, Provider, SchemeHeader, Signed, VerifyError, verdict};

const SIGNATURE: &str = "X-Zendesk-Webhook-Signature";
const TIMESTAMP: &str = "X-Zendesk-Webhook-Signature-Timestamp";
const INVOCATION_ID: &str = "X-Zendesk-Webhook-Invocation-Id";
const WEBHOOK_ID: &str = "X-Zendesk-Webhook-Id";
const ACCOUNT_ID: &str = "X-Zendesk-Account-Id";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-Zendesk-Webhook-Invocation-Id",
    // Event webhooks' `zen:event-type:…`; a trigger's body has what it was given.
    event_type: Some("json:/type"),
    forward_headers: &[WEBHOOK_ID, ACCOUNT_ID],
    timestamped: true,
    // The invocation id is a header the signature does not cover.
    replay_guard: true,
    tolerance: None,
    // The user, organization or article the event is about (`zen:user:…`).
    partition_key: Some("json:/subject"),
};

#[derive(Debug)]
pub(super) struct Zendesk {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl Zendesk {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        }
    }
}

impl crate::verify::Scheme for Zendesk {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let timestamp = self.timestamp.required(request.headers)?;
        let sent = parse_rfc3339(timestamp).ok_or(VerifyError::MalformedHeader(TIMESTAMP))?;
        if request.now.abs_diff(sent) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        // The header's own bytes are signed, not the instant they name.
        verdict(self.keys.verify_one(&[timestamp, request.body], signature))
    }
}

/// Seconds since the Unix epoch of an RFC 3339 date-time.
fn parse_rfc3339(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `now` (Unix seconds) as Zendesk writes it: RFC 3339 in UTC, whole seconds.
fn format_rfc3339(now: i64) -> String {
    OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The headers Zendesk sends with `body` at `now`.
pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
    let timestamp = format_rfc3339(now);
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[timestamp.as_bytes(), body]);
    vec![
        (SIGNATURE.into(), Encoding::Base64.encode(&mac)),
        (TIMESTAMP.into(), timestamp),
        (INVOCATION_ID.into(), event_id.into()),
        (WEBHOOK_ID.into(), "01F1KRFQ6BG29CNWFR60NK5FNY".into()),
        (ACCOUNT_ID.into(), "12514403".into()),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Zendesk::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id, input.now)),
)
// The signing secret of Zendesk's own verification example.
.with_example_secret(b"dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==")
.with_sample(|id, now| {
    serde_json::json!({
        "type": "zen:event-type:user.active_changed",
        "account_id": 12514403,
        "id": id,
        "time": format_rfc3339(now),
        "zendesk_event_version": "2022-06-20",
        "subject": "zen:user:6596848315901",
        "detail": { "id": "6596848315901", "role": "end-user", "email": "user@example.com" },
        "event": { "current": false, "previous": true }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The signing secret of Zendesk's verification example.
    const SECRET: &[u8] = b"dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
    const BODY: &[u8] = br#"{"type":"zen:event-type:user.active_changed","account_id":12514403,"id":"2b24ef10-19d4-4740-93cf-8f98ec4776c0","time":"2023-11-14T22:13:18Z","zendesk_event_version":"2022-06-20","subject":"zen:user:6596848315901","detail":{"id":"6596848315901","role":"end-user"},"event":{"current":false,"previous":true}}"#;
    /// 1_700_000_000.
    const TS: &str = "2023-11-14T22:13:20Z";
    const NOW: i64 = 1_700_000_000;
    /// `printf '%s' "${TS}${BODY}" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64`
    const SIG: &str = "gZxUIBJIhwMakjbFZ37ndcaPYLyBbS5Y9v2qTzX4lxs=";

    fn check(
        secrets: &[&[u8]],
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&Zendesk::new(&secrets, 300), pairs, body, now)
    }

    #[test]
    fn accepts_the_vector_under_any_configured_secret() {
        let pairs = [(SIGNATURE, SIG), (TIMESTAMP, TS)];
        assert_eq!(check(&[SECRET], &pairs, BODY, NOW), Ok(()));
        assert_eq!(
            check(&[b"previous-secret".as_slice(), SECRET], &pairs, BODY, NOW + 300),
            Ok(())
        );
    }

    #[test]
    fn the_timestamp_comes_first_in_the_signed_bytes() {
        // The body followed by the timestamp is another message.
        let reversed = Encoding::Base64.encode(&crate::verify::mac::sign(
            Algorithm::Sha256,
            SECRET,
            &[BODY, TS.as_bytes()],
        ));
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, reversed.as_str()), (TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_stale_or_malformed_headers() {
        let pairs = [(SIGNATURE, SIG), (TIMESTAMP, TS)];
        assert_eq!(check(&[SECRET], &pairs, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[b"another-secret".as_slice()], &pairs, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // The same instant written otherwise is other signed bytes.
        assert_eq!(
            check(
                &[SECRET],
                &[(SIGNATURE, SIG), (TIMESTAMP, "2023-11-14T22:13:20+00:00")],
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &pairs, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&[SECRET], &pairs, BODY, NOW - 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG), (TIMESTAMP, "1700000000")], BODY, NOW),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, "%%%"), (TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(&[SECRET], &[(TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn what_it_signs_verifies_with_its_invocation_id() {
        let signed = sign(SECRET, BODY, "8350205582", NOW);
        assert!(signed.contains(&(SIGNATURE.to_owned(), SIG.to_owned())));
        assert!(signed.contains(&(TIMESTAMP.to_owned(), TS.to_owned())));
        assert!(signed.contains(&(INVOCATION_ID.to_owned(), "8350205582".to_owned())));
        let pairs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(check(&[SECRET], &pairs, BODY, NOW), Ok(()));
    }
}
