//! Signature verification: the second stage of the pipeline.
//!
//! Each provider's scheme is one file here with its own test vectors. This module
//! owns what they share: the [`VerifyError`] reasons, timestamp tolerance, and
//! [`Verified`], the proof of verification that nothing else can construct and
//! that the rest of the pipeline requires.

mod calendly;
mod discord;
mod github;
mod header;
mod hmac;
mod intercom;
mod linear;
mod list;
pub(crate) mod mac;
mod mailgun;
mod paddle;
mod pagerduty;
mod sendgrid;
mod shopify;
mod slack;
mod square;
mod standard_webhooks;
mod stripe;
mod twilio;
mod v0;
mod zoom;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName};
use serde::Deserialize;

pub use self::hmac::HmacOptions;
pub use self::mac::{Algorithm, Encoding};
use crate::secret::Secret;

/// The signature schemes a source can use.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierKind {
    Hmac,
    Github,
    Stripe,
    Slack,
    Shopify,
    StandardWebhooks,
    Paddle,
    Zoom,
    #[serde(rename = "pagerduty")]
    PagerDuty,
    Calendly,
    Intercom,
    Linear,
    Mailgun,
    Discord,
    #[serde(rename = "sendgrid")]
    SendGrid,
    Square,
    Twilio,
}

impl VerifierKind {
    /// Every scheme, for help texts and tests.
    pub const ALL: [VerifierKind; 17] = [
        Self::Hmac,
        Self::Github,
        Self::Stripe,
        Self::Slack,
        Self::Shopify,
        Self::StandardWebhooks,
        Self::Paddle,
        Self::Zoom,
        Self::PagerDuty,
        Self::Calendly,
        Self::Intercom,
        Self::Linear,
        Self::Mailgun,
        Self::Discord,
        Self::SendGrid,
        Self::Square,
        Self::Twilio,
    ];

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Paddle => "paddle",
            Self::Zoom => "zoom",
            Self::PagerDuty => "pagerduty",
            Self::Calendly => "calendly",
            Self::Intercom => "intercom",
            Self::Linear => "linear",
            Self::Mailgun => "mailgun",
            Self::Discord => "discord",
            Self::SendGrid => "sendgrid",
            Self::Square => "square",
            Self::Twilio => "twilio",
        }
    }

    /// What the provider's documentation says about ids, headers and timestamps.
    pub fn defaults(self) -> &'static Defaults {
        match self {
            Self::Hmac => &hmac::DEFAULTS,
            Self::Github => &github::DEFAULTS,
            Self::Stripe => &stripe::DEFAULTS,
            Self::Slack => &slack::DEFAULTS,
            Self::Shopify => &shopify::DEFAULTS,
            Self::StandardWebhooks => &standard_webhooks::DEFAULTS,
            Self::Paddle => &paddle::DEFAULTS,
            Self::Zoom => &zoom::DEFAULTS,
            Self::PagerDuty => &pagerduty::DEFAULTS,
            Self::Calendly => &calendly::DEFAULTS,
            Self::Intercom => &intercom::DEFAULTS,
            Self::Linear => &linear::DEFAULTS,
            Self::Mailgun => &mailgun::DEFAULTS,
            Self::Discord => &discord::DEFAULTS,
            Self::SendGrid => &sendgrid::DEFAULTS,
            Self::Square => &square::DEFAULTS,
            Self::Twilio => &twilio::DEFAULTS,
        }
    }
}

/// What some schemes need beyond their secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchemeOptions<'a> {
    /// The `hmac` scheme's header, hash, encoding and prefix.
    pub hmac: Option<&'a HmacOptions>,
    /// The URL the provider was given, for schemes that sign it (Square).
    pub public_url: Option<&'a str>,
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
/// [`crate::error`] for the metric label each becomes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {0} header")]
    MalformedHeader(&'static str),
    #[error("malformed or missing {0} field in the signed body")]
    MalformedField(&'static str),
    #[error("timestamp is outside the allowed tolerance")]
    StaleTimestamp,
    #[error("signature does not match")]
    Mismatch,
}

/// Why a source's verifier could not be built; `field` is relative to the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub field: String,
    pub message: String,
}

/// A request body whose signature was checked. Only [`Verifier::verify`] makes one.
#[derive(Debug, Clone)]
pub struct Verified {
    body: Bytes,
    /// Where a signed value that is new in every delivery sits in the body
    /// (Mailgun's token); `None` where the whole body is what is signed.
    nonce: Option<std::ops::Range<usize>>,
}

