//! Signature verification: the second stage of the pipeline.
//!
//! Each provider's scheme is one file here with its own test vectors. This module
//! owns what they share: the [`VerifyError`] reasons, timestamp tolerance, and
//! [`Verified`], the proof of verification that nothing else can construct and
//! that the rest of the pipeline requires.

mod header;
mod headers;
mod list;
pub(crate) mod mac;
mod v0;

/// The provider table: each line is a provider's name in configuration, its
/// file, and its variant of [`VerifierKind`]. Adding a provider is its file
/// (ending in a `PROVIDER` entry) and one line here.
macro_rules! providers {
    ($($name:literal => $module:ident :: $kind:ident,)+) => {
        $(mod $module;)+

        /// The signature schemes a source can use.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VerifierKind {
            $($kind,)+
        }

        impl VerifierKind {
            /// Every scheme, for help texts and tests.
            pub const ALL: [VerifierKind; [$($name,)+].len()] = [$(Self::$kind,)+];
            /// Their names in configuration, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name,)+];

            /// The name used in configuration.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => $name,)+
                }
            }

            fn provider(self) -> &'static Provider {
                match self {
                    $(Self::$kind => &$module::PROVIDER,)+
                }
            }
        }
    };
}

providers! {
    "hmac" => hmac::Hmac,
    "token" => token::Token,
    "github" => github::Github,
    "stripe" => stripe::Stripe,
    "slack" => slack::Slack,
    "shopify" => shopify::Shopify,
    "standard-webhooks" => standard_webhooks::StandardWebhooks,
    "svix" => svix::Svix,
    "clerk" => clerk::Clerk,
    "resend" => resend::Resend,
    "paddle" => paddle::Paddle,
    "zoom" => zoom::Zoom,
    "pagerduty" => pagerduty::PagerDuty,
    "calendly" => calendly::Calendly,
    "intercom" => intercom::Intercom,
    "linear" => linear::Linear,
    "mailgun" => mailgun::Mailgun,
    "discord" => discord::Discord,
    "sendgrid" => sendgrid::SendGrid,
    "square" => square::Square,
    "twilio" => twilio::Twilio,
    "gitlab" => gitlab::Gitlab,
    "mailchimp" => mailchimp::Mailchimp,
    "mandrill" => mandrill::Mandrill,
    "plaid" => plaid::Plaid,
    "typeform" => typeform::Typeform,
    "notion" => notion::Notion,
    "vercel" => vercel::Vercel,
    "sentry" => sentry::Sentry,
    "woocommerce" => woocommerce::WooCommerce,
    "bitbucket" => bitbucket::Bitbucket,
    "jira" => jira::Jira,
    "coinbase-commerce" => coinbase_commerce::CoinbaseCommerce,
    "razorpay" => razorpay::Razorpay,
    "segment" => segment::Segment,
    "hubspot" => hubspot::HubSpot,
    "box" => box_com::BoxCom,
    "xero" => xero::Xero,
    "asana" => asana::Asana,
    "dropbox" => dropbox::Dropbox,
    "microsoft-graph" => microsoft_graph::MicrosoftGraph,
    "okta" => okta::Okta,
}

use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Deserializer, de};

pub use self::headers::provider_headers;
pub use self::hmac::HmacOptions;
pub use self::mac::{Algorithm, Encoding};
pub use self::token::TokenOptions;
use crate::config::secret::Secret;

impl VerifierKind {
    /// What the provider's documentation says about ids, headers and timestamps.
    pub fn defaults(self) -> &'static Defaults {
        &self.provider().defaults
    }
}

impl FromStr for VerifierKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown provider {name:?}; one of: {}",
                    Self::NAMES.join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for VerifierKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| de::Error::unknown_variant(&name, Self::NAMES))
    }
}

