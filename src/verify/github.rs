//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

use super::Provider;
use super::Defaults;
use super::header::HeaderSignature;
use super::mac::{Algorithm, Encoding, Keys};
use crate::secret::Secret;

const SIGNATURE: &str = "X-Hub-Signature-256";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:X-GitHub-Delivery",
    event_type: Some("header:X-GitHub-Event"),
    forward_headers: &[
        "X-GitHub-Event",
        "X-GitHub-Hook-ID",
        "X-GitHub-Hook-Installation-Target-Type",
        "X-GitHub-Hook-Installation-Target-ID",
    ],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
};

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    HeaderSignature::new(
        Keys::from_secrets(Algorithm::Sha256, secrets),
        SIGNATURE,
        b"sha256=",
        Encoding::Hex,
    )
}

pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str) -> Vec<(String, String)> {
    let mac = super::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![
        (SIGNATURE.into(), format!("sha256={}", hex::encode(mac))),
        ("X-GitHub-Delivery".into(), event_id.into()),
        ("X-GitHub-Event".into(), "ping".into()),
    ]
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id)),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;
    use crate::verify::Scheme as _;
    use crate::verify::test_support::headers;
    use crate::verify::{Signed, VerifyError};

    fn github() -> HeaderSignature {
        scheme(&[Secret::new(b"It's a Secret to Everybody".as_slice())])
    }

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&github(), &[("X-Hub-Signature-256", signature)], body, 0)
    }

    /// The vector in GitHub's "Validating webhook deliveries" documentation.
    const DOCUMENTED: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn accepts_the_documented_vector() {
        assert_eq!(check(DOCUMENTED, b"Hello, World!"), Ok(()));
        assert_eq!(
            check(
                &DOCUMENTED.to_uppercase().replace("SHA256=", "sha256="),
                b"Hello, World!"
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_tampering_and_malformed_headers() {
        assert_eq!(
            check(DOCUMENTED, b"Hello, World?"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&DOCUMENTED[..39], b"Hello, World!"),
            Err(VerifyError::Mismatch)
        );
        for bad in [
            "",
            "sha256=",
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea",
            "sha256=zz",
        ] {
            assert_eq!(
                check(bad, b"Hello, World!"),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
        let none = headers(&[]);
        assert_eq!(
            github().verify(Signed {
                headers: &none,
                body: b"Hello, World!",
                now: 0,
                query: None,
            }),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        let rotated = scheme(&[
            Secret::new(b"new".as_slice()),
            Secret::new(b"It's a Secret to Everybody".as_slice()),
        ]);
        let headers = headers(&[("X-Hub-Signature-256", DOCUMENTED)]);
        assert_eq!(
            rotated.verify(Signed {
                headers: &headers,
                body: b"Hello, World!",
                now: 0,
                query: None,
            }),
            Ok(())
        );
    }
}
