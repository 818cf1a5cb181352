//! The runtime check of one source, [`Verifier`]: its provider's scheme
//! keyed by every configured secret (any may match while a secret is
//! rolled), and [`Verified`], the proof of verification that nothing else
//! can construct and that the rest of the pipeline requires.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::{
    BuildError, BuildInput, Challenge, Handshake, MalformedBatch, ReplayMaterial, Scheme,
    SchemeOptions, Signed, VerifierKind, VerifyError,
};
use crate::config::secret::Secret;

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
            scheme: kind.provider().build(&input)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::DEFAULT_TOLERANCE;

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