/// A provider's entry in the table: everything the rest of hookgate needs of
/// it, given by its file.
pub(crate) struct Provider {
    /// What the provider's documentation says about ids, headers and timestamps.
    defaults: Defaults,
    /// Its check, with a source's keys ready; a secret it cannot use is an
    /// error, never a check that accepts everything.
    build: BuildFn,
    /// A correctly signed delivery, for `hookgate send` and tests.
    sign: SignFn,
    /// The key a source configures to verify what `sign` signs with a secret:
    /// the secret itself for HMAC schemes, the public key for asymmetric ones.
    verification_key: fn(&[u8]) -> Option<Vec<u8>>,
    /// An event in the provider's shape, for `hookgate send` without a body;
    /// `None`: a generic one.
    sample: Option<SampleFn>,
    /// A signing secret in the form the provider issues them, for examples
    /// and tests.
    example_secret: &'static [u8],
    /// Whether a changed body fails the check: not for a token sent as it
    /// is, nor for Mailgun, which signs a token beside the event.
    signs_body: bool,
    /// Why a captured delivery sent again under a changed event id gets past
    /// the replay guard, where it does (the README says the same); `None`:
    /// the id is signed, or the guard catches such a copy.
    unguarded_because: Option<&'static str>,
}

/// Why the schemes that sign nothing cannot be guarded against replays
/// under new ids.
const SIGNS_NOTHING: &str = "it signs nothing: whoever has seen one delivery can send any body, and each body is a new event id and a new replay-guard key";

