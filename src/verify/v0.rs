//! `v0=<hex>` of `v0:{timestamp}:{body}`, the timestamp in a header of its
//! own: Slack's scheme, which Zoom adopted with other header names and
//! Customer.io with the signature bare.

use super::mac::{Algorithm, Encoding, Keys, Signature};
use super::{SchemeHeader, Signed, VerifyError, check_timestamp, verdict};
use crate::config::secret::Secret;

/// Where a sender of this scheme puts it: its two headers, and what comes
/// before the signature's hex.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V0Headers {
    pub(crate) signature: &'static str,
    pub(crate) timestamp: &'static str,
    pub(crate) prefix: &'static str,
}

#[derive(Debug)]
pub(crate) struct V0 {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
    prefix: &'static [u8],
}

impl V0 {
    pub(crate) fn new(secrets: &[Secret], tolerance: u64, headers: &V0Headers) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(headers.signature),
            timestamp: SchemeHeader::new(headers.timestamp),
            prefix: headers.prefix.as_bytes(),
        }
    }

    pub(crate) fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature = self.signature.required(request.headers)?;
        let timestamp = self.timestamp.required(request.headers)?;
        let signature = signature
            .strip_prefix(self.prefix)
            .and_then(|hex| Signature::decode(hex, Encoding::Hex))
            .ok_or(VerifyError::MalformedHeader(self.signature.label()))?;
        check_timestamp(
            timestamp,
            request.now,
            self.tolerance,
            self.timestamp.label(),
        )?;
        verdict(
            self.keys
                .verify_one(&[b"v0:", timestamp, b":", request.body], signature),
        )
    }

    /// The MAC of `message` under the current secret, for handshakes.
    pub(crate) fn mac_first(&self, message: &[&[u8]]) -> Option<Vec<u8>> {
        self.keys.mac_first(message)
    }
}

/// The bare scheme, for a sender with no handshake of its own (Customer.io).
impl super::Scheme for V0 {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        V0::verify(self, request)
    }
}

/// The two headers of a delivery signed at `now`.
pub(crate) fn sign(
    secret: &[u8],
    body: &[u8],
    now: i64,
    headers: &V0Headers,
) -> Vec<(String, String)> {
    let ts = now.to_string();
    let mac = super::mac::sign(
        Algorithm::Sha256,
        secret,
        &[b"v0:", ts.as_bytes(), b":", body],
    );
    vec![
        (
            headers.signature.into(),
            format!("{}{}", headers.prefix, hex::encode(mac)),
        ),
        (headers.timestamp.into(), ts),
    ]
}
