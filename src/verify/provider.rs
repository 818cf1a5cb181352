//! A provider's entry in the table, [`Provider`]: its defaults, how a
//! source's check is built and how a delivery is signed, and the few ways a
//! provider departs from the usual (a key of its own, a sample event, an
//! unsigned body). Each provider file ends in one.

use super::header::HeaderHmac;
use super::list::{ListFormat, TimestampedList, sign_timestamped};
use super::presented;
use super::{BuildError, Defaults, Scheme, SchemeOptions, SignedDelivery};
use crate::config::secret::Secret;

/// A provider's entry in the table: everything the rest of hookgate needs of
/// it, given by its file.
pub(crate) struct Provider {
    /// What the provider's documentation says about ids, headers and timestamps.
    pub(super) defaults: Defaults,
    /// How a source's check is built and a delivery signed.
    check: Check,
    /// The key a source configures to verify what `sign` signs with a secret:
    /// the secret itself for HMAC schemes, the public key for asymmetric ones.
    pub(super) verification_key: fn(&[u8]) -> Option<Vec<u8>>,
    /// An event in the provider's shape, for `hookgate send` without a body;
    /// `None`: a generic one.
    pub(super) sample: Option<SampleFn>,
    /// A signing secret in the form the provider issues them, for examples
    /// and tests.
    pub(super) example_secret: &'static [u8],
    /// Whether a changed body fails the check: not for a token sent as it
    /// is, nor for Mailgun, which signs a token beside the event.
    pub(super) signs_body: bool,
    /// Why a captured delivery sent again under a changed event id gets past
    /// the replay guard, where it does (docs/providers.md says the same); `None`:
    /// the id is signed, or the guard catches such a copy.
    pub(super) unguarded_because: Option<&'static str>,
}

/// Why the schemes that sign nothing cannot be guarded against replays
/// under new ids.
pub(super) const SIGNS_NOTHING: &str = "it signs nothing: whoever has seen one delivery can send any body, and each body is a new event id and a new replay-guard key";