impl Verified {
    /// The exact bytes that were received and verified.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What the replay guard remembers of this delivery: the signed nonce
    /// where the scheme has one, else the signed body.
    pub fn replay_material(&self) -> &[u8] {
        self.nonce
            .clone()
            .and_then(|nonce| self.body.get(nonce))
            .unwrap_or(&self.body)
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

/// A verified request that is the provider checking the endpoint, not an
/// event: hookgate answers it with `reply` itself and publishes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// What kind, for logs: `url_verification`, `endpoint.url_validation`, `ping`.
    pub kind: &'static str,
    pub reply: serde_json::Value,
}

/// One source's scheme with its keys ready.
#[derive(Debug)]
pub struct Verifier {
    scheme: Scheme,
}

#[derive(Debug)]
enum Scheme {
    /// GitHub, Shopify, Intercom, Square and `hmac`: one header, one MAC.
    Header(header::HeaderSignature),
    /// Stripe, Paddle and Calendly: a timestamped list of signatures.
    TimestampedList(list::TimestampedList),
    /// Slack: `v0=` with a timestamp header.
    Slack(v0::V0),
    /// Zoom: Slack's scheme, and its own handshake.
    Zoom(v0::V0),
    /// Boxed: it holds both sets of header names.
    StandardWebhooks(Box<standard_webhooks::StandardWebhooks>),
    PagerDuty(pagerduty::PagerDuty),
    Linear(linear::Linear),
    Mailgun(mailgun::Mailgun),
    Discord(discord::Discord),
    SendGrid(sendgrid::SendGrid),
    Twilio(twilio::Twilio),
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
        let tolerance = tolerance.as_secs();
        let scheme = match kind {
            VerifierKind::Hmac => Scheme::Header(hmac::scheme(secrets, options.hmac)?),
            VerifierKind::Github => Scheme::Header(github::scheme(secrets)),
            VerifierKind::Shopify => Scheme::Header(shopify::scheme(secrets)),
            VerifierKind::Intercom => Scheme::Header(intercom::scheme(secrets)),
            VerifierKind::Square => Scheme::Header(square::scheme(secrets, options.public_url)?),
            VerifierKind::Stripe => Scheme::TimestampedList(stripe::scheme(secrets, tolerance)),
            VerifierKind::Paddle => Scheme::TimestampedList(paddle::scheme(secrets, tolerance)),
            VerifierKind::Calendly => Scheme::TimestampedList(calendly::scheme(secrets, tolerance)),
            VerifierKind::Slack => Scheme::Slack(slack::scheme(secrets, tolerance)),
            VerifierKind::Zoom => Scheme::Zoom(zoom::scheme(secrets, tolerance)),
            VerifierKind::StandardWebhooks => Scheme::StandardWebhooks(Box::new(
                standard_webhooks::StandardWebhooks::new(secrets, tolerance)?,
            )),
            VerifierKind::PagerDuty => Scheme::PagerDuty(pagerduty::PagerDuty::new(secrets)),
            VerifierKind::Linear => Scheme::Linear(linear::Linear::new(secrets, tolerance)),
            VerifierKind::Mailgun => Scheme::Mailgun(mailgun::Mailgun::new(secrets, tolerance)),
            VerifierKind::Discord => Scheme::Discord(discord::Discord::new(secrets, tolerance)?),
            VerifierKind::SendGrid => {
                Scheme::SendGrid(sendgrid::SendGrid::new(secrets, tolerance)?)
            }
            VerifierKind::Twilio => {
                Scheme::Twilio(twilio::Twilio::new(secrets, options.public_url)?)
            }
        };
        Ok(Self { scheme })
    }

    /// The provider's endpoint check, if this verified body is one: Slack's
    /// `url_verification`, Zoom's `endpoint.url_validation`, Discord's PING.
    pub fn handshake(&self, verified: &Verified) -> Option<Handshake> {
        let body = verified.body();
        match &self.scheme {
            Scheme::Slack(_) => slack::handshake(body),
            Scheme::Zoom(s) => zoom::handshake(s, body),
            Scheme::Discord(_) => discord::handshake(body),
            _ => None,
        }
    }

