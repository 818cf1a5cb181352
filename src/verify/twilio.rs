//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed by the auth token
//! over the URL Twilio called (the source's `public_url` plus the request's
//! query string) followed by:
//! - for form posts, every POST parameter as name then value, sorted by name;
//! - for JSON posts, nothing: Twilio adds `bodySHA256=<hex SHA-256 of the
//!   body>` to the query string instead, and that digest must match the body.
//!
//! Nothing is timestamped; the event id is Twilio's idempotency token header.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::{Provider, SignedDelivery};
use super::mac::{Algorithm, Encoding, Keys, Signature};
use super::{BuildError, Defaults, SchemeHeader, Signed, VerifyError, verdict};
use crate::secret::Secret;

const SIGNATURE: &str = "X-Twilio-Signature";
/// Form parameters a post may carry before its signature is checked, at most.
/// Twilio's callbacks carry a few dozen; a body with more is not Twilio's, and
/// refusing it before parsing keeps the work on an unauthenticated body (the
/// list that is sorted) small whatever its size.
const MAX_FORM_PARAMS: usize = 1000;
const BODY_SHA256: &str = "bodySHA256";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:I-Twilio-Idempotency-Token",
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    replay_guard: true,
    tolerance: None,
};

#[derive(Debug)]
pub(super) struct Twilio {
    keys: Keys,
    url: String,
    signature: SchemeHeader,
}

impl Twilio {
    pub(super) fn new(
        secrets: &[Secret],
        public_url: Option<&str>,
    ) -> Result<Self, Vec<BuildError>> {
        let url = super::require_public_url(public_url, "Twilio signs the URL it calls")?;
        Ok(Self {
            keys: Keys::from_secrets(Algorithm::Sha1, secrets),
            url: url.to_owned(),
            signature: SchemeHeader::new(SIGNATURE),
        })
    }

}

impl super::Scheme for Twilio {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let query = request.query.unwrap_or("");
        let separator: &[u8] = if query.is_empty() { b"" } else { b"?" };
        let url: [&[u8]; 3] = [self.url.as_bytes(), separator, query.as_bytes()];
        let body_digest = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == BODY_SHA256)
            .map(|(_, value)| value.into_owned());
        if let Some(digest) = body_digest {
            // A JSON post: the URL carries the body's digest, the MAC the URL.
            verdict(self.keys.verify_one(&url, signature))?;
            let actual = hex::encode(Sha256::digest(request.body));
            return verdict(digest.eq_ignore_ascii_case(&actual));
        }
        if request.body.iter().filter(|&&b| b == b'&').count() >= MAX_FORM_PARAMS {
            return Err(VerifyError::Mismatch);
        }
        let params = sorted_params(request.body);
        let mut message: Vec<&[u8]> = url.to_vec();
        for (name, value) in &params {
            message.push(name.as_bytes());
            message.push(value.as_bytes());
        }
        verdict(self.keys.verify_one(&message, signature))
    }
}

/// Form parameters sorted by name (then value), as Twilio signs them;
/// borrowed from the body unless percent-encoded.
fn sorted_params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut params: Vec<_> = form_urlencoded::parse(body).collect();
    params.sort();
    params
}

/// Signs as Twilio would a post to `url`. A JSON payload is signed the
/// `bodySHA256` way, and the query it needs is returned with the headers.
pub(super) fn sign(
    secret: &[u8],
    body: &[u8],
    url: &str,
) -> (Vec<(String, String)>, Option<String>) {
    let json = matches!(body.trim_ascii_start().first(), Some(b'{' | b'['));
    let (mac, query, content_type) = if json {
        let query = format!("{BODY_SHA256}={}", hex::encode(Sha256::digest(body)));
        let mac = super::mac::sign(
            Algorithm::Sha1,
            secret,
            &[url.as_bytes(), b"?", query.as_bytes()],
        );
        (mac, Some(query), "application/json")
    } else {
        let params = sorted_params(body);
        let mut message: Vec<&[u8]> = vec![url.as_bytes()];
        for (name, value) in &params {
            message.push(name.as_bytes());
            message.push(value.as_bytes());
        }
        (
            super::mac::sign(Algorithm::Sha1, secret, &message),
            None,
            "application/x-www-form-urlencoded",
        )
    };
    (
        vec![
            (SIGNATURE.into(), STANDARD.encode(mac)),
            ("Content-Type".into(), content_type.into()),
        ],
        query,
    )
}

