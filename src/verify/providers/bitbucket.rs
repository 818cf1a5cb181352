//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the body
//! keyed by the webhook's secret (webhooks saved without a secret are not
//! signed and cannot be verified). Nothing is timestamped; no handshake.
//!
//! The id is `X-Request-UUID`, "the UUID of the request" (`X-Hook-UUID` names
//! the webhook, the same for all its events); it is not signed, so the replay
//! guard is on. Bitbucket makes up to two more attempts after a failure,
//! counted in `X-Attempt-Number`.
//!
//! Source: https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/
//! (the secret: https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/)

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "X-Hub-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-Request-UUID",
    event_type: Some("header:X-Event-Key"),
    forward_headers: &["X-Event-Key", "X-Hook-UUID", "X-Attempt-Number"],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The repository (`repository.uuid`); workspace events without one
    // fall back to the event id.
    partition_key: Some("json:/repository/uuid"),
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
            ("X-Event-Key".into(), "repo:push".into()),
            (
                "X-Hook-UUID".into(),
                "2bd5e3f0-6a0c-4f1e-9d3b-8c7a5e4f1b20".into(),
            ),
            ("X-Request-UUID".into(), input.event_id.into()),
            ("X-Attempt-Number".into(), "1".into()),
            signature,
        ]
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifierKind;
    use crate::verify::test_support::signed_headers;

    /// What Bitbucket sends for `body`, signed with `secret`.
    fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
        signed_headers(VerifierKind::Bitbucket, secret, body, event_id, now)
    }

    const SECRET: &[u8] = b"bitbucket-webhook-secret";
    const BODY: &[u8] = br#"{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"709d658dc5b6d6afcd46049c2f332ee3f515a67d"}}}]},"repository":{"full_name":"team/repo","uuid":"{b5b3c9a2-7f1e-4d2b-9a51-0c3e8f6d2a17}"},"actor":{"display_name":"Ada Lovelace"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac bitbucket-webhook-secret`
    const SIG: &str = "sha256=a0e7dcd76b8f2ba982f48a2701c414c335af50c9f22b4b59c3619b5e77c92aae";

    #[test]
    fn signing_adds_the_providers_id_header() {
        let signed = sign(SECRET, BODY, "0f3a7c9e-5b2d-4e8f-a1c6-d4b9e2f7a031", 0);
        assert!(signed.contains(&(SIGNATURE.to_owned(), SIG.to_owned())));
        assert!(signed.contains(&(
            "X-Request-UUID".to_owned(),
            "0f3a7c9e-5b2d-4e8f-a1c6-d4b9e2f7a031".to_owned()
        )));
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
