//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

use crate::verify::header::HeaderHmac;
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Provider};

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
    // The repository (`repository.id`); events of an organisation or an
    // app without one fall back to the event id.
    partition_key: Some("json:/repository/id"),
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
            signature,
            ("X-GitHub-Delivery".into(), input.event_id.into()),
            ("X-GitHub-Event".into(), "ping".into()),
        ]
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";

    fn check(signature: &str, body: &[u8]) -> Result<(), crate::verify::VerifyError> {
        run(
            &SHAPE.scheme(&[Secret::new(SECRET)]),
            &[(SIGNATURE, signature)],
            body,
            0,
        )
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
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, DOCUMENTED);
    }
}
