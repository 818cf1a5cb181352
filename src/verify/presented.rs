//! A secret the sender presents as it is, for senders that sign nothing: the
//! place it is read from ([`Place`]: a header, the query string, HTTP basic
//! auth), the check ([`Token`]), and secrets kept as digests so that a
//! comparison says nothing of them. The `token` provider configures the
//! place; GitLab, Mailchimp and Okta fix their own, and Microsoft Graph
//! compares its `clientState` the same way.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{SchemeHeader, Signed, VerifyError, verdict};
use crate::config::secret::Secret;

/// Where a token is read from.
#[derive(Debug)]
pub(super) enum Place {
    Header {
        header: SchemeHeader,
        prefix: Box<[u8]>,
    },
    Query(&'static str),
    /// HTTP basic auth in this (`Authorization`) header.
    Basic(SchemeHeader),
}

impl Place {
    pub(super) fn header(name: &'static str) -> Self {
        Self::Header {
            header: SchemeHeader::new(name),
            prefix: Box::default(),
        }
    }

    pub(super) fn basic() -> Self {
        Self::Basic(SchemeHeader::new("Authorization"))
    }

    /// The digest of the token a request presents, read in place (a token
    /// in the query or in basic auth is decoded first).
    fn presented(&self, request: &Signed<'_>) -> Result<[u8; 32], VerifyError> {
        let digest = |token: &[u8]| -> [u8; 32] { Sha256::digest(token).into() };
        match self {
            Self::Header { header, prefix } => header
                .required(request.headers)?
                .strip_prefix(&**prefix)
                .map(digest)
                .ok_or(VerifyError::MalformedHeader(header.label())),
            Self::Query(name) => form_urlencoded::parse(request.query.unwrap_or("").as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| digest(value.as_bytes()))
                .ok_or(VerifyError::MissingParameter(name)),
            Self::Basic(header) => header
                .required(request.headers)?
                .strip_prefix(b"Basic ")
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .map(|credentials| digest(&credentials))
                .ok_or(VerifyError::MalformedHeader(header.label())),
        }
    }
}

/// Secrets a sender presents as they are (a token, Graph's `clientState`),
/// kept as their SHA-256: compared in constant time whatever the lengths, so
/// neither a secret's bytes nor its length can be probed.
pub(super) struct SecretDigests(Vec<[u8; 32]>);

impl SecretDigests {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self(
            secrets
                .iter()
                .map(|secret| Sha256::digest(secret.expose()).into())
                .collect(),
        )
    }

    /// Whether the value whose digest this is is one of the secrets. Every
    /// secret is compared: the time taken says nothing of which matched.
    pub(super) fn contain(&self, presented: &[u8; 32]) -> bool {
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |any, digest| {
                any | digest.ct_eq(presented)
            })
            .into()
    }

    /// As [`SecretDigests::contain`], for the value itself.
    pub(super) fn contain_value(&self, value: &[u8]) -> bool {
        self.contain(&Sha256::digest(value).into())
    }
}

impl std::fmt::Debug for SecretDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretDigests({} redacted)", self.0.len())
    }
}

/// The check: the presented token equals one of the secrets.
#[derive(Debug)]
pub(super) struct Token {
    secrets: SecretDigests,
    place: Place,
}

impl Token {
    pub(super) fn new(secrets: &[Secret], place: Place) -> Self {
        Self {
            secrets: SecretDigests::new(secrets),
            place,
        }
    }
}

impl super::Scheme for Token {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        verdict(self.secrets.contain(&self.place.presented(&request)?))
    }
}

/// The request a sender of `place` makes with `secret`: headers, and the
/// query string for a token in the URL.
pub(super) fn present(place: &Place, secret: &[u8]) -> (Vec<(String, String)>, Option<String>) {
    let text = String::from_utf8_lossy(secret).into_owned();
    match place {
        Place::Header { header, prefix } => (
            vec![(
                header.label().to_owned(),
                format!("{}{text}", String::from_utf8_lossy(prefix)),
            )],
            None,
        ),
        Place::Query(name) => (
            Vec::new(),
            Some(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, &text)
                    .finish(),
            ),
        ),
        Place::Basic(header) => (
            vec![(
                header.label().to_owned(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(secret)
                ),
            )],
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{run_with_query, two_tokens as token};

    fn check(
        scheme: &Token,
        pairs: &[(&str, &str)],
        query: Option<&str>,
    ) -> Result<(), VerifyError> {
        run_with_query(scheme, pairs, query, b"{}", 0)
    }

    #[test]
    fn a_token_in_a_header_matches_any_secret_and_nothing_else() {
        let scheme = token(Place::header("X-Gitlab-Token"));
        assert_eq!(
            check(&scheme, &[("X-Gitlab-Token", "old-token")], None),
            Ok(())
        );
        assert_eq!(
            check(&scheme, &[("X-Gitlab-Token", "new-token")], None),
            Ok(())
        );
        for wrong in ["new-toke", "new-tokenn", "", "NEW-TOKEN"] {
            assert_eq!(
                check(&scheme, &[("X-Gitlab-Token", wrong)], None),
                Err(VerifyError::Mismatch),
                "{wrong:?}"
            );
        }
        assert_eq!(
            check(&scheme, &[], None),
            Err(VerifyError::MissingHeader("X-Gitlab-Token"))
        );
        // Two copies: which one a proxy read is unknown.
        assert_eq!(
            check(
                &scheme,
                &[("X-Gitlab-Token", "new-token"), ("X-Gitlab-Token", "x")],
                None
            ),
            Err(VerifyError::MalformedHeader("X-Gitlab-Token"))
        );
    }

    #[test]
    fn what_a_sender_presents_verifies() {
        for place in [
            Place::header("X-Token"),
            Place::Query("token"),
            Place::basic(),
        ] {
            let (pairs, query) = present(&place, b"new-token");
            let pairs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(check(&token(place), &pairs, query.as_deref()), Ok(()));
        }
    }
}
