//! What every provider's check shares: the [`Scheme`] trait, what it reads
//! of a request ([`Signed`], [`SchemeHeader`]), what it answers
//! ([`VerifyError`], [`ReplayMaterial`], [`MalformedBatch`]), what building
//! it takes ([`SchemeOptions`], [`BuildError`] and the key parsers), and the
//! [`Defaults`] a provider declares.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName};

use super::{Challenge, Handshake, HmacOptions, TokenOptions};
use crate::config::secret::Secret;

/// One provider's check with its keys ready.
pub(crate) trait Scheme: std::fmt::Debug + Send + Sync {
    /// Checks a request's signature.
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError>;

    /// As [`Scheme::verify`], and what of the signed content the replay
    /// guard remembers: the body, unless the scheme signs something else
    /// (Mailgun's token, Twilio's signed string).
    fn verify_replay(&self, request: Signed<'_>) -> Result<ReplayMaterial, VerifyError> {
        self.verify(request).map(|()| ReplayMaterial::Body)
    }

    /// The provider's endpoint check, if this verified body is one (Slack's
    /// `url_verification`).
    fn handshake(&self, _body: &[u8]) -> Option<Handshake> {
        None
    }

    /// The provider's check that comes before a signature can be checked, or
    /// without one (Dropbox's `GET ?challenge=`, Asana's `X-Hook-Secret`,
    /// Notion's verification token), GET and HEAD requests included: answered
    /// before verification, so it may publish nothing and answer only with
    /// what the request itself brought. `None`: not one, verify as usual.
    fn challenge(&self, _request: Challenge<'_>) -> Option<Handshake> {
        None
    }

    /// The events a verified delivery carries when it carries several
    /// (Mandrill's batch), each published as its own record; `None`: the
    /// body is one event.
    fn split(&self, _body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        None
    }
}

/// What a scheme needs from a request.
#[derive(Clone, Copy)]
pub(crate) struct Signed<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    /// Seconds since the Unix epoch.
    pub(crate) now: i64,
    /// The request URI's query string, for schemes that sign the URL.
    pub(crate) query: Option<&'a str>,
}
/// What some schemes need beyond their secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchemeOptions<'a> {
    /// The `hmac` scheme's header, hash, encoding and prefix.
    pub hmac: Option<&'a HmacOptions>,
    /// The URL the provider was given, for schemes that sign it (Square).
    pub public_url: Option<&'a str>,
    /// The `token` scheme's place for the token.
    pub token: Option<&'a TokenOptions>,
    /// The token a provider's verification request must present (Meta's
    /// `hub.verify_token`); `None`: such requests are not answered.
    pub verify_token: Option<&'a Secret>,
    /// Where the certificates of schemes that name theirs by URL come from
    /// (SNS, PayPal), its paths resolved; `None`: fetched from the
    /// provider's hosts.
    pub certificates: Option<&'a super::CertificateOptions>,
    /// Whether SNS subscription confirmations are confirmed by visiting
    /// their `SubscribeURL`.
    pub confirm_subscriptions: bool,
}

/// A scheme's built-in choices, each overridable per source.
#[derive(Debug)]
pub struct Defaults {
    /// Where the provider's event id is, in the `event_id` config syntax.
    pub event_id: &'static str,
    /// Where the provider names the event's type, in the same syntax, for
    /// routing by event type; `None` where it has no useful one.
    pub event_type: Option<&'static str>,
    /// Provider headers that consumers need, copied to Kafka headers.
    pub forward_headers: &'static [&'static str],
    /// Whether the scheme signs a timestamp, and so checks a tolerance.
    pub timestamped: bool,
    /// The provider's own tolerance, where it documents one; else
    /// [`DEFAULT_TOLERANCE`].
    pub tolerance: Option<Duration>,
    /// Whether the replay guard is on unless a source says otherwise: for
    /// schemes whose event id is not signed, so that a captured delivery sent
    /// again under a new id is still a duplicate.
    pub replay_guard: bool,
    /// Where the entity an event is about is (an object, a repository, a
    /// workspace), in the `event_id` syntax: the Kafka key unless a source
    /// sets its own, so one entity's events share a partition. `None`: the
    /// event id.
    pub partition_key: Option<&'static str>,
}

