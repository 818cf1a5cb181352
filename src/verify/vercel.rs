//! Vercel: `x-vercel-signature: <hex>`, HMAC-SHA1 of the body keyed by the
//! webhook's secret (an account webhook) or the integration's client secret
//! (an integration's webhooks). No prefix, nothing timestamped, no handshake;
//! the event id and type are in the signed body.
//!
//! Source: https://vercel.com/docs/webhooks (section "Securing webhooks")

use super::Defaults;
use super::Provider;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "x-vercel-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha1, secrets),
        SIGNATURE,
        b"",
        Encoding::Hex,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha1, secret, &[body]);
    vec![(SIGNATURE.into(), hex::encode(mac))]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, now| {
    serde_json::json!({
        "id": id,
        "type": "deployment.created",
        "createdAt": now * 1000,
        "region": "iad1",
        "payload": {
            "deployment": { "id": "dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ", "name": "hookgate-sample" },
            "project": { "id": "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB" },
            "target": "production"
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"vercel-webhook-secret";
    const BODY: &[u8] = br#"{"id":"evt_4nC2bRzQk1Xw","type":"deployment.created","createdAt":1700000000000,"payload":{"deployment":{"id":"dpl_89qyp1cskzkLrVicDaZoDbjyHuDJ"}},"region":"iad1"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha1 -hmac vercel-webhook-secret`
    const SIG: &str = "fdc4b4f02ab3facaaee3c5b39d3a07a60170c245";

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&scheme(&secrets), pairs, body, 0)
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        let upper = SIG.to_uppercase();
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, upper.as_str())], BODY),
            Ok(())
        );
        assert_eq!(
            sign(SECRET, BODY),
            vec![(SIGNATURE.to_owned(), SIG.to_owned())]
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_truncation() {
        let tampered = String::from_utf8_lossy(BODY).replace("iad1", "sfo1");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], tampered.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, &SIG[..20])], BODY),
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
        for bad in [
            "",
            "sha1=fdc4b4f02ab3facaaee3c5b39d3a07a60170c245",
            "fdc4b4f02ab3facaaee3c5b39d3a07a60170c24",
            "zz",
        ] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }
}