type BuildFn = fn(&BuildInput<'_>) -> Result<Box<dyn Scheme>, BuildErrors>;
type SignFn = fn(&SignInput<'_>) -> Result<SignedDelivery, String>;
type SampleFn = fn(&str, i64) -> serde_json::Value;

impl Provider {
    /// A provider whose sources verify with the secret it signs with (the HMAC
    /// schemes), sent the generic sample event.
    const fn shared_secret(defaults: Defaults, build: BuildFn, sign: SignFn) -> Self {
        Self {
            defaults,
            build,
            sign,
            verification_key: same_key,
            sample: None,
            example_secret: b"example-signing-secret",
            signs_body: true,
            unguarded_because: None,
        }
    }

    /// The provider authenticates the sender without signing the body.
    const fn without_body_signature(mut self) -> Self {
        self.signs_body = false;
        self
    }

    /// A captured delivery under a new event id gets past the replay guard,
    /// for this reason.
    const fn unguarded_because(mut self, reason: &'static str) -> Self {
        self.unguarded_because = Some(reason);
        self
    }

    /// The provider issues secrets in a form of its own (a prefix, a key).
    const fn with_example_secret(mut self, secret: &'static [u8]) -> Self {
        self.example_secret = secret;
        self
    }

    /// Sources configure a key derived from the signing secret (a public key).
    const fn with_verification_key(mut self, key: fn(&[u8]) -> Option<Vec<u8>>) -> Self {
        self.verification_key = key;
        self
    }

    /// `hookgate send` sends this event in the provider's shape.
    const fn with_sample(mut self, sample: SampleFn) -> Self {
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

/// The verification key of HMAC schemes: the shared secret itself.
fn same_key(secret: &[u8]) -> Option<Vec<u8>> {
    Some(secret.to_vec())
}

impl SignInput<'_> {
    /// The delivery of schemes that sign in headers: the payload as the body.
    fn with_headers(&self, headers: Vec<(String, String)>) -> Result<SignedDelivery, String> {
        Ok(SignedDelivery {
            headers,
            body: self.payload.to_vec(),
            query: None,
        })
    }

    /// The delivery of a sender that signs nothing and presents its token
    /// at `place` (a header, the query string, basic auth).
    fn presenting(&self, place: &token::Place) -> Result<SignedDelivery, String> {
        let (headers, query) = token::present(place, self.secret);
        Ok(SignedDelivery {
            headers,
            body: self.payload.to_vec(),
            query,
        })
    }
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

/// A request body whose signature was checked. Only [`Verifier::verify`] makes one.
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
    replay: ReplayMaterial,
}

impl Verified {
    /// The exact bytes that were received and verified.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What the replay guard remembers of this delivery: the signed body, a
    /// signed nonce in it, or the digest of what the scheme signs instead.
    pub fn replay_material(&self) -> &[u8] {
        match &self.replay {
            ReplayMaterial::Body => &self.body,
            ReplayMaterial::Within(nonce) => self.body.get(nonce.clone()).unwrap_or(&self.body),
            ReplayMaterial::Digest(digest) => digest,
        }
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

/// A request that is the provider checking the endpoint, not an event:
/// hookgate answers it itself, counts it and publishes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// What kind, for the log line: `url_verification`,
    /// `endpoint.url_validation`, `ping`, `challenge`.
    pub kind: &'static str,
    pub reply: Reply,
    /// Response headers the provider expects (Asana's `X-Hook-Secret`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What the operator needs from it, for the log: the secret a provider
    /// hands over in its first request (Notion's verification token, Asana's
    /// hook secret), which becomes the source's secret.
    pub note: Option<String>,
}

/// The body of a handshake's answer, always with status 200.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Json(serde_json::Value),
    /// `text/plain`, sent with `X-Content-Type-Options: nosniff` (an echoed
    /// challenge must never be taken for HTML).
    Text(String),
    Empty,
}

impl Handshake {
    pub(crate) fn json(kind: &'static str, reply: serde_json::Value) -> Self {
        Self::new(kind, Reply::Json(reply))
    }

    pub(crate) fn text(kind: &'static str, reply: String) -> Self {
        Self::new(kind, Reply::Text(reply))
    }

    pub(crate) fn empty(kind: &'static str) -> Self {
        Self::new(kind, Reply::Empty)
    }

    fn new(kind: &'static str, reply: Reply) -> Self {
        Self {
            kind,
            reply,
            headers: Vec::new(),
            note: None,
        }
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn noting(mut self, note: String) -> Self {
        self.note = Some(note);
        self
    }
}

/// The longest challenge a handshake echoes back; providers' are far shorter.
pub(crate) const MAX_ECHO_LEN: usize = 1024;

/// A challenge fit to be echoed: printable ASCII (spaces included), at most
/// [`MAX_ECHO_LEN`] bytes. Anything else is not answered as a handshake.
pub(crate) fn echoable(challenge: &str) -> Option<&str> {
    (!challenge.is_empty()
        && challenge.len() <= MAX_ECHO_LEN
        && challenge.bytes().all(|b| b == b' ' || b.is_ascii_graphic()))
    .then_some(challenge)
}

/// A request as a provider's unsigned check sees it: [`Signed`] and its method.
#[derive(Clone, Copy)]
pub(crate) struct Challenge<'a> {
    pub(crate) method: &'a Method,
    pub(crate) request: Signed<'a>,
}

impl Challenge<'_> {
    /// The first value of `name` in the query string, decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.request.query?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// One source's scheme with its keys ready.
#[derive(Debug)]
pub struct Verifier {
    scheme: Box<dyn Scheme>,
}

impl Verifier {
    /// Builds a verifier; a secret the scheme cannot use is an error, never a
    /// verifier that accepts everything.
    pub fn build(
        kind: VerifierKind,
        secrets: &[Secret],
        tolerance: Duration,
        options: SchemeOptions<'_>,
    ) -> Result<Self, Vec<BuildError>> {
        if secrets.is_empty() {
            return Err(vec![BuildError {
                field: "secrets".into(),
                message: "at least one secret is required".into(),
            }]);
        }
        let input = BuildInput {
            secrets,
            tolerance: tolerance.as_secs(),
            options,
        };
        Ok(Self {
            scheme: (kind.provider().build)(&input)?,
        })
    }

    /// The provider's endpoint check, if this verified body is one: Slack's
    /// `url_verification`, Zoom's `endpoint.url_validation`, Discord's PING.
    pub fn handshake(&self, verified: &Verified) -> Option<Handshake> {
        self.scheme.handshake(verified.body())
    }

    /// The provider's unsigned endpoint check, if this request (of any
    /// method; `body` empty for GET and HEAD) is one: answered before, or
    /// instead of, verification.
    pub fn challenge(
        &self,
        method: &Method,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Option<Handshake> {
        self.scheme.challenge(Challenge {
            method,
            request: Signed {
                headers,
                body,
                now,
                query,
            },
        })
    }

    /// The events of a verified batch (Mandrill's), each as verified as the
    /// whole; `None` for the schemes whose delivery is one event.
    pub fn split(&self, verified: &Verified) -> Option<Result<Vec<Verified>, MalformedBatch>> {
        let events = self.scheme.split(&verified.body)?;
        Some(events.map(|events| {
            events
                .into_iter()
                .map(|body| Verified {
                    body,
                    replay: ReplayMaterial::Body,
                })
                .collect()
        }))
    }

    /// Checks the request's signature over `body` at time `now` (Unix seconds).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        self.verify_with_query(headers, None, body, now)
    }

    /// As [`Verifier::verify`], for a request whose URI had `query`: schemes
    /// that sign the URL (Twilio) need it.
    pub fn verify_with_query(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        body: Bytes,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let replay = self.scheme.verify_replay(Signed {
            headers,
            body: &body,
            now,
            query,
        })?;
        Ok(Verified { body, replay })
    }
}

/// A delivery as its provider would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    pub headers: Vec<(String, String)>,
    /// The body to send: the payload itself, except for schemes that sign
    /// inside the body (Mailgun wraps the payload as its `event-data`).
    pub body: Vec<u8>,
    /// A query string to add to the URL posted to, for schemes that sign one
    /// (Twilio's `bodySHA256`).
    pub query: Option<String>,
}

/// A correctly signed delivery of `payload`, for tools and tests that send
/// deliveries. `secret` is written as it would be in the secret file.
pub fn sign(
    kind: VerifierKind,
    secret: &[u8],
    payload: &[u8],
    event_id: &str,
    now: i64,
    options: SchemeOptions<'_>,
) -> Result<SignedDelivery, String> {
    (kind.provider().sign)(&SignInput {
        secret,
        payload,
        event_id,
        now,
        options,
    })
}

/// A signing secret of the form `kind`'s provider issues, for examples and
/// tests; never one to deploy.
pub fn example_secret(kind: VerifierKind) -> &'static [u8] {
    kind.provider().example_secret
}

/// What a source configures to verify deliveries signed with `signing_secret`:
/// the secret itself for HMAC schemes, the public key for asymmetric ones.
pub fn verification_key(kind: VerifierKind, signing_secret: &[u8]) -> Option<Vec<u8>> {
    (kind.provider().verification_key)(signing_secret)
}

/// An event in the provider's shape carrying `id`, for `hookgate send`.
pub fn sample(kind: VerifierKind, id: &str, now: i64) -> serde_json::Value {
    match kind.provider().sample {
        Some(sample) => sample(id, now),
        None => serde_json::json!({
            "id": id,
            "event_id": id,
            "type": "hookgate.sample",
            "created": now,
            "data": { "message": "hello from hookgate send" }
        }),
    }
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

/// Parses a Unix timestamp in seconds and checks it lies within `tolerance` of
/// `now`, in either direction (a clock ahead of ours is as suspect as one behind).
fn check_timestamp(
    raw: &[u8],
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    check_stamp(raw, 1, now, tolerance, label)
}

/// As [`check_timestamp`], for a timestamp in milliseconds (HubSpot's).
fn check_timestamp_millis(
    raw: &[u8],
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    check_stamp(raw, 1000, now, tolerance, label)
}

/// A timestamp counted in `1 / per_second` seconds, within `tolerance`
/// seconds of `now` (seconds).
fn check_stamp(
    raw: &[u8],
    per_second: u32,
    now: i64,
    tolerance: u64,
    label: &'static str,
) -> Result<(), VerifyError> {
    let malformed = VerifyError::MalformedHeader(label);
    // Twelve digits of seconds reach the year 33658; more is not a clock.
    let max_digits = 12 + per_second.ilog10() as usize;
    if raw.is_empty() || raw.len() > max_digits || !raw.iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    let stamp: i64 = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(malformed)?;
    let per_second = i64::from(per_second);
    if now.saturating_mul(per_second).abs_diff(stamp) > tolerance.saturating_mul(per_second as u64)
    {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}

/// The source's `public_url`, which schemes that sign the URL require.
fn require_public_url<'a>(
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
fn parse_keys<K>(
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

/// Whether `body` contains `needle`: a cheap test before parsing a body as
/// a handshake.
fn mentions(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|window| window == needle)
}

fn verdict(matched: bool) -> Result<(), VerifyError> {
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use http::{HeaderMap, HeaderName, HeaderValue};

    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        map
    }

    /// Runs a scheme on a request with these headers, body and clock (Unix
    /// seconds), as the gateway does: every provider's vectors go through it.
    pub(crate) fn run(
        scheme: &dyn super::Scheme,
        pairs: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<(), super::VerifyError> {
        scheme.verify(super::Signed {
            headers: &headers(pairs),
            body,
            now,
            query: None,
        })
    }

    /// Offers a scheme a request as a provider's unsigned check would come.
    pub(crate) fn challenge(
        scheme: &dyn super::Scheme,
        method: http::Method,
        pairs: &[(&str, &str)],
        query: Option<&str>,
        body: &[u8],
    ) -> Option<super::Handshake> {
        scheme.challenge(super::Challenge {
            method: &method,
            request: super::Signed {
                headers: &headers(pairs),
                body,
                now: 0,
                query,
            },
        })
    }

    pub(crate) fn owned(pairs: &[(String, String)]) -> HeaderMap {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers(&borrowed)
    }

    /// Everything a one-header HMAC provider must do, checked against its
    /// vector: `signature` is what the provider sends for `body` under
    /// `secret`. It verifies, and signing makes it; any configured secret
    /// may match (rotation); another secret, a changed body or a cut
    /// signature do not; a missing header, an empty one, one without the
    /// prefix or not in the encoding are told apart.
    pub(crate) fn header_hmac_vector(
        shape: &super::header::HeaderHmac,
        secret: &[u8],
        body: &[u8],
        signature: &str,
    ) {
        use super::VerifyError::{MalformedHeader, Mismatch, MissingHeader};
        let check = |secrets: &[&[u8]], value: Option<&str>, body: &[u8]| {
            let secrets: Vec<crate::config::secret::Secret> = secrets
                .iter()
                .map(|secret| crate::config::secret::Secret::new(*secret))
                .collect();
            let pairs: Vec<(&str, &str)> = value.map(|v| (shape.header, v)).into_iter().collect();
            run(&shape.scheme(&secrets), &pairs, body, 0)
        };
        let header = shape.header;
        assert_eq!(check(&[secret], Some(signature), body), Ok(()), "{header}");
        assert_eq!(
            shape.sign(secret, &[body]),
            (header.to_owned(), signature.to_owned()),
            "{header}"
        );
        assert_eq!(
            check(&[b"another-secret", secret], Some(signature), body),
            Ok(()),
            "{header}: a second secret"
        );
        assert_eq!(
            check(&[b"another-secret"], Some(signature), body),
            Err(Mismatch),
            "{header}"
        );
        let mut changed = body.to_vec();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert_eq!(
            check(&[secret], Some(signature), &changed),
            Err(Mismatch),
            "{header}"
        );
        let cut = &signature[..signature.len() - 4];
        assert!(
            check(&[secret], Some(cut), body).is_err(),
            "{header}: {cut}"
        );
        assert_eq!(
            check(&[secret], None, body),
            Err(MissingHeader(header)),
            "{header}"
        );
        let mut malformed = vec![String::new(), format!("{}%%%", shape.prefix)];
        if !shape.prefix.is_empty() {
            malformed.push(signature[shape.prefix.len()..].to_owned());
        }
        for bad in &malformed {
            assert_eq!(
                check(&[secret], Some(bad), body),
                Err(MalformedHeader(header)),
                "{header}: {bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_checked_both_ways() {
        assert_eq!(check_timestamp(b"1000", 1300, 300, "T"), Ok(()));
        assert_eq!(check_timestamp(b"1600", 1300, 300, "T"), Ok(()));
        assert_eq!(
            check_timestamp(b"999", 1300, 300, "T"),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check_timestamp(b"1601", 1300, 300, "T"),
            Err(VerifyError::StaleTimestamp)
        );
        for bad in [&b""[..], b"-5", b"12a", b"1e3", b"9999999999999"] {
            assert_eq!(
                check_timestamp(bad, 1300, 300, "T"),
                Err(VerifyError::MalformedHeader("T"))
            );
        }
    }

    #[test]
    fn every_scheme_accepts_what_it_signs_and_nothing_else() {
        let options = HmacOptions::default();
        for kind in VerifierKind::ALL {
            let secret_text = example_secret(kind);
            let key = verification_key(kind, secret_text).expect("a verification key");
            let scheme_options = SchemeOptions {
                hmac: Some(&options),
                public_url: Some("https://hooks.example.com/in"),
                token: None,
            };
            let verifier =
                Verifier::build(kind, &[Secret::new(key)], DEFAULT_TOLERANCE, scheme_options)
                    .expect("builds");
            let payload = br#"{"id":"evt_1","event_id":"Ev1","webhookTimestamp":1700000000000}"#;
            let signed = sign(
                kind,
                secret_text,
                payload,
                "evt_1",
                1_700_000_000,
                scheme_options,
            )
            .expect("signs");
            let headers = test_support::owned(&signed.headers);
            let body = Bytes::from(signed.body.clone());
            let query = signed.query.as_deref();
            assert!(
                verifier
                    .verify_with_query(&headers, query, body.clone(), 1_700_000_000)
                    .is_ok(),
                "{kind:?}"
            );
            let tampered = String::from_utf8(signed.body)
                .expect("utf-8")
                .replace("Ev1", "Ev2");
            let outcome =
                verifier.verify_with_query(&headers, query, Bytes::from(tampered), 1_700_000_000);
            if !kind.provider().signs_body {
                assert!(outcome.is_ok(), "{kind:?}");
            } else {
                assert_eq!(outcome.unwrap_err(), VerifyError::Mismatch, "{kind:?}");
            }
            // The payload alone, without what signing added (headers, a
            // query, Mailgun's block or Graph's clientState in the body),
            // verifies for no scheme.
            assert!(
                verifier
                    .verify(
                        &HeaderMap::new(),
                        Bytes::from_static(payload),
                        1_700_000_000
                    )
                    .is_err(),
                "{kind:?}"
            );
        }
    }

    /// What a scheme does not sign is where a captured delivery can take a
    /// new event id: each copy of (`headers`, `body`) with its id changed
    /// there, as `locator` finds the id, and how it was changed.
    fn with_id_changed(
        locator: &crate::pipeline::locate::Locator,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Vec<(HeaderMap, Vec<u8>, String)> {
        use crate::pipeline::locate::{LocateError, Locator};
        match locator {
            Locator::Header(name) => {
                let mut changed = headers.clone();
                changed.insert(name, HeaderValue::from_static("hookgate-changed-id"));
                vec![(changed, body.to_vec(), format!("a new {name}"))]
            }
            Locator::Json { pointer, .. } => {
                let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return Vec::new();
                };
                let Some(value) = json.pointer_mut(pointer) else {
                    return Vec::new();
                };
                *value = "hookgate-changed-id".into();
                let changed = serde_json::to_vec(&json).expect("serialises");
                vec![(
                    headers.clone(),
                    changed,
                    format!("a new {pointer} in the body"),
                )]
            }
            Locator::BodySha256 => {
                let mut changed = body.to_vec();
                changed.push(b' ');
                vec![(headers.clone(), changed, "a space after the body".into())]
            }
            Locator::HeaderSha256(name) | Locator::JwsSha256(name) => headers
                .get(name)
                .and_then(|value| high_s_twin(value.to_str().ok()?))
                .map(|twin| {
                    let mut changed = headers.clone();
                    let twin = HeaderValue::from_str(&twin).expect("base64url");
                    changed.insert(name, twin);
                    (changed, body.to_vec(), format!("the high-S twin in {name}"))
                })
                .into_iter()
                .collect(),
            // The alternative this delivery's id was taken from.
            Locator::FirstOf(choices) => choices
                .iter()
                .find(|choice| {
                    !matches!(choice.extract(headers, body), Err(LocateError::Missing(_)))
                })
                .map(|choice| with_id_changed(choice, headers, body))
                .unwrap_or_default(),
        }
    }

    /// A compact JWS whose ECDSA P-256 signature `(r, s)` is written as its
    /// twin `(r, n - s)`, which verifies as well; `None` for any other value.
    fn high_s_twin(token: &str) -> Option<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (signing_input, signature) = token.rsplit_once('.')?;
        let raw = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signature = p256::ecdsa::Signature::from_slice(&raw).ok()?;
        let (r, s) = signature.split_scalars();
        let twin = p256::ecdsa::Signature::from_scalars(r, -s).ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(twin.to_bytes())
        ))
    }

    /// For every scheme: a signed delivery whose event id is changed where
    /// the scheme leaves it unsigned, and that still verifies, is a captured
    /// delivery sent again as a new event. The replay guard must be on by
    /// default and remember the same thing of both copies, or the provider
    /// must say why it cannot.
    #[test]
    fn every_unsigned_event_id_is_guarded_or_its_gap_documented() {
        let options = HmacOptions::default();
        let scheme_options = SchemeOptions {
            hmac: Some(&options),
            public_url: Some("https://hooks.example.com/in"),
            token: None,
        };
        let now = 1_700_000_000;
        let payload = br#"{"id":"evt_1","event_id":"evt_1","eventId":"evt_1","messageId":"evt_1","event":{"id":"evt_1"},"type":"Issue","webhookTimestamp":1700000000000}"#;
        let mut unguarded = Vec::new();
        for kind in VerifierKind::ALL {
            let secret = example_secret(kind);
            let key = verification_key(kind, secret).expect("a verification key");
            let verifier =
                Verifier::build(kind, &[Secret::new(key)], DEFAULT_TOLERANCE, scheme_options)
                    .expect("builds");
            let signed = sign(kind, secret, payload, "evt_1", now, scheme_options).expect("signs");
            let headers = test_support::owned(&signed.headers);
            let query = signed.query.as_deref();
            let verify = |headers: &HeaderMap, body: &[u8]| {
                verifier.verify_with_query(headers, query, Bytes::copy_from_slice(body), now)
            };
            let original = verify(&headers, &signed.body).expect("verifies");
            let locator =
                crate::pipeline::locate::Locator::parse(kind.defaults().event_id).expect("parses");
            let id = locator
                .extract(&headers, original.body())
                .unwrap_or_else(|err| panic!("{kind:?}: {err}"));
            let changes = with_id_changed(&locator, &headers, &signed.body);
            assert!(!changes.is_empty(), "{kind:?}: its id could not be changed");
            for (changed_headers, changed_body, how) in changes {
                let Ok(copy) = verify(&changed_headers, &changed_body) else {
                    continue;
                };
                let copy_id = locator.extract(&changed_headers, copy.body());
                if copy_id.as_ref() == Ok(&id) {
                    continue;
                }
                let guarded = kind.defaults().replay_guard
                    && copy.replay_material() == original.replay_material();
                if !guarded && kind.provider().unguarded_because.is_none() {
                    unguarded.push(format!(
                        "{}: {how} still verifies and is event {copy_id:?}, not {id:?}, yet the replay guard is {}",
                        kind.name(),
                        if kind.defaults().replay_guard {
                            "on but remembers something else of it"
                        } else {
                            "off"
                        },
                    ));
                }
            }
        }
        assert!(
            unguarded.is_empty(),
            "event ids that are not signed and not guarded, with no reason given:\n{}",
            unguarded.join("\n")
        );
    }

    #[test]
    fn the_readme_lists_the_replay_guards_defaults_and_gaps() {
        let readme = include_str!("../../README.md");
        let row = readme
            .lines()
            .find(|line| line.starts_with("| `replay_guard` |"))
            .expect("the replay_guard row of the configuration reference");
        let gaps = readme
            .split("**What the replay guard cannot catch.**")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .expect("a paragraph on what the replay guard cannot catch");
        for kind in VerifierKind::ALL {
            let name = format!("`{}`", kind.name());
            if kind.defaults().replay_guard {
                assert!(row.contains(&name), "{name}: on by default, not in {row}");
            }
            if kind.provider().unguarded_because.is_some() {
                assert!(gaps.contains(&name), "{name}: its gap is not in {gaps}");
            }
        }
    }

    #[test]
    fn every_providers_defaults_parse() {
        for kind in VerifierKind::ALL {
            let defaults = kind.defaults();
            assert!(
                crate::pipeline::locate::Locator::parse(defaults.event_id).is_ok(),
                "{kind:?}"
            );
            if let Some(event_type) = defaults.event_type {
                assert!(
                    crate::pipeline::locate::Locator::parse(event_type).is_ok(),
                    "{kind:?}"
                );
            }
            for name in defaults.forward_headers {
                assert!(
                    HeaderName::from_bytes(name.as_bytes()).is_ok(),
                    "{kind:?} {name}"
                );
            }
        }
    }

    #[test]
    fn the_readme_documents_every_scheme_and_its_handshake() {
        let readme = include_str!("../../README.md");
        let section = |start: &str, end: &str| {
            let from = readme.find(start).expect(start);
            let to = from + readme[from..].find(end).expect(end);
            &readme[from..to]
        };
        let schemes = section("## Signature schemes", "**Handshakes.**");
        let handshakes = section("**Handshakes.**", "**Batches.**");
        for name in VerifierKind::NAMES {
            let cell = format!("| `{name}`");
            assert!(
                schemes.lines().any(|line| line.starts_with(&cell)),
                "{name}: no row in the README's table of signature schemes"
            );
            assert!(
                handshakes.contains(&format!("`{name}`")),
                "{name}: not in the README's table of handshakes"
            );
        }
    }

    #[test]
    fn a_source_needs_a_secret() {
        let err = Verifier::build(
            VerifierKind::Github,
            &[],
            DEFAULT_TOLERANCE,
            SchemeOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "secrets");
    }
}
