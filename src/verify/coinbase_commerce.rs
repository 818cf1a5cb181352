//! Coinbase Commerce: `X-CC-Webhook-Signature: <hex>`, HMAC-SHA256 of the body
//! keyed by the webhook shared secret (Settings > Notifications). No prefix,
//! nothing timestamped, no handshake. The event is nested under `event`: its
//! id and type are `/event/id` and `/event/type` (the top-level `id` is the
//! notification's), all inside the signed body.
//!
//! Source: https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security
//! (delivery and retries: https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-overview)

use super::Defaults;
use super::Provider;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "X-CC-Webhook-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event/id",
    event_type: Some("json:/event/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha256, secrets),
        SIGNATURE,
        b"",
        Encoding::Hex,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![(SIGNATURE.into(), hex::encode(mac))]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "id": 1,
        "attempt_number": 1,
        "scheduled_for": "2023-11-14T22:13:20Z",
        "event": {
            "id": id,
            "resource": "event",
            "type": "charge:created",
            "api_version": "2018-03-22",
            "created_at": "2023-11-14T22:13:20Z",
            "data": { "code": "66BEOV2A", "name": "hookgate sample", "pricing_type": "fixed_price" }
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"coinbase-shared-secret";
    const BODY: &[u8] = br#"{"attempt_number":1,"event":{"api_version":"2018-03-22","created_at":"2023-11-14T22:13:20Z","data":{"code":"66BEOV2A"},"id":"24934862-d980-46cb-9402-43c81b0cdba6","resource":"event","type":"charge:created"},"id":"f6a1b3c5-9d1e-4a8c-8e6f-2b7d0c3e5a91","scheduled_for":"2023-11-14T22:13:20Z"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac coinbase-shared-secret`
    const SIG: &str = "b690d82b483d3d6482ea74a50475681e77b7e4536dc35b5fb4fff432eed632e3";

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&scheme(&secrets), pairs, body, 0)
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        assert_eq!(
            sign(SECRET, BODY),
            vec![(SIGNATURE.to_owned(), SIG.to_owned())]
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_truncation() {
        let tampered = String::from_utf8_lossy(BODY).replace("charge:created", "charge:confirmed");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], tampered.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, &SIG[..32])], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"new-secret".as_slice(), SECRET],
                &[(SIGNATURE, SIG)],
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        assert_eq!(
            check(&[SECRET], &[], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        for bad in ["", "sha256=b690d82b", "b690d82", "zz"] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }
}