    /// Checks the request's signature over `body` at time `now` (Unix seconds).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        self.verify_at(headers, None, body, now)
    }

    /// As [`Verifier::verify`], for a request whose URI had `query`: schemes
    /// that sign the URL (Twilio) need it.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        body: Bytes,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let signed = Signed {
            headers,
            body: &body,
            now,
            query,
        };
        let mut nonce = None;
        match &self.scheme {
            Scheme::Header(s) => s.verify(signed),
            Scheme::TimestampedList(s) => s.verify(signed),
            Scheme::Slack(s) | Scheme::Zoom(s) => s.verify(signed),
            Scheme::StandardWebhooks(s) => s.verify(signed),
            Scheme::PagerDuty(s) => s.verify(signed),
            Scheme::Linear(s) => s.verify(signed),
            Scheme::Mailgun(s) => s.verify(signed).map(|token| nonce = Some(token)),
            Scheme::Discord(s) => s.verify(signed),
            Scheme::SendGrid(s) => s.verify(signed),
            Scheme::Twilio(s) => s.verify(signed),
        }?;
        Ok(Verified { body, nonce })
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
    let headers = match kind {
        VerifierKind::Hmac => hmac::sign(secret, payload, options.hmac),
        VerifierKind::Github => github::sign(secret, payload, event_id),
        VerifierKind::Stripe => stripe::sign(secret, payload, now),
        VerifierKind::Slack => slack::sign(secret, payload, now),
        VerifierKind::Shopify => shopify::sign(secret, payload, event_id),
        VerifierKind::StandardWebhooks => standard_webhooks::sign(secret, payload, event_id, now)?,
        VerifierKind::Paddle => paddle::sign(secret, payload, now),
        VerifierKind::Zoom => zoom::sign(secret, payload, now),
        VerifierKind::PagerDuty => pagerduty::sign(secret, payload),
        VerifierKind::Calendly => calendly::sign(secret, payload, now),
        VerifierKind::Intercom => intercom::sign(secret, payload),
        VerifierKind::Linear => linear::sign(secret, payload, event_id),
        VerifierKind::Discord => discord::sign(secret, payload, now)?,
        VerifierKind::SendGrid => sendgrid::sign(secret, payload, now)?,
        VerifierKind::Square => square::sign(
            secret,
            payload,
            options
                .public_url
                .ok_or("Square signs the notification URL: give the URL it was sent to")?,
        ),
        VerifierKind::Mailgun => {
            return Ok(SignedDelivery {
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: mailgun::sign_body(secret, payload, event_id, now),
                query: None,
            });
        }
        VerifierKind::Twilio => {
            let url = options
                .public_url
                .ok_or("Twilio signs the URL it calls: give the URL it was sent to")?;
            let (mut headers, query) = twilio::sign(secret, payload, url);
            headers.push(("I-Twilio-Idempotency-Token".into(), event_id.into()));
            return Ok(SignedDelivery {
                headers,
                body: payload.to_vec(),
                query,
            });
        }
    };
    Ok(SignedDelivery {
        headers,
        body: payload.to_vec(),
        query: None,
    })
}

/// What a source configures to verify deliveries signed with `signing_secret`:
/// the secret itself for HMAC schemes, the public key for asymmetric ones.
pub fn verification_key(kind: VerifierKind, signing_secret: &[u8]) -> Option<Vec<u8>> {
    match kind {
        VerifierKind::Discord => discord::public_key(signing_secret).map(String::into_bytes),
        VerifierKind::SendGrid => sendgrid::public_key(signing_secret).map(String::into_bytes),
        _ => Some(signing_secret.to_vec()),
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
    let malformed = VerifyError::MalformedHeader(label);
    if raw.is_empty() || raw.len() > 12 || !raw.iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    let timestamp: i64 = std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(malformed)?;
    if now.abs_diff(timestamp) > tolerance {
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

    pub(crate) fn owned(pairs: &[(String, String)]) -> HeaderMap {
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers(&borrowed)
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

    const TEST_P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgihgUcxKBx12sccfJ
5NKHRpsi35dBelxxPHPJZIVfuumhRANCAASOyQtkuuNktfLciY/S4Vr97PYQ1ZFs
owguSdpOc5UaRlfelgo3YKwO5mF4NA8XuzfhJ78Nx28syj2zuCDRfip2
-----END PRIVATE KEY-----";

    #[test]
    fn every_scheme_accepts_what_it_signs_and_nothing_else() {
        let options = HmacOptions::default();
        for kind in VerifierKind::ALL {
            let secret_text: &[u8] = match kind {
                VerifierKind::StandardWebhooks => b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                VerifierKind::Discord => {
                    b"6c8228bb0814bb9c0b08761f983d2f718695a65cf218c08f2daf91c12d2b0845"
                }
                VerifierKind::SendGrid => TEST_P256_PEM.as_bytes(),
                _ => b"round-trip secret",
            };
            let key = verification_key(kind, secret_text).expect("a verification key");
            let scheme_options = SchemeOptions {
                hmac: Some(&options),
                public_url: Some("https://hooks.example.com/in"),
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
                    .verify_at(&headers, query, body.clone(), 1_700_000_000)
                    .is_ok(),
                "{kind:?}"
            );
            let tampered = String::from_utf8(signed.body)
                .expect("utf-8")
                .replace("Ev1", "Ev2");
            let outcome = verifier.verify_at(&headers, query, Bytes::from(tampered), 1_700_000_000);
            if kind == VerifierKind::Mailgun {
                // Mailgun signs its timestamp and token, not the event.
                assert!(outcome.is_ok());
            } else {
                assert_eq!(outcome.unwrap_err(), VerifyError::Mismatch, "{kind:?}");
            }
            // Without its signature (the headers, or Mailgun's block) nothing verifies.
            let unsigned = if kind == VerifierKind::Mailgun {
                Bytes::from_static(payload)
            } else {
                body
            };
            assert!(
                verifier
                    .verify(&HeaderMap::new(), unsigned, 1_700_000_000)
                    .is_err(),
                "{kind:?}"
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
