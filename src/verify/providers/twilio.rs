//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed by the auth token
//! over the URL Twilio called (the source's `public_url` plus the request's
//! query string) followed by:
//! - for form posts (`Content-Type: application/x-www-form-urlencoded`), every
//!   POST parameter as name then value, sorted by name;
//! - for JSON posts (`Content-Type: application/json`), nothing: Twilio adds
//!   `bodySHA256=<hex SHA-256 of the body>` to the query string instead, and
//!   that digest must match the body.
//!
//! The `Content-Type` alone chooses the mode, so a request is read one way
//! only: a `bodySHA256` in a form post's query is just part of the signed
//! URL, and any other `Content-Type` is refused.
//!
//! Nothing is timestamped, and the event id (Twilio's idempotency token
//! header) is not signed. The replay guard therefore remembers the digest of
//! the signed string, not the raw body: the same signed string has many
//! bodies (a form post's parameters reordered or escaped differently; a form
//! post whose one parameter is named `?bodySHA256=<digest>` carries a JSON
//! post's signed string), and each of them sent again under a new token is
//! still the same delivery.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, Defaults, Provider, ReplayMaterial, SchemeHeader, Signed, SignedDelivery,
    VerifyError, verdict,
};

const SIGNATURE: &str = "X-Twilio-Signature";
const CONTENT_TYPE: &str = "Content-Type";
const FORM_TYPE: &str = "application/x-www-form-urlencoded";
const JSON_TYPE: &str = "application/json";
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
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct Twilio {
    keys: Keys,
    url: String,
    signature: SchemeHeader,
    content_type: SchemeHeader,
}

/// How a post is signed, as its `Content-Type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The URL, then the sorted parameters.
    Form,
    /// The URL, whose query carries the body's `bodySHA256`.
    Json,
}

impl Mode {
    /// The mode of a `Content-Type` value; its parameters (`charset`) do not
    /// matter, any other media type is refused.
    fn of(content_type: &[u8]) -> Result<Self, VerifyError> {
        let media_type = content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if media_type.eq_ignore_ascii_case(FORM_TYPE.as_bytes()) {
            Ok(Self::Form)
        } else if media_type.eq_ignore_ascii_case(JSON_TYPE.as_bytes()) {
            Ok(Self::Json)
        } else {
            Err(VerifyError::MalformedHeader(CONTENT_TYPE))
        }
    }
}

impl Twilio {
    pub(super) fn new(
        secrets: &[Secret],
        public_url: Option<&str>,
    ) -> Result<Self, Vec<BuildError>> {
        let url = crate::verify::require_public_url(public_url, "Twilio signs the URL it calls")?;
        Ok(Self {
            keys: Keys::from_secrets(Algorithm::Sha1, secrets),
            url: url.to_owned(),
            signature: SchemeHeader::new(SIGNATURE),
            content_type: SchemeHeader::new(CONTENT_TYPE),
        })
    }
}

impl crate::verify::Scheme for Twilio {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.verify_replay(request).map(drop)
    }

    /// The digest of the signed string: what the replay guard remembers.
    fn verify_replay(&self, request: Signed<'_>) -> Result<ReplayMaterial, VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let mode = Mode::of(self.content_type.required(request.headers)?)?;
        let query = request.query.unwrap_or("");
        let separator: &[u8] = if query.is_empty() { b"" } else { b"?" };
        let url: [&[u8]; 3] = [self.url.as_bytes(), separator, query.as_bytes()];
        match mode {
            Mode::Json => {
                // The URL carries the body's digest, the MAC the URL.
                let claimed = form_urlencoded::parse(query.as_bytes())
                    .find(|(name, _)| name == BODY_SHA256)
                    .map(|(_, value)| value.into_owned())
                    .ok_or(VerifyError::MissingParameter(BODY_SHA256))?;
                verdict(self.keys.verify_one(&url, signature))?;
                let actual = hex::encode(Sha256::digest(request.body));
                verdict(claimed.eq_ignore_ascii_case(&actual))?;
                Ok(signed_string_digest(&url))
            }
            Mode::Form => {
                if request.body.iter().filter(|&&b| b == b'&').count() >= MAX_FORM_PARAMS {
                    return Err(VerifyError::Mismatch);
                }
                let params = sorted_params(request.body);
                let mut message: Vec<&[u8]> = url.to_vec();
                for (name, value) in &params {
                    message.push(name.as_bytes());
                    message.push(value.as_bytes());
                }
                verdict(self.keys.verify_one(&message, signature))?;
                Ok(signed_string_digest(&message))
            }
        }
    }
}

