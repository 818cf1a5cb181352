//! The simplest scheme, shared by most providers: one signature in one
//! header (after an optional prefix such as `sha256=`), the MAC of the body,
//! optionally preceded by fixed bytes the provider also signs (Square's URL).
//! A provider of this shape is a [`HeaderHmac`] constant; the generic `hmac`
//! scheme builds the same check from its configuration.

use super::mac::{Algorithm, Encoding, Keys, Signature};
use super::{SchemeHeader, Signed, VerifyError, verdict};
use crate::config::secret::Secret;

/// A one-header HMAC provider as data: its header, the text before the
/// signature, the hash and how the signature is written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderHmac {
    pub(crate) header: &'static str,
    pub(crate) prefix: &'static str,
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: Encoding,
}

impl HeaderHmac {
    /// The check, keyed by a source's secrets.
    pub(crate) fn scheme(&self, secrets: &[Secret]) -> HeaderSignature {
        HeaderSignature::new(
            Keys::from_secrets(self.algorithm, secrets),
            self.header,
            self.prefix.as_bytes(),
            self.encoding,
        )
    }

    /// The header a sender of this shape sends for `message` (the parts it
    /// signs, in order) under `secret`.
    pub(crate) fn sign(&self, secret: &[u8], message: &[&[u8]]) -> (String, String) {
        let mac = super::mac::sign(self.algorithm, secret, message);
        (
            self.header.to_owned(),
            format!("{}{}", self.prefix, self.encoding.encode(&mac)),
        )
    }
}

#[derive(Debug)]
pub(crate) struct HeaderSignature {
    keys: Keys,
    header: SchemeHeader,
    prefix: Box<[u8]>,
    encoding: Encoding,
    /// Signed before the body.
    leading: Box<[u8]>,
}

impl HeaderSignature {
    pub(crate) fn new(keys: Keys, header: &'static str, prefix: &[u8], encoding: Encoding) -> Self {
        Self {
            keys,
            header: SchemeHeader::new(header),
            prefix: prefix.into(),
            encoding,
            leading: Box::default(),
        }
    }

    /// Whether a request carries this scheme's header at all: a provider's
    /// unsigned check (a handshake) never does.
    pub(crate) fn is_present(&self, headers: &http::HeaderMap) -> bool {
        self.header.is_in(headers)
    }

    /// Also signs `leading` before the body.
    pub(crate) fn signing_first(mut self, leading: &[u8]) -> Self {
        self.leading = leading.into();
        self
    }
}

impl super::Scheme for HeaderSignature {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature = self
            .header
            .required(request.headers)?
            .strip_prefix(&*self.prefix)
            .and_then(|text| Signature::decode(text, self.encoding))
            .ok_or(VerifyError::MalformedHeader(self.header.label()))?;
        verdict(
            self.keys
                .verify_one(&[&self.leading, request.body], signature),
        )
    }
}
