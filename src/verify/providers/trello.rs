//! Trello: `X-Trello-Webhook: <base64>`, HMAC-SHA1 of the body followed by
//! the webhook's callback URL exactly as it was given when the webhook was
//! created (the source's `public_url`, its query included), keyed by the
//! application's secret (the OAuth secret beside the API key). The body is
//! signed as its UTF-8 bytes. Nothing is timestamped.
//!
//! When a webhook is created, Trello sends a `HEAD` to the callback URL and
//! creates the webhook only if it is answered 200: hookgate answers it. The
//! id is the action's (`action.id`), inside the signed body.
//!
//! Source: https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/
//! (the HEAD check and "Webhook Signatures").

use http::Method;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, Challenge, Defaults, Handshake, Provider, SchemeHeader, Signed, VerifyError,
    verdict,
};

const SIGNATURE: &str = "X-Trello-Webhook";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/action/id",
    // `createCard`, `updateCard`, `commentCard`, …
    event_type: Some("json:/action/type"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: false,
    tolerance: None,
    // The watched model (a board, a list, a card): its actions in order.
    partition_key: Some("json:/model/id"),
};

#[derive(Debug)]
pub(super) struct Trello {
    keys: Keys,
    callback_url: String,
    signature: SchemeHeader,
}

impl Trello {
    pub(super) fn new(
        secrets: &[Secret],
        public_url: Option<&str>,
    ) -> Result<Self, Vec<BuildError>> {
        let url =
            crate::verify::require_public_url(public_url, "Trello signs the webhook's callback URL")?;
        Ok(Self {
            keys: Keys::from_secrets(Algorithm::Sha1, secrets),
            callback_url: url.to_owned(),
            signature: SchemeHeader::new(SIGNATURE),
        })
    }
}

impl crate::verify::Scheme for Trello {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        verdict(
            self.keys
                .verify_one(&[request.body, self.callback_url.as_bytes()], signature),
        )
    }

    /// The `HEAD` Trello sends when the webhook is created: it brings nothing
    /// to check, and Trello only needs a 200.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        (*request.method == Method::HEAD).then(|| Handshake::empty("head_check"))
    }
}

/// The header Trello sends for `body` posted to `callback_url`.
pub(super) fn sign(secret: &[u8], body: &[u8], callback_url: &str) -> Vec<(String, String)> {
    let mac = crate::verify::mac::sign(Algorithm::Sha1, secret, &[body, callback_url.as_bytes()]);
    vec![(SIGNATURE.into(), Encoding::Base64.encode(&mac))]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Trello::new(input.secrets, input.options.public_url)?)),
    |input| {
        let url = input
            .options
            .public_url
            .ok_or("Trello signs the webhook's callback URL: give the URL it was sent to")?;
        input.with_headers(sign(input.secret, input.payload, url))
    },
)
.with_sample(|id, _now| {
    serde_json::json!({
        "action": {
            "id": id,
            "idMemberCreator": "5a1b2c3d4e5f6a7b8c9d0e1f",
            "type": "updateCard",
            "date": "2023-11-14T22:13:20.000Z",
            "data": {
                "card": { "id": "5e8b6a0f1e2d3c4b5a697887", "name": "hello from hookgate send" },
                "board": { "id": "5e8b69f0a1b2c3d4e5f60718", "name": "Roadmap" },
                "listBefore": { "id": "5e8b69f0a1b2c3d4e5f60719", "name": "To do" },
                "listAfter": { "id": "5e8b69f0a1b2c3d4e5f6071a", "name": "Doing" }
            },
            "memberCreator": { "id": "5a1b2c3d4e5f6a7b8c9d0e1f", "username": "sample" }
        },
        "model": { "id": "5e8b69f0a1b2c3d4e5f60718", "name": "Roadmap" }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"trello-oauth-secret";
    const URL: &str = "https://hooks.example.com/webhooks/trello";
    /// With an en dash (U+2013) in the card's name: signed as UTF-8.
    const BODY: &str = r#"{"action":{"id":"5e8b6a1c2f3d4e5f6a7b8c9d","idMemberCreator":"5a1b2c3d4e5f6a7b8c9d0e1f","type":"updateCard","date":"2023-11-14T22:13:20.000Z","data":{"card":{"id":"5e8b6a0f1e2d3c4b5a697887","name":"Ship the release – v2"},"board":{"id":"5e8b69f0a1b2c3d4e5f60718","name":"Roadmap"}}},"model":{"id":"5e8b69f0a1b2c3d4e5f60718","name":"Roadmap"}}"#;
    /// `printf '%s' "${BODY}${URL}" | openssl dgst -sha1 -hmac trello-oauth-secret -binary | base64`
    const SIG: &str = "MMJ8tIuV3T2ny04lb7hhp9cYw9M=";

    fn trello(secrets: &[&[u8]], url: &str) -> Trello {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Trello::new(&secrets, Some(url)).expect("builds")
    }

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&trello(&[SECRET], URL), &[(SIGNATURE, signature)], body, 0)
    }

    #[test]
    fn accepts_the_vector_under_any_configured_secret() {
        assert_eq!(check(SIG, BODY.as_bytes()), Ok(()));
        assert_eq!(
            run(
                &trello(&[b"previous-secret".as_slice(), SECRET], URL),
                &[(SIGNATURE, SIG)],
                BODY.as_bytes(),
                0
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_other_urls_bodies_secrets_and_bad_headers() {
        assert_eq!(check(SIG, b"{}"), Err(VerifyError::Mismatch));
        // The URL exactly as given: another path, a trailing slash, a query.
        for other in [
            "https://hooks.example.com/webhooks/trello/",
            "https://hooks.example.com/webhooks/trello?board=1",
            "http://hooks.example.com/webhooks/trello",
        ] {
            assert_eq!(
                run(&trello(&[SECRET], other), &[(SIGNATURE, SIG)], BODY.as_bytes(), 0),
                Err(VerifyError::Mismatch),
                "{other}"
            );
        }
        assert_eq!(
            run(
                &trello(&[b"another-secret".as_slice()], URL),
                &[(SIGNATURE, SIG)],
                BODY.as_bytes(),
                0
            ),
            Err(VerifyError::Mismatch)
        );
        // The body with each character's low byte, as Trello once signed it, is other bytes.
        let narrowed: Vec<u8> = BODY.encode_utf16().map(|unit| unit.to_le_bytes()[0]).collect();
        assert_eq!(check(SIG, &narrowed), Err(VerifyError::Mismatch));
        assert_eq!(
            check("%%%", BODY.as_bytes()),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            run(&trello(&[SECRET], URL), &[], BODY.as_bytes(), 0),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        let err = Trello::new(&[Secret::new(SECRET)], None).unwrap_err();
        assert_eq!(err[0].field, "public_url");
    }

    #[test]
    fn the_head_at_creation_is_answered_and_nothing_else_is() {
        let scheme = trello(&[SECRET], URL);
        let challenge = |method: Method| {
            crate::verify::test_support::challenge(&scheme, method, &[], None, b"")
        };
        assert_eq!(challenge(Method::HEAD).map(|h| h.kind), Some("head_check"));
        assert!(challenge(Method::GET).is_none());
        assert!(challenge(Method::POST).is_none());
    }

    #[test]
    fn what_it_signs_verifies() {
        let signed = sign(SECRET, BODY.as_bytes(), URL);
        assert_eq!(signed, vec![(SIGNATURE.to_owned(), SIG.to_owned())]);
    }
}
