//! Airtable: `X-Airtable-Content-MAC: hmac-sha256=<hex>`, HMAC-SHA256 of the
//! body keyed by the webhook's MAC secret. Airtable gives that secret once, as
//! `macSecretBase64` in the create-webhook response: the source's secret is
//! that base64 text, decoded here into the key (a secret that is not base64
//! stops hookgate at start-up).
//!
//! A notification says only that a webhook has changes to fetch:
//! `{"base": {"id"}, "webhook": {"id"}, "timestamp"}`. It carries no id, so
//! its digest stands for one (its `timestamp` makes each notification's body
//! its own); the timestamp is signed but Airtable documents no tolerance, so
//! none is checked. No handshake.
//!
//! Source: https://airtable.com/developers/web/api/webhooks-overview

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::secret::Secret;
use crate::verify::header::HeaderSignature;
use crate::verify::mac::{Algorithm, Encoding, Keys};
use crate::verify::{BuildError, Defaults, Provider};

const SIGNATURE: &str = "X-Airtable-Content-MAC";
const PREFIX: &str = "hmac-sha256=";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    // The id is the signed body's digest.
    replay_guard: false,
    tolerance: None,
    // The webhook whose payloads are to be fetched, in order.
    partition_key: Some("json:/webhook/id"),
};

/// A `macSecretBase64`, decoded; `None` if it is not base64 or is empty.
fn decode_secret(text: &[u8]) -> Option<Vec<u8>> {
    STANDARD
        .decode(text.trim_ascii())
        .ok()
        .filter(|key| !key.is_empty())
}

pub(super) fn scheme(secrets: &[Secret]) -> Result<HeaderSignature, Vec<BuildError>> {
    let keys = crate::verify::parse_keys(
        secrets,
        decode_secret,
        "an Airtable MAC secret is the webhook's macSecretBase64 as Airtable returned it: base64",
    )?;
    Ok(HeaderSignature::new(
        Keys::new(Algorithm::Sha256, keys.iter().map(Vec::as_slice)),
        SIGNATURE,
        PREFIX.as_bytes(),
        Encoding::Hex,
    ))
}

/// The header Airtable sends for `body` under the base64 `secret`.
pub(super) fn sign(secret: &[u8], body: &[u8]) -> Result<(String, String), String> {
    let key = decode_secret(secret)
        .ok_or("an Airtable MAC secret is base64 (the webhook's macSecretBase64)")?;
    let mac = crate::verify::mac::sign(Algorithm::Sha256, &key, &[body]);
    Ok((SIGNATURE.into(), format!("{PREFIX}{}", hex::encode(mac))))
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets)?)),
    |input| input.with_headers(vec![sign(input.secret, input.payload)?]),
)
.with_example_secret(b"ag88nh17JahObJHws9J6WMThn2sNg6J+XB+bRtCofjI=")
.with_sample(|_id, _now| {
    serde_json::json!({
        "base": { "id": "appjRdIX59U4YEy4l" },
        "webhook": { "id": "achXH94CxHYGdUcje" },
        "timestamp": "2024-03-06T00:32:58.992Z"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    /// A `macSecretBase64`: the base64 of the 32 bytes
    /// 6a0f3c9e1d7b25a84e6c91f0b3d27a58c4e19f6b0d83a27e5c1f9b46d0a87e32.
    const SECRET: &str = "ag88nh17JahObJHws9J6WMThn2sNg6J+XB+bRtCofjI=";
    const BODY: &[u8] = br#"{"base":{"id":"appjRdIX59U4YEy4l"},"webhook":{"id":"achXH94CxHYGdUcje"},"timestamp":"2024-03-06T00:32:58.992Z"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -mac HMAC -macopt
    /// hexkey:6a0f3c9e1d7b25a84e6c91f0b3d27a58c4e19f6b0d83a27e5c1f9b46d0a87e32`
    const SIG: &str =
        "hmac-sha256=5f24692287168d99ab24ee2a594dd735a1bdf0c6846fa10d5fb8fd8eca794880";

    fn check(secrets: &[&str], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(s.as_bytes())).collect();
        run(&scheme(&secrets).expect("base64 secrets"), pairs, body, 0)
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        assert_eq!(
            sign(SECRET.as_bytes(), BODY),
            Ok((SIGNATURE.to_owned(), SIG.to_owned()))
        );
        // Written with a trailing newline, as a secret file often is.
        let with_newline = format!("{SECRET}\n");
        assert_eq!(check(&[&with_newline], &[(SIGNATURE, SIG)], BODY), Ok(()));
    }

    #[test]
    fn the_key_is_the_decoded_secret_not_its_text() {
        let mac = crate::verify::mac::sign(Algorithm::Sha256, SECRET.as_bytes(), &[BODY]);
        let keyed_by_text = format!("{PREFIX}{}", hex::encode(mac));
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, &keyed_by_text)], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_bad_headers() {
        let changed = String::from_utf8_lossy(BODY).replace("992Z", "993Z");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], changed.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&["b3RoZXIgc2VjcmV0"], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], &[], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        for bad in [
            "",
            PREFIX,
            &SIG[PREFIX.len()..],
            "hmac-sha1=5f24",
            "hmac-sha256=zz",
        ] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(&["b3RoZXIgc2VjcmV0", SECRET], &[(SIGNATURE, SIG)], BODY),
            Ok(())
        );
    }

    #[test]
    fn a_secret_that_is_not_base64_stops_the_source() {
        let secrets = [
            Secret::new(SECRET.as_bytes()),
            Secret::new(b"not base64!".as_slice()),
            Secret::new(b"".as_slice()),
        ];
        let errors = scheme(&secrets).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["secrets[1]", "secrets[2]"]);
        assert!(sign(b"not base64!", BODY).is_err());
    }
}
