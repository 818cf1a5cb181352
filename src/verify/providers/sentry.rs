//! Sentry (integration platform webhooks): `Sentry-Hook-Signature: <hex>`,
//! HMAC-SHA256 of the body keyed by the integration's Client Secret, no
//! prefix. `Sentry-Hook-Timestamp` is sent beside it but is NOT signed (Sentry
//! signs the body alone), so nothing is timestamped; no handshake.
//!
//! The id is `Request-ID`, a fresh UUID for every request Sentry makes and not
//! signed, so the replay guard is on; the type is the `Sentry-Hook-Resource`
//! header (`issue`, `error`, `event_alert`, …), the body's `action` says what
//! happened to it.
//!
//! Source: https://docs.sentry.io/organization/integrations/integration-platform/webhooks/
//! (what is signed: Sentry's `AppPlatformEvent`, which signs the exact body it sends).

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

const SIGNATURE: &str = "Sentry-Hook-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:Request-ID",
    event_type: Some("header:Sentry-Hook-Resource"),
    forward_headers: &["Sentry-Hook-Resource", "Sentry-Hook-Timestamp"],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

pub(in crate::verify) const PROVIDER: Provider =
    Provider::header_hmac(DEFAULTS, SHAPE, |input, signature| {
        vec![
            ("Request-ID".into(), input.event_id.into()),
            ("Sentry-Hook-Resource".into(), "issue".into()),
            ("Sentry-Hook-Timestamp".into(), input.now.to_string()),
            signature,
        ]
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifierKind;
    use crate::verify::test_support::signed_headers;

    /// What Sentry sends for `body`, signed with `secret`.
    fn sign(secret: &[u8], body: &[u8], event_id: &str, now: i64) -> Vec<(String, String)> {
        signed_headers(VerifierKind::Sentry, secret, body, event_id, now)
    }
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"sentry-client-secret";
    /// As Sentry sends it: Python's `json.dumps`, with its spaces.
    const BODY: &[u8] = br#"{"action": "created", "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"}, "data": {"issue": {"id": "1170820242", "status": "unresolved"}}, "actor": {"type": "application", "id": "sentry", "name": "Sentry"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac sentry-client-secret`
    const SIG: &str = "c456eb2ee6280607c581db43c0e32b0101f9e0dfe5d1af02973ac6040f7b630b";

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&SHAPE.scheme(&secrets), pairs, body, 0)
    }

    #[test]
    fn signing_adds_the_providers_id_header() {
        let signed = sign(
            SECRET,
            BODY,
            "9b1c4ac2e7a84d3f8f0b1d5c2e6a7f90",
            1_700_000_000,
        );
        assert!(signed.contains(&(SIGNATURE.to_owned(), SIG.to_owned())));
        assert!(signed.contains(&(
            "Request-ID".to_owned(),
            "9b1c4ac2e7a84d3f8f0b1d5c2e6a7f90".to_owned()
        )));
    }

    #[test]
    fn the_timestamp_is_not_signed() {
        // Sentry signs the body alone: any timestamp (or none) verifies.
        for stamp in ["1", "1700000000", "soon"] {
            assert_eq!(
                check(
                    &[SECRET],
                    &[(SIGNATURE, SIG), ("Sentry-Hook-Timestamp", stamp)],
                    BODY
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
