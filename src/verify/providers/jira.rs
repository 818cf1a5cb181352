//! Jira Cloud (admin webhooks registered with a secret): `X-Hub-Signature:
//! sha256=<hex>`, HMAC-SHA256 of the body keyed by that secret (WebSub's
//! `method=signature` form). Webhooks without a secret, and those registered
//! by Connect or OAuth 2.0 apps, are not signed this way and are refused.
//! Nothing is timestamped (the body's `timestamp` has no documented
//! tolerance); no handshake.
//!
//! The id is `X-Atlassian-Webhook-Identifier`, the same on every retry of a
//! delivery; it is not signed, so the replay guard is on. The type is the
//! body's `webhookEvent` (`jira:issue_created`, `comment_created`, …).
//!
//! Source: https://developer.atlassian.com/cloud/jira/platform/webhooks/
//! (sections "Secure admin webhooks" and "Retry policy")

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Hub-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-Atlassian-Webhook-Identifier",
    event_type: Some("json:/webhookEvent"),
    forward_headers: &["X-Atlassian-Webhook-Retry", "X-Atlassian-Webhook-Flow"],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The issue (`issue.id`); events of other entities fall back to the
    // event id.
    partition_key: Some("json:/issue/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha256=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |input, signature| {
        vec![
            (
                "X-Atlassian-Webhook-Identifier".into(),
                input.event_id.into(),
            ),
            ("X-Atlassian-Webhook-Flow".into(), "Primary".into()),
            signature,
        ]
    })
    .with_sample(|_id, now| {
        serde_json::json!({
            "timestamp": now * 1000,
            "webhookEvent": "jira:issue_created",
            "issue_event_type_name": "issue_created",
            "user": { "accountId": "5b10a2844c20165700ede21g", "displayName": "hookgate" },
            "issue": {
                "id": "10002",
                "key": "TEST-3",
                "fields": { "summary": "hello from hookgate send" }
            }
        })
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifierKind;
    use crate::verify::test_support::signed_headers;

    /// What Jira sends for `body`, signed with `secret`.
    fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
        signed_headers(VerifierKind::Jira, secret, body, event_id, now)
    }

    const SECRET: &[u8] = b"jira-webhook-secret";
    const BODY: &[u8] = br#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_created","issue_event_type_name":"issue_created","issue":{"id":"10002","key":"TEST-3"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac jira-webhook-secret`
    const SIG: &str = "sha256=c4829cd2e417dfdb5483b8a0c35b0a39be0ea71ef808d311fb37a42a541a67dd";

    #[test]
    fn signing_adds_the_providers_id_header() {
        let signed = sign(SECRET, BODY, "12345", 0);
        assert!(signed.contains(&(SIGNATURE.to_owned(), SIG.to_owned())));
        assert!(signed.contains(&(
            "X-Atlassian-Webhook-Identifier".to_owned(),
            "12345".to_owned()
        )));
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
