//! Okta Event Hooks: no signature. Okta sends, with every request, the
//! authentication header configured on the hook (`Authorization: <secret>`,
//! the value given as the hook's "authentication secret"); a delivery is
//! accepted when that value equals one of the source's secrets, compared in
//! constant time, every secret tried (rotation). Nothing binds the body or a
//! time to it, so the replay guard is on. One-time verification: a GET with
//! `X-Okta-Verification-Challenge`, answered `{"verification": <value>}`,
//! only when it brings a known `Authorization` too (Okta sends it on the
//! verification as well). The id is the top-level `eventId` (Okta's older
//! examples spell it `eventID`); the top-level `eventType` is always
//! `com.okta.event_hook`, so the type is the first event's.
//! Source: https://developer.okta.com/docs/concepts/event-hooks/

use http::Method;

use crate::verify::presented::{Place, Token};
use crate::verify::{
    Challenge, Defaults, Handshake, Provider, SchemeHeader, Signed, VerifyError, echoable,
};
// For the inner check's and `self.verify`: methods of the trait.
use crate::config::secret::Secret;

const AUTHORIZATION: &str = "Authorization";
const CHALLENGE: &str = "X-Okta-Verification-Challenge";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/eventId",
    event_type: Some("json:/data/events/0/eventType"),
    forward_headers: &[],
    timestamped: false,
    // The token signs nothing: a captured delivery could come again under a new id.
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

/// The `token` check on `Authorization`, and Okta's verification request.
#[derive(Debug)]
pub(super) struct Okta {
    token: Token,
    challenge: SchemeHeader,
}

impl Okta {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            token: Token::new(secrets, Place::header(AUTHORIZATION)),
            challenge: SchemeHeader::new(CHALLENGE),
        }
    }
}

impl crate::verify::Scheme for Okta {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.token.verify(request)
    }

    /// Okta's one-time verification: a GET with the challenge header and a
    /// known `Authorization`, answered with the challenge in JSON.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::GET {
            return None;
        }
        let challenge = self.challenge.required(request.request.headers).ok()?;
        self.verify(request.request).ok()?;
        let challenge = echoable(std::str::from_utf8(challenge).ok()?)?;
        Some(Handshake::json(
            "verification",
            serde_json::json!({ "verification": challenge }),
        ))
    }
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Okta::new(input.secrets))),
    |input| input.presenting(&Place::header(AUTHORIZATION)),
)
.without_body_signature()
.unguarded_because(crate::verify::SIGNS_NOTHING)
.with_sample(|id, _now| {
    serde_json::json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3",
        "eventId": id,
        "data": {
            "events": [{
                "uuid": "7c1d3ea4-7a5c-11e9-8d4b-4d5e3ad6fd0e",
                "published": "2023-11-14T22:13:20.000Z",
                "eventType": "user.session.start",
                "version": "0",
                "displayMessage": "User login to Okta",
                "severity": "INFO"
            }]
        },
        "eventTime": "2023-11-14T22:13:20.000Z",
        "contentType": "application/json"
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::presented::present;
    use crate::verify::test_support::run;

    /// The authentication secret of Okta's verification example.
    const TOKEN: &str = "my-shared-secret";
    const BODY: &[u8] = br#"{"eventType":"com.okta.event_hook","eventId":"b5a188b9-5ece-4636-b041-482ffda96311","data":{"events":[{"uuid":"7c1d3ea4-7a5c-11e9-8d4b-4d5e3ad6fd0e","eventType":"user.session.start"}]}}"#;
    /// The challenge of Okta's verification example.
    const CHALLENGE_VALUE: &str = "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg";

    fn okta(tokens: &[&str]) -> Okta {
        let secrets: Vec<Secret> = tokens
            .iter()
            .map(|token| Secret::new(token.as_bytes()))
            .collect();
        Okta::new(&secrets)
    }

    fn check(tokens: &[&str], pairs: &[(&str, &str)]) -> Result<(), VerifyError> {
        run(&okta(tokens), pairs, BODY, 0)
    }

    fn challenge(method: Method, pairs: &[(&str, &str)]) -> Option<Handshake> {
        crate::verify::test_support::challenge(&okta(&[TOKEN]), method, pairs, None, b"")
    }

    #[test]
    fn accepts_a_known_authorization_value() {
        assert_eq!(check(&[TOKEN], &[(AUTHORIZATION, TOKEN)]), Ok(()));
        // Rotation: any configured secret, in any position.
        assert_eq!(
            check(&["new-secret", TOKEN], &[(AUTHORIZATION, TOKEN)]),
            Ok(())
        );
        assert_eq!(check(&[TOKEN], &[("authorization", TOKEN)]), Ok(()));
        assert_eq!(
            present(&Place::header(AUTHORIZATION), TOKEN.as_bytes()).0,
            vec![(AUTHORIZATION.to_owned(), TOKEN.to_owned())]
        );
    }

    #[test]
    fn rejects_other_values_and_missing_or_doubled_headers() {
        assert_eq!(
            check(&[TOKEN], &[(AUTHORIZATION, "my-shared-secre")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[TOKEN], &[(AUTHORIZATION, "my-shared-secret2")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&["another-secret"], &[(AUTHORIZATION, TOKEN)]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[TOKEN], &[(AUTHORIZATION, "")]),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[TOKEN], &[]),
            Err(VerifyError::MissingHeader(AUTHORIZATION))
        );
        assert_eq!(
            check(
                &[TOKEN],
                &[(AUTHORIZATION, TOKEN), (AUTHORIZATION, "other")]
            ),
            Err(VerifyError::MalformedHeader(AUTHORIZATION))
        );
    }

    #[test]
    fn the_body_is_not_covered_by_the_token() {
        // Documented weakness, hence the replay guard: any body passes.
        assert_eq!(
            run(&okta(&[TOKEN]), &[(AUTHORIZATION, TOKEN)], b"{}", 0),
            Ok(())
        );
    }

    #[test]
    fn the_verification_is_answered_with_its_challenge() {
        let answer = challenge(
            Method::GET,
            &[(CHALLENGE, CHALLENGE_VALUE), (AUTHORIZATION, TOKEN)],
        )
        .expect("a handshake");
        assert_eq!(answer.kind, "verification");
        assert_eq!(
            answer.reply,
            Reply::Json(serde_json::json!({ "verification": CHALLENGE_VALUE }))
        );
    }

    #[test]
    fn a_verification_needs_the_token_the_header_and_a_get() {
        assert!(challenge(Method::GET, &[(CHALLENGE, CHALLENGE_VALUE)]).is_none());
        assert!(
            challenge(
                Method::GET,
                &[(CHALLENGE, CHALLENGE_VALUE), (AUTHORIZATION, "wrong")]
            )
            .is_none()
        );
        assert!(
            challenge(
                Method::POST,
                &[(CHALLENGE, CHALLENGE_VALUE), (AUTHORIZATION, TOKEN)]
            )
            .is_none()
        );
        assert!(challenge(Method::GET, &[(AUTHORIZATION, TOKEN)]).is_none());
        assert!(challenge(Method::GET, &[(CHALLENGE, ""), (AUTHORIZATION, TOKEN)]).is_none());
        assert!(challenge(Method::GET, &[(CHALLENGE, "a\tb"), (AUTHORIZATION, TOKEN)]).is_none());
    }
}
