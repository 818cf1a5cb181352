//! The HMAC machinery every scheme shares: keys prepared once per secret, a signed
//! message given as parts (so the body is never copied into a concatenated buffer),
//! and signatures decoded onto the stack and compared in constant time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::config::secret::Secret;

/// The hash behind an HMAC scheme.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

/// How a signature is written in its header.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

impl Encoding {
    /// A MAC written this way, as a sender writes it.
    pub(crate) fn encode(self, mac: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(mac),
            Self::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
        }
    }
}

/// The longest MAC we verify (HMAC-SHA512).
const MAX_MAC_LEN: usize = 64;
/// How many signatures of one request are tried; more are ignored, which bounds
/// the work a hostile header can cause.
pub(crate) const MAX_CANDIDATES: usize = 8;

/// A signature taken from a header, decoded onto the stack.
#[derive(Clone, Copy)]
pub(crate) struct Signature {
    bytes: [u8; MAX_MAC_LEN],
    len: usize,
}

impl Signature {
    /// Decodes `text` in `encoding`; `None` if it is not valid or longer than any MAC.
    pub(crate) fn decode(text: &[u8], encoding: Encoding) -> Option<Self> {
        let mut bytes = [0u8; MAX_MAC_LEN];
        let len = match encoding {
            Encoding::Hex => {
                let len = text.len() / 2;
                if !text.len().is_multiple_of(2) || len > MAX_MAC_LEN {
                    return None;
                }
                hex::decode_to_slice(text, &mut bytes[..len]).ok()?;
                len
            }
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode_slice(text, &mut bytes)
                .ok()?,
        };
        (len > 0).then_some(Self { bytes, len })
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The candidate signatures of one request (a provider may send several, one per
/// active secret).
pub(crate) struct Candidates {
    items: [Option<Signature>; MAX_CANDIDATES],
    len: usize,
}

impl Candidates {
    pub(crate) fn new() -> Self {
        Self {
            items: [None; MAX_CANDIDATES],
            len: 0,
        }
    }

    /// Adds a signature; beyond [`MAX_CANDIDATES`] the rest are ignored.
    pub(crate) fn push(&mut self, signature: Signature) {
        if self.len < MAX_CANDIDATES {
            self.items[self.len] = Some(signature);
            self.len += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = &Signature> {
        self.items[..self.len].iter().flatten()
    }
}

#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// Every active secret of a source, each keyed once at start-up so a request only
/// clones the prepared state.
#[derive(Clone)]
pub(crate) struct Keys {
    macs: Vec<KeyedMac>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} redacted)", self.macs.len())
    }
}

impl Keys {
    /// Keys each secret for `algorithm`. HMAC accepts keys of any length.
    pub(crate) fn new<'a>(
        algorithm: Algorithm,
        secrets: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let macs = secrets
            .into_iter()
            .map(|key| match algorithm {
                Algorithm::Sha1 => KeyedMac::Sha1(keyed(key)),
                Algorithm::Sha256 => KeyedMac::Sha256(keyed(key)),
                Algorithm::Sha512 => KeyedMac::Sha512(keyed(key)),
            })
            .collect();
        Self { macs }
    }

    /// Keys raw secrets as they are written.
    pub(crate) fn from_secrets(algorithm: Algorithm, secrets: &[Secret]) -> Self {
        Self::new(algorithm, secrets.iter().map(Secret::expose))
    }

    /// True if the MAC of `message` (its parts, in order) under any key equals any
    /// candidate. Lengths are checked and bytes compared in constant time.
    pub(crate) fn verify(&self, message: &[&[u8]], candidates: &Candidates) -> bool {
        self.macs.iter().any(|mac| match mac {
            KeyedMac::Sha1(mac) => matches(mac, message, candidates),
            KeyedMac::Sha256(mac) => matches(mac, message, candidates),
            KeyedMac::Sha512(mac) => matches(mac, message, candidates),
        })
    }

    /// The MAC of `message` under the first (current) secret, for handshakes
    /// that answer with one.
    pub(crate) fn mac_first(&self, message: &[&[u8]]) -> Option<Vec<u8>> {
        fn run<M: Mac + Clone>(keyed: &M, message: &[&[u8]]) -> Vec<u8> {
            let mut mac = keyed.clone();
            for part in message {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        Some(match self.macs.first()? {
            KeyedMac::Sha1(mac) => run(mac, message),
            KeyedMac::Sha256(mac) => run(mac, message),
            KeyedMac::Sha512(mac) => run(mac, message),
        })
    }

    /// Verifies a single signature.
    pub(crate) fn verify_one(&self, message: &[&[u8]], signature: Signature) -> bool {
        let mut candidates = Candidates::new();
        candidates.push(signature);
        self.verify(message, &candidates)
    }
}

fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
    <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

fn matches<M: Mac + Clone>(keyed: &M, message: &[&[u8]], candidates: &Candidates) -> bool {
    let mut mac = keyed.clone();
    for part in message {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    // Every candidate is compared, in constant time, so the time taken does not
    // tell which one (or which byte) was wrong.
    candidates
        .iter()
        .fold(subtle::Choice::from(0), |found, candidate| {
            found | tag[..].ct_eq(candidate.as_slice())
        })
        .into()
}

/// Computes a signature, for tests and for the tools that send signed requests.
pub(crate) fn sign(algorithm: Algorithm, key: &[u8], message: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[&[u8]]) -> Vec<u8> {
        let mut mac: M = keyed(key);
        for part in message {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<Sha1>>(key, message),
        Algorithm::Sha256 => run::<Hmac<Sha256>>(key, message),
        Algorithm::Sha512 => run::<Hmac<Sha512>>(key, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(sigs: &[Signature]) -> Candidates {
        let mut c = Candidates::new();
        sigs.iter().for_each(|s| c.push(*s));
        c
    }

    #[test]
    fn parts_are_the_same_as_one_message() {
        let keys = Keys::new(Algorithm::Sha256, [b"key".as_slice()]);
        let whole = sign(Algorithm::Sha256, b"key", &[b"12.hello"]);
        let sig = Signature::decode(hex::encode(whole).as_bytes(), Encoding::Hex).expect("hex");
        assert!(keys.verify(&[b"12", b".", b"hello"], &candidates(&[sig])));
    }

    #[test]
    fn any_key_and_any_candidate_may_match() {
        let keys = Keys::new(Algorithm::Sha1, [b"old".as_slice(), b"new".as_slice()]);
        let good = sign(Algorithm::Sha1, b"new", &[b"body"]);
        let good = Signature::decode(hex::encode(good).as_bytes(), Encoding::Hex).expect("hex");
        let junk = Signature::decode(b"00112233", Encoding::Hex).expect("hex");
        assert!(keys.verify(&[b"body"], &candidates(&[junk, good])));
        assert!(!keys.verify(&[b"body"], &candidates(&[junk])));
        assert!(!keys.verify(&[b"other"], &candidates(&[good])));
    }

    #[test]
    fn truncated_empty_and_oversized_signatures_never_verify() {
        let keys = Keys::new(Algorithm::Sha256, [b"k".as_slice()]);
        let full = hex::encode(sign(Algorithm::Sha256, b"k", &[b"m"]));
        let truncated = Signature::decode(&full.as_bytes()[..32], Encoding::Hex).expect("hex");
        assert!(!keys.verify_one(&[b"m"], truncated));
        assert!(Signature::decode(b"", Encoding::Hex).is_none());
        assert!(Signature::decode(b"", Encoding::Base64).is_none());
        assert!(Signature::decode(b"abc", Encoding::Hex).is_none());
        assert!(Signature::decode("ab".repeat(65).as_bytes(), Encoding::Hex).is_none());
        assert!(Signature::decode("QUJD".repeat(40).as_bytes(), Encoding::Base64).is_none());
    }

    #[test]
    fn candidates_beyond_the_cap_are_ignored() {
        let sig = Signature::decode(b"00", Encoding::Hex).expect("hex");
        let mut c = Candidates::new();
        for _ in 0..MAX_CANDIDATES + 5 {
            c.push(sig);
        }
        assert_eq!(c.iter().count(), MAX_CANDIDATES);
    }
}
