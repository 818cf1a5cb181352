//! A provider checking the endpoint rather than sending an event:
//! [`Handshake`], hookgate's own answer to it, [`Challenge`], the request as
//! a check before verification sees it, and what may be echoed back.

use http::{HeaderName, HeaderValue, Method};

use super::Signed;

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

/// Whether `body` contains `needle`: a cheap test before parsing a body as
/// a handshake.
pub(super) fn mentions(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|window| window == needle)
}