/// The tolerance for timestamped schemes unless a source sets its own.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a request's signature was not accepted. Each is answered 401 (see
/// `error.rs` for the metric label each becomes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("missing {0} query parameter")]
    MissingParameter(&'static str),
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    #[error("malformed or missing {0} field in the signed body")]
    MalformedField(&'static str),
    #[error("timestamp is outside the allowed tolerance")]
    StaleTimestamp,
    #[error("signature does not match")]
    Mismatch,
    /// The delivery names a signing certificate hookgate has not fetched
    /// yet: it is fetched now, and the retry is checked with it.
    #[error("the signing certificate is being fetched: retry shortly")]
    CertificatePending,
}

/// A verified delivery that should carry a batch of events but whose batch
/// cannot be read (Mandrill's `mandrill_events`): authentic, so a retry would
/// not help; answered 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signed batch cannot be read: {0}")]
pub struct MalformedBatch(pub String);

/// Why a source's verifier could not be built; `field` is relative to the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub field: String,
    pub message: String,
}

/// What the replay guard remembers of a verified delivery: what its
/// signature covers, so that a captured delivery changed only where nothing
/// is signed (a new id header, reordered form parameters, new `event-data`
/// beside Mailgun's block) still counts as the same delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplayMaterial {
    /// The body, where the signature covers it as received.
    Body,
    /// A signed value that is new in every delivery, at this place in the
    /// body (Mailgun's token).
    Within(Range<usize>),
    /// The SHA-256 of what was signed, where that is not the body's bytes
    /// (Twilio signs the URL and the decoded, sorted form parameters).
    Digest([u8; 32]),
}

/// A header a scheme reads, its name parsed once at start-up: looking it up
/// in a request then skips validating and lower-casing the name every time.
/// `label` is the provider's spelling, for messages.
#[derive(Debug, Clone)]
pub(crate) struct SchemeHeader {
    /// `None` for a name no header can have: such a header is never present.
    name: Option<HeaderName>,
    label: &'static str,
}

impl SchemeHeader {
    pub(crate) fn new(label: &'static str) -> Self {
        Self {
            name: HeaderName::from_bytes(label.as_bytes()).ok(),
            label,
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        self.label
    }

    pub(crate) fn is_in(&self, headers: &HeaderMap) -> bool {
        self.name
            .as_ref()
            .is_some_and(|name| headers.contains_key(name))
    }

    /// The header's value, which the scheme requires once: a second copy
    /// makes the request ambiguous (a proxy may read the other one), so it is
    /// refused as malformed rather than guessed at.
    pub(crate) fn required<'h>(&self, headers: &'h HeaderMap) -> Result<&'h [u8], VerifyError> {
        let missing = VerifyError::MissingHeader(self.label);
        let mut values = headers.get_all(self.name.as_ref().ok_or(missing)?).iter();
        let value = values.next().ok_or(missing)?;
        if values.next().is_some() {
            return Err(VerifyError::MalformedHeader(self.label));
        }
        Ok(value.as_bytes())
    }
}
/// The source's `public_url`, which schemes that sign the URL require.
pub(super) fn require_public_url<'a>(
    public_url: Option<&'a str>,
    why: &str,
) -> Result<&'a str, Vec<BuildError>> {
    public_url.ok_or_else(|| {
        vec![BuildError {
            field: "public_url".into(),
            message: format!(
                "{why}: set public_url to the URL given to the provider, without a query"
            ),
        }]
    })
}

/// Parses each secret (a public key, or an encoded shared key); each one that
/// does not parse is an error that names its index.
pub(super) fn parse_keys<K>(
    secrets: &[Secret],
    parse: impl Fn(&[u8]) -> Option<K>,
    what: &str,
) -> Result<Vec<K>, Vec<BuildError>> {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        match parse(secret.expose()) {
            Some(key) => keys.push(key),
            None => errors.push(BuildError {
                field: format!("secrets[{i}]"),
                message: what.to_owned(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
}
pub(super) fn verdict(matched: bool) -> Result<(), VerifyError> {
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}
