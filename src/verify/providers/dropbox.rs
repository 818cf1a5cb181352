//! Dropbox: `X-Dropbox-Signature: <hex>`, HMAC-SHA256 of the body keyed by
//! the app secret. Nothing is timestamped. When a webhook URI is added,
//! Dropbox sends a verification request, `GET ?challenge=<random string>`,
//! and expects the challenge echoed back as the body (Dropbox asks for
//! `text/plain` and `nosniff`, which hookgate sets on every echoed text).
//! A notification only names the accounts that changed and carries no id,
//! so the body's SHA-256 stands for one: two notifications for the same
//! accounts within a source's dedup window count as one.
//! Source: https://www.dropbox.com/developers/reference/webhooks

use http::Method;

use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Challenge, Defaults, Handshake, Provider, Signed, VerifyError, echoable};
// For the inner check's `verify`, a method of the trait.
use crate::config::secret::Secret;

const SIGNATURE: &str = "X-Dropbox-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
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
pub(super) struct Dropbox(HeaderSignature);

impl Dropbox {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self(SHAPE.scheme(secrets))
    }
}

impl crate::verify::Scheme for Dropbox {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.0.verify(request)
    }

    /// Dropbox's verification request: a GET whose `challenge` is echoed.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::GET {
            return None;
        }
        let challenge = request.query_param("challenge")?;
        let challenge = echoable(&challenge)?;
        Some(Handshake::text("challenge", challenge.to_owned()))
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Dropbox::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"dropbox-app-secret";
    const BODY: &[u8] = br#"{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, "delta": {"users": [12345678]}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac dropbox-app-secret`
    const SIG: &str = "2bc2b96598b80c2f2083a056de14d73ef9555deb6d554f2332327d06a70734fc";
    /// The vector in the tests of `hapi-dropbox-webhooks` (secret `the_secret`),
    /// which `openssl dgst -sha256 -hmac the_secret` reproduces.
    const HAPI_BODY: &[u8] = br#"{"delta": {"users": [12345]}}"#;
    const HAPI_SIG: &str = "0a8c16b085420b960dc78664279fe09e936a2a01b1f91064869d9e77dfd64529";

    fn dropbox(secrets: &[&[u8]]) -> Dropbox {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Dropbox::new(&secrets)
    }

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&dropbox(&[SECRET]), &[(SIGNATURE, signature)], body, 0)
    }

    fn challenge(method: Method, query: Option<&str>) -> Option<Handshake> {
        crate::verify::test_support::challenge(&dropbox(&[SECRET]), method, &[], query, b"")
    }

    #[test]
    fn accepts_the_vectors() {
        assert_eq!(check(SIG, BODY), Ok(()));
        assert_eq!(
            run(
                &dropbox(&[b"the_secret".as_slice()]),
                &[(SIGNATURE, HAPI_SIG)],
                HAPI_BODY,
                0
            ),
            Ok(())
        );
    }

    #[test]
    fn the_verification_get_is_answered_with_its_challenge() {
        let answer = challenge(Method::GET, Some("challenge=abc123")).expect("a handshake");
        assert_eq!(
            (answer.kind, answer.reply),
            ("challenge", Reply::Text("abc123".into()))
        );
        // Decoded, as Dropbox sent it before encoding it in the URL.
        assert_eq!(
            challenge(Method::GET, Some("x=1&challenge=a%2Bb+c")).map(|h| h.reply),
            Some(Reply::Text("a+b c".into()))
        );
    }

    #[test]
    fn nothing_else_is_a_verification_request() {
        assert!(challenge(Method::POST, Some("challenge=abc123")).is_none());
        assert!(challenge(Method::HEAD, Some("challenge=abc123")).is_none());
        assert!(challenge(Method::GET, None).is_none());
        assert!(challenge(Method::GET, Some("other=abc123")).is_none());
        assert!(challenge(Method::GET, Some("challenge=")).is_none());
        assert!(challenge(Method::GET, Some("challenge=%3Cscript%3E%0A")).is_none());
        let long = format!("challenge={}", "a".repeat(crate::verify::MAX_ECHO_LEN + 1));
        assert!(challenge(Method::GET, Some(&long)).is_none());
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
    }
}
