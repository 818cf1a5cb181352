//! Notion: `X-Notion-Signature: sha256=<hex>`, HMAC-SHA256 of the body keyed by
//! the subscription's `verification_token`. Nothing is timestamped (the body's
//! `timestamp` is for ordering, with no documented tolerance).
//!
//! Handshake: when a subscription is created Notion sends one UNSIGNED POST
//! whose body is `{"verification_token": "secret_…"}`; the token is both what
//! the operator pastes back into Notion to verify the subscription and the key
//! every later event is signed with. hookgate answers it 200, publishes nothing
//! and logs the token for the operator to put in the source's secrets.
//!
//! Source: https://developers.notion.com/reference/webhooks (event shape:
//! https://developers.notion.com/reference/webhooks-events-delivery)

use http::Method;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Challenge, Defaults, Handshake, Provider, Scheme, Signed, VerifyError};

const SIGNATURE: &str = "X-Notion-Signature";
/// Notion's verification body is one short field; anything longer is not it.
const MAX_VERIFICATION_BODY: usize = 1024;

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The page, database or comment (`entity.id`).
    partition_key: Some("json:/entity/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha256=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

/// Notion's check: the body's HMAC, and its one-time verification request.
#[derive(Debug)]
pub(super) struct Notion {
    signature: HeaderSignature,
}

impl Notion {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            signature: SHAPE.scheme(secrets),
        }
    }
}

impl Scheme for Notion {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signature.verify(request)
    }

    /// Notion's verification request: a POST without a signature (it cannot
    /// have one: its token is the key) whose small JSON object carries a
    /// `verification_token` string. Anything else is verified as usual, so a
    /// signed event is never taken for it.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        let body = request.request.body;
        if *request.method != Method::POST
            || self.signature.is_present(request.request.headers)
            || body.len() > MAX_VERIFICATION_BODY
            || !crate::verify::mentions(body, b"verification_token")
        {
            return None;
        }
        // A JSON object: serde would also read a struct from an array.
        let parsed: serde_json::Value = serde_json::from_slice(body).ok()?;
        let token = parsed.as_object()?.get("verification_token")?.as_str()?;
        // Printable ASCII only, so that what is logged is what Notion sent.
        let token = crate::verify::echoable(token)?;
        Some(Handshake::empty("verification").noting(format!(
            "Notion sent a subscription's verification_token (unsigned: trust it only if you just \
             created or re-sent the subscription). Paste it into Notion's Verify dialog and put it \
             in this source's secrets; Notion signs every event with it: {token}"
        )))
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Notion::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_example_secret(b"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl")
.with_sample(|id, _now| {
    serde_json::json!({
        "id": id,
        "timestamp": "2024-12-05T23:55:34.285Z",
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": "page.created",
        "authors": [{ "id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person" }],
        "attempt_number": 1,
        "entity": { "id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page" },
        "data": { "parent": { "id": "13950b26-c203-4f3b-b97d-93ec06319565", "type": "space" } }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    /// The token in the example of Notion's webhooks guide.
    const TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
    const BODY: &[u8] = br#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2024-12-05T23:55:34.285Z","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.created","entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"attempt_number":1}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$TOKEN"`
    const SIG: &str = "sha256=0c971e5bb27b6bdf148194b89693807657063fab39e900160caf10cd3cbc6da5";

    fn notion(secrets: &[&[u8]]) -> Notion {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Notion::new(&secrets)
    }

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        run(&notion(secrets), pairs, body, 0)
    }

    fn challenge(method: Method, pairs: &[(&str, &str)], body: &[u8]) -> Option<Handshake> {
        crate::verify::test_support::challenge(
            &notion(&[TOKEN.as_bytes()]),
            method,
            pairs,
            None,
            body,
        )
    }

    #[test]
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(
            check(&[TOKEN.as_bytes()], &[(SIGNATURE, SIG)], BODY),
            Ok(())
        );
        assert_eq!(
            sign(TOKEN.as_bytes(), BODY),
            vec![(SIGNATURE.to_owned(), SIG.to_owned())]
        );
    }

    #[test]
    fn rejects_tampering_other_secrets_and_bad_headers() {
        let tampered = String::from_utf8_lossy(BODY).replace("page.created", "page.deleted");
        assert_eq!(
            check(
                &[TOKEN.as_bytes()],
                &[(SIGNATURE, SIG)],
                tampered.as_bytes()
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"secret_other".as_slice()], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[TOKEN.as_bytes()], &[], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        for bad in ["", "sha256=", &SIG[7..], "sha1=0c971e5b", "sha256=zz"] {
            assert_eq!(
                check(&[TOKEN.as_bytes()], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"secret_new".as_slice(), TOKEN.as_bytes()],
                &[(SIGNATURE, SIG)],
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn the_verification_request_is_answered_and_its_token_noted() {
        let body = format!(r#"{{"verification_token":"{TOKEN}"}}"#);
        let answer = challenge(Method::POST, &[], body.as_bytes()).expect("a handshake");
        assert_eq!(answer.kind, "verification");
        assert_eq!(answer.reply, Reply::Empty);
        assert!(answer.headers.is_empty());
        assert!(answer.note.expect("a note").contains(TOKEN));
        // Unsigned, it would not verify: the challenge is what answers it.
        assert_eq!(
            check(&[b"placeholder".as_slice()], &[], body.as_bytes()),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn nothing_else_is_taken_for_the_verification_request() {
        let body = format!(r#"{{"verification_token":"{TOKEN}"}}"#);
        // Signed requests are events, verified as usual.
        assert!(challenge(Method::POST, &[(SIGNATURE, SIG)], body.as_bytes()).is_none());
        assert!(challenge(Method::GET, &[], body.as_bytes()).is_none());
        assert!(challenge(Method::POST, &[], BODY).is_none());
        for bad in [
            br#"{"verification_token":42}"#.as_slice(),
            br#"{"verification_token":""}"#,
            br#"{"verification_token":"line\nbreak"}"#,
            br#"["verification_token"]"#,
            b"verification_token=secret_x",
        ] {
            assert!(
                challenge(Method::POST, &[], bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(
            r#"{{"verification_token":"{TOKEN}","padding":"{}"}}"#,
            "x".repeat(MAX_VERIFICATION_BODY)
        );
        assert!(challenge(Method::POST, &[], long.as_bytes()).is_none());
    }
}