/// The SHA-256 of the string the MAC covers, given in its parts.
fn signed_string_digest(parts: &[&[u8]]) -> ReplayMaterial {
    let digest = parts
        .iter()
        .fold(Sha256::new(), |hash, part| hash.chain_update(part));
    ReplayMaterial::Digest(digest.finalize().into())
}

/// Form parameters sorted by name (then value), as Twilio signs them;
/// borrowed from the body unless percent-encoded.
fn sorted_params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut params: Vec<_> = form_urlencoded::parse(body).collect();
    params.sort();
    params
}

/// Signs as Twilio would a post to `url`. A JSON payload is signed the
/// `bodySHA256` way, and the query it needs is returned with the headers;
/// the `Content-Type` header names the mode either way.
pub(super) fn sign(
    secret: &[u8],
    body: &[u8],
    url: &str,
) -> (Vec<(String, String)>, Option<String>) {
    let json = matches!(body.trim_ascii_start().first(), Some(b'{' | b'['));
    let (mac, query, content_type) = if json {
        let query = format!("{BODY_SHA256}={}", hex::encode(Sha256::digest(body)));
        let mac = crate::verify::mac::sign(
            Algorithm::Sha1,
            secret,
            &[url.as_bytes(), b"?", query.as_bytes()],
        );
        (mac, Some(query), JSON_TYPE)
    } else {
        let params = sorted_params(body);
        let mut message: Vec<&[u8]> = vec![url.as_bytes()];
        for (name, value) in &params {
            message.push(name.as_bytes());
            message.push(value.as_bytes());
        }
        (
            crate::verify::mac::sign(Algorithm::Sha1, secret, &message),
            None,
            FORM_TYPE,
        )
    };
    (
        vec![
            (SIGNATURE.into(), STANDARD.encode(mac)),
            (CONTENT_TYPE.into(), content_type.into()),
        ],
        query,
    )
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Twilio::new(
            input.secrets,
            input.options.public_url,
        )?))
    },
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

    /// Verifies a post with this signature and `Content-Type` (`None`: none);
    /// what the replay guard would remember of it.
    fn post(
        signature: &str,
        content_type: Option<&str>,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<ReplayMaterial, VerifyError> {
        let mut pairs = vec![(SIGNATURE, signature)];
        pairs.extend(content_type.map(|value| (CONTENT_TYPE, value)));
        Twilio::new(&[Secret::new(b"twilio-auth-token".as_slice())], Some(URL))
            .expect("builds")
            .verify_replay(Signed {
                headers: &headers(&pairs),
                body,
                now: 0,
                query,
            })
    }

    fn form(signature: &str, query: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        post(signature, Some(FORM_TYPE), query, body).map(drop)
    }

    fn json(signature: &str, query: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        post(signature, Some(JSON_TYPE), query, body).map(drop)
    }

    #[test]
    fn accepts_form_and_json_posts() {
        assert_eq!(form(FORM_SIG, None, FORM), Ok(()));
        assert_eq!(json(JSON_SIG, Some(JSON_QUERY), JSON), Ok(()));
        // The media type's parameters and case do not matter.
        let charset = "Application/X-WWW-Form-Urlencoded; charset=UTF-8";
        assert!(post(FORM_SIG, Some(charset), None, FORM).is_ok());
        let charset = "application/json;charset=utf-8";
        assert!(post(JSON_SIG, Some(charset), Some(JSON_QUERY), JSON).is_ok());
    }

    #[test]
    fn rejects_changed_parameters_bodies_and_urls() {
        let changed = b"To=Fake&From=bar&Body=Hello+world%21&MessageSid=SM123&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
        assert_eq!(form(FORM_SIG, None, changed), Err(VerifyError::Mismatch));
        assert_eq!(
            form(FORM_SIG, Some("x=1"), FORM),
            Err(VerifyError::Mismatch)
        );
        // The digest in the signed URL no longer matches the body.
        assert_eq!(
            json(
                JSON_SIG,
                Some(JSON_QUERY),
                br#"{"event":"status","sid":"SM124"}"#
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            form("not base64!", None, FORM),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(Twilio::new(&[], None).unwrap_err()[0].field, "public_url");
    }

    #[test]
    fn the_content_type_alone_chooses_the_mode() {
        // A JSON post sent as a form is read as a form: its signature does
        // not cover that reading.
        assert_eq!(
            form(JSON_SIG, Some(JSON_QUERY), JSON),
            Err(VerifyError::Mismatch)
        );
        // A JSON post must carry the body's digest in its query.
        assert_eq!(
            json(JSON_SIG, None, JSON),
            Err(VerifyError::MissingParameter(BODY_SHA256))
        );
        // In a form post's query, bodySHA256 is part of the URL, never
        // checked against the body.
        let url = format!("{URL}?{BODY_SHA256}=00");
        let (headers, query) = sign(b"twilio-auth-token", FORM, &url);
        assert_eq!(query, None);
        assert_eq!(form(&headers[0].1, Some("bodySHA256=00"), FORM), Ok(()));
        for other in ["text/plain", "multipart/form-data", "", "application/jsonx"] {
            assert_eq!(
                post(JSON_SIG, Some(other), Some(JSON_QUERY), JSON),
                Err(VerifyError::MalformedHeader(CONTENT_TYPE)),
                "{other:?}"
            );
        }
        assert_eq!(
            post(JSON_SIG, None, Some(JSON_QUERY), JSON),
            Err(VerifyError::MissingHeader(CONTENT_TYPE))
        );
    }

    #[test]
    fn a_reordered_or_reescaped_form_is_the_same_delivery_to_the_replay_guard() {
        let original = post(FORM_SIG, Some(FORM_TYPE), None, FORM).expect("verifies");
        for same_parameters in [
            &b"AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&MessageSid=SM123&Body=Hello+world%21&From=foo&To=Fake"[..],
            b"To=Fake&From=foo&Body=Hello%20world!&MessageSid=SM123&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        ] {
            assert_ne!(same_parameters, FORM);
            assert_eq!(
                post(FORM_SIG, Some(FORM_TYPE), None, same_parameters),
                Ok(original.clone())
            );
        }
        let other = post(JSON_SIG, Some(JSON_TYPE), Some(JSON_QUERY), JSON).expect("verifies");
        assert_ne!(original, other);
    }

    #[test]
    fn a_form_carrying_a_json_posts_signed_string_is_that_delivery_to_the_replay_guard() {
        let original = post(JSON_SIG, Some(JSON_TYPE), Some(JSON_QUERY), JSON).expect("verifies");
        // One parameter named `?bodySHA256=<digest>`, with no value: the
        // signed string is the JSON post's URL and query.
        let forged = format!("%3F{}", JSON_QUERY.replace('=', "%3D"));
        assert_eq!(
            post(JSON_SIG, Some(FORM_TYPE), None, forged.as_bytes()),
            Ok(original)
        );
    }

    /// What the pipeline's replay guard remembers of a post through the
    /// source's `Verifier`, as ingest sees it.
    fn remembered(
        signature: &str,
        content_type: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Vec<u8> {
        let verifier = crate::verify::Verifier::build(
            crate::verify::VerifierKind::Twilio,
            &[Secret::new(b"twilio-auth-token".as_slice())],
            crate::verify::DEFAULT_TOLERANCE,
            crate::verify::SchemeOptions {
                public_url: Some(URL),
                ..Default::default()
            },
        )
        .expect("builds");
        let headers = headers(&[(SIGNATURE, signature), (CONTENT_TYPE, content_type)]);
        verifier
            .verify_with_query(&headers, query, bytes::Bytes::copy_from_slice(body), 0)
            .expect("verifies")
            .replay_material()
            .to_vec()
    }

    #[test]
    fn the_pipeline_remembers_the_signed_string_not_the_raw_body() {
        let reordered = b"AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&MessageSid=SM123&Body=Hello+world%21&From=foo&To=Fake";
        assert_eq!(
            remembered(FORM_SIG, FORM_TYPE, None, reordered),
            remembered(FORM_SIG, FORM_TYPE, None, FORM)
        );
        let carried = format!("%3F{}", JSON_QUERY.replace('=', "%3D"));
        assert_eq!(
            remembered(JSON_SIG, FORM_TYPE, None, carried.as_bytes()),
            remembered(JSON_SIG, JSON_TYPE, Some(JSON_QUERY), JSON)
        );
    }

    #[test]
    fn a_form_with_more_parameters_than_twilio_sends_is_refused_unparsed() {
        let flood = "a=&".repeat(MAX_FORM_PARAMS);
        assert_eq!(
            form(FORM_SIG, None, flood.as_bytes()),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn what_it_signs_verifies_in_the_mode_its_content_type_names() {
        for body in [FORM, JSON] {
            let (headers, query) = sign(b"twilio-auth-token", body, URL);
            assert_eq!(headers[1].0, CONTENT_TYPE);
            assert!(
                post(&headers[0].1, Some(&headers[1].1), query.as_deref(), body).is_ok(),
                "{headers:?}"
            );
        }
    }
}
