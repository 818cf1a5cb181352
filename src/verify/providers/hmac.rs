//! A plain HMAC of the body in a header of the source's choosing, for providers
//! without a scheme of their own: header name, hash, encoding and prefix are set
//! in `[sources.hmac]`.

use http::HeaderName;
use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::header::HeaderSignature;
use crate::verify::mac::{Algorithm, Encoding, Keys};
use crate::verify::{BuildError, Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

/// How a generic HMAC source signs its requests.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HmacOptions {
    /// The header that carries the signature.
    #[serde(default = "default_header")]
    pub header: String,
    /// `sha1`, `sha256` or `sha512`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// `hex` or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Text before the signature, such as `sha256=`; required when set.
    #[serde(default)]
    pub prefix: String,
}

fn default_header() -> String {
    "X-Signature".into()
}

impl Default for HmacOptions {
    fn default() -> Self {
        Self {
            header: default_header(),
            algorithm: Algorithm::default(),
            encoding: Encoding::default(),
            prefix: String::new(),
        }
    }
}

/// The configured scheme; a header name that is not one is a start-up error.
pub(super) fn scheme(
    secrets: &[Secret],
    options: Option<&HmacOptions>,
) -> Result<HeaderSignature, Vec<BuildError>> {
    let default = HmacOptions::default();
    let options = options.unwrap_or(&default);
    if HeaderName::from_bytes(options.header.as_bytes()).is_err() {
        return Err(vec![BuildError {
            field: "hmac.header".into(),
            message: format!("{:?} is not a valid header name", options.header),
        }]);
    }
    Ok(HeaderSignature::new(
        Keys::from_secrets(options.algorithm, secrets),
        // Built once per source at start-up; messages borrow it for the process's life.
        Box::leak(options.header.clone().into_boxed_str()),
        options.prefix.as_bytes(),
        options.encoding,
    ))
}

pub(super) fn sign(
    secret: &[u8],
    body: &[u8],
    options: Option<&HmacOptions>,
) -> Vec<(String, String)> {
    let default = HmacOptions::default();
    let options = options.unwrap_or(&default);
    let mac = crate::verify::mac::sign(options.algorithm, secret, &[body]);
    vec![(
        options.header.clone(),
        format!("{}{}", options.prefix, options.encoding.encode(&mac)),
    )]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(scheme(input.secrets, input.options.hmac)?)),
    |input| input.with_headers(sign(input.secret, input.payload, input.options.hmac)),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    use crate::verify::VerifyError;

    fn hmac(algorithm: Algorithm, encoding: Encoding, prefix: &str) -> HeaderSignature {
        let options = HmacOptions {
            header: "X-Acme-Signature".into(),
            algorithm,
            encoding,
            prefix: prefix.into(),
        };
        scheme(&[Secret::new(b"k".as_slice())], Some(&options)).expect("builds")
    }

    fn check(verifier: &HeaderSignature, signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(verifier, &[("x-acme-signature", signature)], body, 0)
    }

    // Vectors: `printf payload | openssl dgst -<hash> -hmac k [-binary | base64]`.
    #[test]
    fn accepts_each_hash_and_encoding() {
        let sha1 = hmac(Algorithm::Sha1, Encoding::Hex, "sha1=");
        assert_eq!(
            check(
                &sha1,
                "sha1=bc96b610b80eb0a03b5d1819205941b1de7a87a0",
                b"payload"
            ),
            Ok(())
        );
        let sha512 = hmac(Algorithm::Sha512, Encoding::Base64, "");
        let vector = "n5F5f4zlOh4DeiHaSlG6FAtL0iF334I+3fLrZRwzk8Q4QWinztjqU8xtc/ruZKDuuMTrQg5n+TOlg991ClSpSw==";
        assert_eq!(check(&sha512, vector, b"payload"), Ok(()));
        assert_eq!(
            check(&sha512, vector, b"payloaD"),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_configured_prefix_is_required_and_other_hashes_do_not_pass() {
        let sha1 = hmac(Algorithm::Sha1, Encoding::Hex, "sha1=");
        let label = VerifyError::MalformedHeader("X-Acme-Signature");
        assert_eq!(
            check(
                &sha1,
                "bc96b610b80eb0a03b5d1819205941b1de7a87a0",
                b"payload"
            ),
            Err(label)
        );
        let sha256 = hmac(Algorithm::Sha256, Encoding::Hex, "sha1=");
        assert_eq!(
            check(
                &sha256,
                "sha1=bc96b610b80eb0a03b5d1819205941b1de7a87a0",
                b"payload"
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_bad_header_name_is_a_start_up_error() {
        let options = HmacOptions {
            header: "bad header".into(),
            ..HmacOptions::default()
        };
        let errors = scheme(&[Secret::new(b"k".as_slice())], Some(&options)).unwrap_err();
        assert_eq!(errors[0].field, "hmac.header");
    }
}