pub(super) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Twilio::new(input.secrets, input.options.public_url)?)),
    |input| {
        let url = input
            .options
            .public_url
            .ok_or("Twilio signs the URL it calls: give the URL it was sent to")?;
        let (mut headers, query) = sign(input.secret, input.payload, url);
        headers.push(("I-Twilio-Idempotency-Token".into(), input.event_id.into()));
        Ok(SignedDelivery {
            headers,
            body: input.payload.to_vec(),
            query,
        })
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Scheme as _;
    use crate::verify::test_support::headers;

    const URL: &str = "https://hooks.example.com/webhooks/twilio";
    const FORM: &[u8] = b"To=Fake&From=foo&Body=Hello+world%21&MessageSid=SM123&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
    /// `printf '%s' "${URL}AccountSidACXX…BodyHello world!FromfooMessageSidSM123ToFake"
    /// | openssl dgst -sha1 -hmac twilio-auth-token -binary | base64`
    const FORM_SIG: &str = "CQuVarSguTpbAcwVWMPQP2Oa6cM=";
    const JSON: &[u8] = br#"{"event":"status","sid":"SM123"}"#;
    const JSON_QUERY: &str =
        "bodySHA256=f59f15acbab4f26353e437e2ab488a7bf57001e92e239fa253674cf306778951";
    /// `printf '%s' "$URL?$JSON_QUERY" | openssl dgst -sha1 -hmac twilio-auth-token -binary | base64`
    const JSON_SIG: &str = "f13bbu3mGnD+WY6/x/JwKl5rmrU=";

    fn check(signature: &str, query: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        let headers = headers(&[(SIGNATURE, signature)]);
        Twilio::new(&[Secret::new(b"twilio-auth-token".as_slice())], Some(URL))
            .expect("builds")
            .verify(Signed {
                headers: &headers,
                body,
                now: 0,
                query,
            })
    }

    #[test]
    fn accepts_form_and_json_posts() {
        assert_eq!(check(FORM_SIG, None, FORM), Ok(()));
        assert_eq!(check(JSON_SIG, Some(JSON_QUERY), JSON), Ok(()));
    }

    #[test]
    fn rejects_changed_parameters_bodies_and_urls() {
        let changed = b"To=Fake&From=bar&Body=Hello+world%21&MessageSid=SM123&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
        assert_eq!(check(FORM_SIG, None, changed), Err(VerifyError::Mismatch));
        assert_eq!(
            check(FORM_SIG, Some("x=1"), FORM),
            Err(VerifyError::Mismatch)
        );
        // The digest in the signed URL no longer matches the body.
        assert_eq!(
            check(
                JSON_SIG,
                Some(JSON_QUERY),
                br#"{"event":"status","sid":"SM124"}"#
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check("not base64!", None, FORM),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(Twilio::new(&[], None).unwrap_err()[0].field, "public_url");
    }

    #[test]
    fn a_form_with_more_parameters_than_twilio_sends_is_refused_unparsed() {
        let flood = "a=&".repeat(MAX_FORM_PARAMS);
        assert_eq!(
            check(FORM_SIG, None, flood.as_bytes()),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn what_it_signs_verifies() {
        for body in [FORM, JSON] {
            let (headers, query) = sign(b"twilio-auth-token", body, URL);
            assert_eq!(check(&headers[0].1, query.as_deref(), body), Ok(()));
        }
    }
}
