//! Square: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 of the
//! notification URL followed by the body, keyed by the subscription's signature
//! key. The URL is the one Square was given (the source's `public_url`), not
//! what reached hookgate through proxies. Nothing is timestamped.

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{BuildError, Defaults, Provider};

const SIGNATURE: &str = "x-square-hmacsha256-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/event_id",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    // The object the event is about (`data.id`: a payment, an order).
    partition_key: Some("json:/data/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Base64,
};

pub(super) fn scheme(
    secrets: &[Secret],
    public_url: Option<&str>,
) -> Result<HeaderSignature, Vec<BuildError>> {
    let url = crate::verify::require_public_url(public_url, "Square signs the notification URL")?;
    Ok(SHAPE.scheme(secrets).signing_first(url.as_bytes()))
}

pub(super) fn sign(secret: &[u8], body: &[u8], url: &str) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[url.as_bytes(), body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets, input.options.public_url)?)),
    |input| {
        let url = input
            .options
            .public_url
            .ok_or("Square signs the notification URL: give the URL it was sent to")?;
        input.with_headers(sign(input.secret, input.payload, url))
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    const URL: &str = "https://hooks.example.com/webhooks/square";
    const BODY: &[u8] = br#"{"merchant_id":"6SSW7HV8K2ST5","type":"payment.created","event_id":"13b867cf-db3d-4b1c-90b6-2f32a9d78124"}"#;
    /// `printf '%s' "$URL$BODY" | openssl dgst -sha256 -hmac square-signature-key -binary | base64`
    const SIG: &str = "6PxNsTTYWzD6bOOEcgkWHjdl84zUOvw7HaaBsQ8cm6o=";

    fn check(signature: &str, url: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(
            &scheme(
                &[Secret::new(b"square-signature-key".as_slice())],
                Some(url),
            )
            .expect("builds"),
            &[(SIGNATURE, signature)],
            body,
            0,
        )
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(SIG, URL, BODY), Ok(()));
    }

    #[test]
    fn rejects_other_urls_bodies_and_bad_headers() {
        assert_eq!(
            check(SIG, "https://hooks.example.com/other", BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(SIG, URL, b"{}"), Err(VerifyError::Mismatch));
        assert_eq!(
            check("%%%", URL, BODY),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let err = scheme(&[Secret::new(b"k".as_slice())], None).unwrap_err();
        assert_eq!(err[0].field, "public_url");
    }
}
