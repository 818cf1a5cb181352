//! Asana: `X-Hook-Signature: <hex>`, HMAC-SHA256 of the body keyed by the
//! webhook's secret. Nothing is timestamped. The secret is handed over in the
//! handshake: when a webhook is created Asana posts, unsigned, an
//! `X-Hook-Secret` header and requires 200 (or 204) with the same
//! `X-Hook-Secret` in the response. hookgate answers it (only a POST with no
//! `X-Hook-Signature`, and only a value fit to echo) and logs that this value
//! is the secret to put in the source's secrets; it is never published.
//! Events come batched as `{"events": [...]}` with no id, so the body's
//! SHA-256 stands for one.
//! Source: https://developers.asana.com/docs/webhooks-guide (handshake:
//! https://developers.asana.com/reference/createwebhook)

use http::{HeaderName, HeaderValue, Method};

use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{
    Challenge, Defaults, Handshake, Provider, SchemeHeader, Signed, VerifyError, echoable,
};
// For the inner check's `verify`, a method of the trait.
use crate::config::secret::Secret;

const SIGNATURE: &str = "X-Hook-Signature";
const HOOK_SECRET: &str = "X-Hook-Secret";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/events/0/action"),
    forward_headers: &[],
    timestamped: false,
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

#[derive(Debug)]
pub(super) struct Asana {
    signed: HeaderSignature,
    hook_secret: SchemeHeader,
}

impl Asana {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            signed: SHAPE.scheme(secrets),
            hook_secret: SchemeHeader::new(HOOK_SECRET),
        }
    }
}

impl crate::verify::Scheme for Asana {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signed.verify(request)
    }

    /// Asana's handshake: echo `X-Hook-Secret` back as a response header.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        let headers = request.request.headers;
        if *request.method != Method::POST || self.signed.is_present(headers) {
            return None;
        }
        let secret = std::str::from_utf8(self.hook_secret.required(headers).ok()?).ok()?;
        let secret = echoable(secret)?;
        let value = HeaderValue::from_str(secret).ok()?;
        Some(
            Handshake::empty("hook_secret")
                .with_header(HeaderName::from_static("x-hook-secret"), value)
                .noting(format!(
                    "Asana's webhook handshake (unsigned: trust it only if you just created the \
                     webhook). Add this X-Hook-Secret to the source's secrets; Asana signs the \
                     webhook's events with it: {secret}"
                )),
        )
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Asana::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "events": [{
            "user": { "gid": "1123", "resource_type": "user" },
            "created_at": "2023-11-14T22:13:20.000Z",
            "action": "changed",
            "resource": { "gid": id, "resource_type": "task", "resource_subtype": "default_task" },
            "parent": null,
            "change": { "field": "name", "action": "changed" }
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    /// The `X-Hook-Secret` of Asana's "Establish a webhook" example.
    const SECRET: &str = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81";
    const BODY: &[u8] = br#"{"events":[{"user":{"gid":"1123","resource_type":"user"},"created_at":"2023-11-14T22:13:20.000Z","action":"changed","resource":{"gid":"1337","resource_type":"task","resource_subtype":"default_task"},"parent":null,"change":{"field":"name","action":"changed"}}]}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET"`
    const SIG: &str = "46d724b3c574a95d859533aa3318eb76f9d4fc2324684bcd8522d19a4c446485";

    fn asana(secrets: &[&str]) -> Asana {
        let secrets: Vec<Secret> = secrets
            .iter()
            .map(|secret| Secret::new(secret.as_bytes()))
            .collect();
        Asana::new(&secrets)
    }

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&asana(&[SECRET]), &[(SIGNATURE, signature)], body, 0)
    }

    fn challenge(method: Method, pairs: &[(&str, &str)]) -> Option<Handshake> {
        crate::verify::test_support::challenge(&asana(&[SECRET]), method, pairs, None, b"")
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(SIG, BODY), Ok(()));
        assert_eq!(check(&SIG.to_uppercase(), BODY), Ok(()));
    }

    #[test]
    fn rejects_tampering_other_secrets_and_malformed_headers() {
        assert_eq!(check(SIG, b"{\"events\":[]}"), Err(VerifyError::Mismatch));
        assert_eq!(
            run(&asana(&["another-secret"]), &[(SIGNATURE, SIG)], BODY, 0),
            Err(VerifyError::Mismatch)
        );
        for bad in ["", "sha256=46d7", "zz", "46d"] {
            assert_eq!(
                check(bad, BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
        assert_eq!(
            run(&asana(&[SECRET]), &[(HOOK_SECRET, SECRET)], BODY, 0),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            run(
                &asana(&["new-secret", SECRET]),
                &[(SIGNATURE, SIG)],
                BODY,
                0
            ),
            Ok(())
        );
        assert_eq!(sign(SECRET.as_bytes(), BODY)[0].1, SIG);
    }

    #[test]
    fn the_handshake_echoes_the_hook_secret_and_says_to_configure_it() {
        let answer = challenge(Method::POST, &[(HOOK_SECRET, SECRET)]).expect("a handshake");
        assert_eq!(answer.kind, "hook_secret");
        assert_eq!(answer.reply, Reply::Empty);
        assert_eq!(
            answer.headers,
            vec![(
                HeaderName::from_static("x-hook-secret"),
                HeaderValue::from_static(SECRET)
            )]
        );
        assert!(answer.note.is_some_and(|note| note.contains(SECRET)));
    }

    #[test]
    fn only_an_unsigned_post_with_a_fit_secret_is_a_handshake() {
        // A signed delivery is verified, whatever else it carries.
        assert!(challenge(Method::POST, &[(HOOK_SECRET, SECRET), (SIGNATURE, SIG)]).is_none());
        assert!(challenge(Method::POST, &[(SIGNATURE, SIG)]).is_none());
        assert!(challenge(Method::POST, &[]).is_none());
        assert!(challenge(Method::GET, &[(HOOK_SECRET, SECRET)]).is_none());
        assert!(challenge(Method::POST, &[(HOOK_SECRET, "")]).is_none());
        assert!(challenge(Method::POST, &[(HOOK_SECRET, "a\tb")]).is_none());
        let long = "a".repeat(crate::verify::MAX_ECHO_LEN + 1);
        assert!(challenge(Method::POST, &[(HOOK_SECRET, &long)]).is_none());
        // Two secrets: ambiguous, not answered.
        assert!(challenge(Method::POST, &[(HOOK_SECRET, "a"), (HOOK_SECRET, "b")]).is_none());
    }
}
