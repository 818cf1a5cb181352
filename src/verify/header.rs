//! The simplest scheme, shared by several providers: one signature in one
//! header (after an optional prefix such as `sha256=`), the MAC of the body,
//! optionally preceded by fixed bytes the provider also signs (Square's URL).
//! GitHub, Shopify, Intercom, Square and the generic `hmac` scheme are this
//! with different constants.

use super::mac::{Encoding, Keys, Signature};
use super::{SchemeHeader, Signed, VerifyError, verdict};

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
