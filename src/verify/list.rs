//! Signature headers written as `key=value` lists, such as Stripe's
//! `t=…,v1=…,v1=…` or Paddle's `ts=…;h1=…`: one timestamp and any number of
//! signatures (one per active secret while a provider rolls its secret).

use super::mac::{Algorithm, Candidates, Encoding, Keys, Signature};
use super::{SchemeHeader, Signed, VerifyError, check_timestamp, verdict};
use crate::config::secret::Secret;

/// The shape of one provider's list.
#[derive(Debug)]
pub(crate) struct ListFormat {
    pub(crate) header: &'static str,
    pub(crate) separator: u8,
    /// The timestamp's key with its `=`, if the provider signs one.
    pub(crate) timestamp: Option<&'static [u8]>,
    /// The signatures' key with its `=`; other keys are ignored.
    pub(crate) signature: &'static [u8],
    pub(crate) encoding: Encoding,
    /// What the timestamp and the body are joined with in the signed message
    /// (timestamped lists only).
    pub(crate) joiner: &'static [u8],
}

/// What a list header holds.
pub(crate) struct Parsed<'a> {
    pub(crate) timestamp: Option<&'a [u8]>,
    pub(crate) signatures: Candidates,
}

impl ListFormat {
    /// Reads the header: a signature that does not decode, no signature at all,
    /// or a missing timestamp the format requires is malformed.
    pub(crate) fn parse<'a>(&self, value: &'a [u8]) -> Result<Parsed<'a>, VerifyError> {
        let malformed = VerifyError::MalformedHeader(self.header);
        let mut timestamp = None;
        let mut signatures = Candidates::new();
        for item in value.split(|&b| b == self.separator) {
            let item = item.trim_ascii();
            if let Some(t) = self.timestamp.and_then(|key| item.strip_prefix(key)) {
                timestamp.get_or_insert(t);
            } else if let Some(signature) = item.strip_prefix(self.signature) {
                signatures.push(Signature::decode(signature, self.encoding).ok_or(malformed)?);
            }
        }
        if signatures.is_empty() || (self.timestamp.is_some() && timestamp.is_none()) {
            return Err(malformed);
        }
        Ok(Parsed {
            timestamp,
            signatures,
        })
    }
}

/// A list header with a timestamp, and HMAC-SHA256 of
/// `{timestamp}{joiner}{body}`: Stripe (`.`), Calendly (`.`), Paddle (`:`).
#[derive(Debug)]
pub(crate) struct TimestampedList {
    keys: Keys,
    tolerance: u64,
    format: &'static ListFormat,
    header: SchemeHeader,
}

impl TimestampedList {
    pub(crate) fn new(secrets: &[Secret], tolerance: u64, format: &'static ListFormat) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            format,
            header: SchemeHeader::new(format.header),
        }
    }
}

impl super::Scheme for TimestampedList {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let parsed = self.format.parse(self.header.required(request.headers)?)?;
        let timestamp = parsed.timestamp.unwrap_or_default();
        check_timestamp(timestamp, request.now, self.tolerance, self.format.header)?;
        verdict(self.keys.verify(
            &[timestamp, self.format.joiner, request.body],
            &parsed.signatures,
        ))
    }
}

/// The header of a delivery signed at `now` in `format` (hex signatures).
pub(crate) fn sign_timestamped(
    secret: &[u8],
    body: &[u8],
    now: i64,
    format: &ListFormat,
) -> Vec<(String, String)> {
    let ts = now.to_string();
    let mac = super::mac::sign(
        Algorithm::Sha256,
        secret,
        &[ts.as_bytes(), format.joiner, body],
    );
    let key = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let value = format!(
        "{}{ts}{}{}{}",
        key(format.timestamp.unwrap_or_default()),
        char::from(format.separator),
        key(format.signature),
        hex::encode(mac)
    );
    vec![(format.header.into(), value)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRIPE_LIKE: ListFormat = ListFormat {
        header: "S",
        separator: b',',
        timestamp: Some(b"t="),
        signature: b"v1=",
        encoding: Encoding::Hex,
        joiner: b".",
    };

    #[test]
    fn reads_the_timestamp_and_every_signature() {
        let parsed = STRIPE_LIKE
            .parse(b"t=12, v1=abcd,v0=ffff,v1=0102")
            .expect("parses");
        assert_eq!(parsed.timestamp, Some(&b"12"[..]));
        assert!(!parsed.signatures.is_empty());
    }

    #[test]
    fn a_missing_part_or_bad_hex_is_malformed() {
        for bad in [&b"v1=abcd"[..], b"t=12", b"t=12,v1=xyz", b""] {
            assert_eq!(
                STRIPE_LIKE.parse(bad).err(),
                Some(VerifyError::MalformedHeader("S")),
                "{bad:?}"
            );
        }
    }
}
