//! Mailchimp Marketing (audience webhooks): Mailchimp signs nothing, so the
//! URL given to Mailchimp carries a secret, `?token=<secret>`, compared in
//! constant time. Weaker than a signature: pair it with an IP allowlist.
//! When a webhook is added Mailchimp checks the URL with a GET, answered 200
//! once its token matches. Deliveries are form posts (`type=subscribe&
//! fired_at=…&data[…]=…`) with no id: the body's digest is the id.
//! Source: <https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/>

use http::Method;

use crate::config::secret::Secret;
use crate::verify::presented::{Place, Token};
use crate::verify::{Challenge, Defaults, Handshake, Provider, Scheme, Signed, VerifyError};

/// The query parameter that carries the secret.
const PARAMETER: &str = "token";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct Mailchimp(Token);

impl Mailchimp {
    fn new(secrets: &[Secret]) -> Self {
        Self(Token::new(secrets, Place::Query(PARAMETER)))
    }
}

impl Scheme for Mailchimp {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.0.verify(request)
    }

    /// The GET that checks the URL, answered only with the right token.
    fn challenge(&self, challenge: Challenge<'_>) -> Option<Handshake> {
        (*challenge.method == Method::GET && self.0.verify(challenge.request).is_ok())
            .then(|| Handshake::empty("url_check"))
    }
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Mailchimp::new(input.secrets))),
    |input| input.presenting(&Place::Query(PARAMETER)),
)
.without_body_signature()
.unguarded_because(crate::verify::SIGNS_NOTHING);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    fn request<'a>(headers: &'a http::HeaderMap, query: Option<&'a str>) -> Signed<'a> {
        Signed {
            headers,
            body: b"type=subscribe&fired_at=2026-11-30+12%3A00%3A00&data%5Bid%5D=8a25ff1d98",
            now: 0,
            query,
        }
    }

    #[test]
    fn the_token_in_the_url_is_required() {
        let mailchimp = Mailchimp::new(&[Secret::new(b"mc-secret".as_slice())]);
        let none = headers(&[]);
        assert_eq!(
            mailchimp.verify(request(&none, Some("token=mc-secret"))),
            Ok(())
        );
        assert_eq!(
            mailchimp.verify(request(&none, Some("token=mc-secreT"))),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            mailchimp.verify(request(&none, None)),
            Err(VerifyError::MissingParameter(PARAMETER))
        );
    }

    #[test]
    fn the_url_check_is_answered_only_with_the_token() {
        let mailchimp = Mailchimp::new(&[Secret::new(b"mc-secret".as_slice())]);
        let none = headers(&[]);
        let check = |method: &Method, query| {
            mailchimp.challenge(Challenge {
                method,
                request: request(&none, query),
            })
        };
        assert_eq!(
            check(&Method::GET, Some("token=mc-secret")).map(|h| h.kind),
            Some("url_check")
        );
        assert!(check(&Method::GET, Some("token=wrong")).is_none());
        assert!(check(&Method::GET, None).is_none());
        assert!(check(&Method::POST, Some("token=mc-secret")).is_none());
    }
}