pub(super) type BuildFn = fn(&BuildInput<'_>) -> Result<Box<dyn Scheme>, BuildErrors>;
pub(super) type SignFn = fn(&SignInput<'_>) -> Result<SignedDelivery, String>;
pub(super) type SampleFn = fn(&str, i64) -> serde_json::Value;
/// The headers a sender sends, given its signature header: where that goes
/// among them and what the provider sends beside it (its event id, type).
pub(super) type HeadersFn = fn(&SignInput<'_>, (String, String)) -> Vec<(String, String)>;

/// How a provider's check is built and its deliveries signed.
#[derive(Clone, Copy)]
enum Check {
    /// One HMAC of the body in one header: the check and the signature
    /// follow from the shape, and only the headers sent beside it are the
    /// provider's.
    HeaderHmac {
        shape: HeaderHmac,
        headers: HeadersFn,
    },
    /// A `key=value` list header with a timestamp and HMAC-SHA256
    /// signatures, in this format: the check and the signature follow from
    /// it.
    TimestampedList(&'static ListFormat),
    /// The provider's own: its check, with a source's keys ready (a secret
    /// it cannot use is an error, never a check that accepts everything),
    /// and a correctly signed delivery, for `hookgate send` and tests.
    Own { build: BuildFn, sign: SignFn },
}

impl Provider {
    /// A provider whose sources verify with the secret it signs with (the HMAC
    /// schemes), sent the generic sample event.
    pub(super) const fn shared_secret(defaults: Defaults, build: BuildFn, sign: SignFn) -> Self {
        Self::with_check(defaults, Check::Own { build, sign })
    }

    /// A provider whose whole check is one HMAC of the body in one header,
    /// as `shape` says: what differs between such providers is the shape
    /// and the `headers` a sender sends around the signature.
    pub(super) const fn header_hmac(
        defaults: Defaults,
        shape: HeaderHmac,
        headers: HeadersFn,
    ) -> Self {
        Self::with_check(defaults, Check::HeaderHmac { shape, headers })
    }

    /// A provider whose whole check is a timestamped list header in
    /// `format` (Stripe's `t=…,v1=…`).
    pub(super) const fn timestamped_list(defaults: Defaults, format: &'static ListFormat) -> Self {
        Self::with_check(defaults, Check::TimestampedList(format))
    }

    /// A sender that signs nothing and sends HTTP basic auth credentials
    /// (`user:password` in the URL it was given): the `token` check in its
    /// place, as weak as a token.
    pub(super) const fn basic_auth(defaults: Defaults) -> Self {
        Self::shared_secret(
            defaults,
            |input| {
                Ok(Box::new(presented::Token::new(
                    input.secrets,
                    presented::Place::basic(),
                )))
            },
            |input| input.presenting(&presented::Place::basic()),
        )
        .without_body_signature()
        .unguarded_because(SIGNS_NOTHING)
    }

    const fn with_check(defaults: Defaults, check: Check) -> Self {
        Self {
            defaults,
            check,
            verification_key: same_key,
            sample: None,
            example_secret: b"example-signing-secret",
            signs_body: true,
            unguarded_because: None,
        }
    }

    /// A source's check, with its keys ready.
    pub(super) fn build(&self, input: &BuildInput<'_>) -> Result<Box<dyn Scheme>, BuildErrors> {
        match self.check {
            Check::HeaderHmac { shape, .. } => Ok(Box::new(shape.scheme(input.secrets))),
            Check::TimestampedList(format) => Ok(Box::new(TimestampedList::new(
                input.secrets,
                input.tolerance,
                format,
            ))),
            Check::Own { build, .. } => build(input),
        }
    }

    /// A correctly signed delivery.
    pub(super) fn sign(&self, input: &SignInput<'_>) -> Result<SignedDelivery, String> {
        match self.check {
            Check::HeaderHmac { shape, headers } => {
                input.with_headers(headers(input, shape.sign(input.secret, &[input.payload])))
            }
            Check::TimestampedList(format) => input.with_headers(sign_timestamped(
                input.secret,
                input.payload,
                input.now,
                format,
            )),
            Check::Own { sign, .. } => sign(input),
        }
    }

    /// The provider authenticates the sender without signing the body.
    pub(super) const fn without_body_signature(mut self) -> Self {
        self.signs_body = false;
        self
    }

    /// A captured delivery under a new event id gets past the replay guard,
    /// for this reason.
    pub(super) const fn unguarded_because(mut self, reason: &'static str) -> Self {
        self.unguarded_because = Some(reason);
        self
    }

    /// The provider issues secrets in a form of its own (a prefix, a key).
    pub(super) const fn with_example_secret(mut self, secret: &'static [u8]) -> Self {
        self.example_secret = secret;
        self
    }

    /// Sources configure a key derived from the signing secret (a public key).
    pub(super) const fn with_verification_key(mut self, key: fn(&[u8]) -> Option<Vec<u8>>) -> Self {
        self.verification_key = key;
        self
    }

    /// `hookgate send` sends this event in the provider's shape.
    pub(super) const fn with_sample(mut self, sample: SampleFn) -> Self {
        self.sample = Some(sample);
        self
    }
}

/// Every reason a source's check could not be built.
pub(crate) type BuildErrors = Vec<BuildError>;

/// What building a source's check takes.
pub(crate) struct BuildInput<'a> {
    pub(crate) secrets: &'a [Secret],
    /// Seconds.
    pub(crate) tolerance: u64,
    pub(crate) options: SchemeOptions<'a>,
}

/// What signing a delivery takes.
pub(crate) struct SignInput<'a> {
    /// As it would be written in the secret file.
    pub(crate) secret: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) event_id: &'a str,
    /// Unix seconds.
    pub(crate) now: i64,
    pub(crate) options: SchemeOptions<'a>,
}

/// The verification key of HMAC schemes: the shared secret itself.
pub(super) fn same_key(secret: &[u8]) -> Option<Vec<u8>> {
    Some(secret.to_vec())
}

impl SignInput<'_> {
    /// The delivery of schemes that sign in headers: the payload as the body.
    pub(super) fn with_headers(
        &self,
        headers: Vec<(String, String)>,
    ) -> Result<SignedDelivery, String> {
        Ok(SignedDelivery {
            headers,
            body: self.payload.to_vec(),
            query: None,
        })
    }

    /// The delivery of a sender that signs nothing and presents its token
    /// at `place` (a header, the query string, basic auth).
    pub(super) fn presenting(&self, place: &presented::Place) -> Result<SignedDelivery, String> {
        let (headers, query) = presented::present(place, self.secret);
        Ok(SignedDelivery {
            headers,
            body: self.payload.to_vec(),
            query,
        })
    }
}
