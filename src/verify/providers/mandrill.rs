//! Mailchimp Transactional (Mandrill): `X-Mandrill-Signature: <base64>`,
//! HMAC-SHA1 keyed by the webhook's key over the URL exactly as configured in
//! Mandrill (the source's `public_url`, plus the request's query string)
//! followed by every POST parameter as name then value, sorted by name, as
//! Twilio signs. The body is a form with one parameter, `mandrill_events`: a
//! JSON array of up to 1,000 events, each published as its own record.
//! Nothing is timestamped. Handshakes: the `HEAD` Mandrill sends when a
//! webhook is added, and the empty batch `mandrill_events=[]` it falls back to
//! (signed with the generic key `test-webhook`, or with the webhook's key).
//!
//! Source: https://mailchimp.com/developer/transactional/docs/webhooks/
//! (format, 1,000 events) and its "Authenticating webhook requests" page,
//! https://mandrill.zendesk.com/hc/en-us/articles/360039232513-How-to-Authenticate-Webhook-Requests;
//! the HEAD check and the `test-webhook` key:
//! https://mandrill.zendesk.com/hc/en-us/articles/360038740014-Why-can-t-my-webhook-or-inbound-route-URL-be-verified

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::Method;
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, Challenge, Defaults, Handshake, MalformedBatch, Provider, SchemeHeader, Signed,
    SignedDelivery, VerifyError, verdict,
};

const SIGNATURE: &str = "X-Mandrill-Signature";
/// The form parameter that carries the batch.
const EVENTS: &str = "mandrill_events";
/// Mandrill's largest batch.
const MAX_EVENTS: usize = 1000;
/// Form parameters a post may carry before its signature is checked, at most.
/// Mandrill sends one; refusing more before parsing keeps the work on an
/// unauthenticated body (the list that is sorted) small whatever its size.
const MAX_FORM_PARAMS: usize = 16;
/// The key Mandrill signs its empty test batch with, whatever the webhook's.
const TEST_KEY: &[u8] = b"test-webhook";
/// An empty batch, `mandrill_events=%5B%5D`, is far shorter than this.
const MAX_EMPTY_BATCH_LEN: usize = 64;

pub(super) const DEFAULTS: Defaults = Defaults {
    // Each event's own bytes: an event's `_id` is its *message's* id, the same
    // for a message's send, open and click, so it cannot key deduplication.
    event_id: "body-sha256",
    // Sync events (allowlist, denylist) say `type` instead of `event`.
    event_type: Some("json:/event | json:/type"),
    forward_headers: &[],
    timestamped: false,
    // The event is the signed content, and its digest is its id.
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct Mandrill {
    keys: Keys,
    /// The generic key of Mandrill's test batch, for that handshake only.
    test_key: Keys,
    url: String,
    signature: SchemeHeader,
}

impl Mandrill {
    pub(super) fn new(
        secrets: &[Secret],
        public_url: Option<&str>,
    ) -> Result<Self, Vec<BuildError>> {
        let url =
            crate::verify::require_public_url(public_url, "Mandrill signs the webhook's URL")?;
        Ok(Self {
            keys: Keys::from_secrets(Algorithm::Sha1, secrets),
            test_key: Keys::new(Algorithm::Sha1, [TEST_KEY]),
            url: url.to_owned(),
            signature: SchemeHeader::new(SIGNATURE),
        })
    }

    fn check(&self, keys: &Keys, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        if request.body.iter().filter(|&&b| b == b'&').count() >= MAX_FORM_PARAMS {
            return Err(VerifyError::Mismatch);
        }
        let query = request.query.unwrap_or("");
        let separator: &[u8] = if query.is_empty() { b"" } else { b"?" };
        let params = sorted_params(request.body);
        let mut message: Vec<&[u8]> = vec![self.url.as_bytes(), separator, query.as_bytes()];
        for (name, value) in &params {
            message.push(name.as_bytes());
            message.push(value.as_bytes());
        }
        verdict(keys.verify_one(&message, signature))
    }
}

impl crate::verify::Scheme for Mandrill {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.check(&self.keys, request)
    }

    /// An empty batch signed with the webhook's key: nothing to publish.
    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        is_empty_batch(body).then(|| Handshake::empty("empty_batch"))
    }

    /// The HEAD Mandrill sends when a webhook is added; and, if that was not
    /// answered 200, the empty batch it posts instead, signed with the
    /// generic key `test-webhook` (so before the source's own key is tried).
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method == Method::HEAD {
            return Some(Handshake::empty("head_check"));
        }
        (*request.method == Method::POST
            && is_empty_batch(request.request.body)
            && self.check(&self.test_key, request.request).is_ok())
        .then(|| Handshake::empty("empty_batch"))
    }

    fn split(&self, body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        Some(split(body))
    }
}

/// Form parameters sorted by name (then value), as Mandrill signs them;
/// borrowed from the body unless percent-encoded.
fn sorted_params(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let mut params: Vec<_> = form_urlencoded::parse(body).collect();
    params.sort();
    params
}

/// The batch, decoded; `None` if the body has no `mandrill_events` or two.
fn events_param(body: &[u8]) -> Option<Cow<'_, str>> {
    let mut found = form_urlencoded::parse(body)
        .filter(|(name, _)| name == EVENTS)
        .map(|(_, value)| value);
    let events = found.next()?;
    found.next().is_none().then_some(events)
}

/// Whether the body is the empty batch `mandrill_events=[]`; only short
/// bodies are parsed, so ordinary batches cost nothing here.
fn is_empty_batch(body: &[u8]) -> bool {
    body.len() <= MAX_EMPTY_BATCH_LEN
        && events_param(body).is_some_and(|events| events.trim() == "[]")
}

/// Each event of a verified batch as its exact text, all sharing one buffer.
fn split(body: &[u8]) -> Result<Vec<Bytes>, MalformedBatch> {
    let batch = Bytes::from(
        events_param(body)
            .ok_or_else(|| MalformedBatch(format!("one {EVENTS} parameter is required")))?
            .into_owned(),
    );
    let Events(events) = serde_json::from_slice::<Events<'_>>(&batch)
        .map_err(|err| MalformedBatch(format!("{EVENTS}: {err}")))?;
    Ok(events
        .iter()
        // Each element was borrowed from `batch`, so it is a part of it.
        .map(|event| batch.slice_ref(event.get().as_bytes()))
        .collect())
}

/// A JSON array's elements as their text, refused past [`MAX_EVENTS`]
/// without reading further.
struct Events<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Events<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements;

        impl<'de> Visitor<'de> for Elements {
            type Value = Events<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array of at most 1000 events")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut events = Vec::new();
                while let Some(event) = seq.next_element::<&'de RawValue>()? {
                    if events.len() == MAX_EVENTS {
                        return Err(de::Error::custom("more than 1000 events"));
                    }
                    events.push(event);
                }
                Ok(Events(events))
            }
        }

        deserializer.deserialize_seq(Elements)
    }
}

/// Signs as Mandrill would post `payload` to `url`: one event, wrapped in a
/// batch, or a JSON array, sent as the batch.
pub(super) fn sign(secret: &[u8], payload: &str, url: &str) -> SignedDelivery {
    let payload = payload.trim();
    let events = if payload.starts_with('[') {
        payload.to_owned()
    } else {
        format!("[{payload}]")
    };
    let mac = crate::verify::mac::sign(
        Algorithm::Sha1,
        secret,
        &[url.as_bytes(), EVENTS.as_bytes(), events.as_bytes()],
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair(EVENTS, &events)
        .finish();
    SignedDelivery {
        headers: vec![
            (SIGNATURE.into(), STANDARD.encode(mac)),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: body.into_bytes(),
        query: None,
    }
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Mandrill::new(
            input.secrets,
            input.options.public_url,
        )?))
    },
    |input| {
        let url = input
            .options
            .public_url
            .ok_or("Mandrill signs the webhook's URL: give the URL it was sent to")?;
        let payload = std::str::from_utf8(input.payload)
            .map_err(|_| "a Mandrill event is JSON text".to_owned())?;
        Ok(sign(input.secret, payload, url))
    },
)
.with_sample(|id, now| {
    serde_json::json!({
        "_id": id,
        "event": "send",
        "ts": now,
        "msg": {
            "_id": id,
            "ts": now,
            "email": "someone@example.com",
            "sender": "hookgate@example.com",
            "subject": "hello from hookgate send",
            "state": "sent",
            "tags": [],
            "metadata": {}
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Scheme as _;
    use crate::verify::test_support::{headers, run};

    const URL: &str = "https://hooks.example.com/webhooks/mandrill";
    const KEY: &[u8] = b"mandrill-webhook-key";
    const EVENT_1: &str = r#"{"_id":"a1b2c3","event":"send","ts":1700000000,"msg":{"email":"a@example.com","subject":"Hi & bye"}}"#;
    const EVENT_2: &str =
        r#"{"_id":"d4e5f6","event":"open","ts":1700000100,"msg":{"email":"b@example.com"}}"#;
    /// `urllib.parse.urlencode({'mandrill_events': '[' + EVENT_1 + ', ' + EVENT_2 + ']'})`.
    const BODY: &[u8] = b"mandrill_events=%5B%7B%22_id%22%3A%22a1b2c3%22%2C%22event%22%3A%22send%22%2C%22ts%22%3A1700000000%2C%22msg%22%3A%7B%22email%22%3A%22a%40example.com%22%2C%22subject%22%3A%22Hi+%26+bye%22%7D%7D%2C+%7B%22_id%22%3A%22d4e5f6%22%2C%22event%22%3A%22open%22%2C%22ts%22%3A1700000100%2C%22msg%22%3A%7B%22email%22%3A%22b%40example.com%22%7D%7D%5D";
    /// `python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'mandrill-webhook-key',
    /// (URL + 'mandrill_events' + '[' + EVENT_1 + ', ' + EVENT_2 + ']').encode(), hashlib.sha1).digest()).decode())"`
    const SIG: &str = "S0s6+sYBkLAf+YIErgPfa0x2cb4=";
    const EMPTY: &[u8] = b"mandrill_events=%5B%5D";
    /// As SIG, for `URL + 'mandrill_events[]'` under the generic key `b'test-webhook'`.
    const EMPTY_TEST_SIG: &str = "C3rJOk0zIRTP8UIkTTkUtgDTnSg=";
    /// As SIG, for `URL + 'mandrill_events[]'` under KEY.
    const EMPTY_SIG: &str = "ccsuRlpY31SFHDTAdvC24spDYPQ=";

    fn scheme(key: &[u8], url: &str) -> Mandrill {
        Mandrill::new(&[Secret::new(key)], Some(url)).expect("builds")
    }

    fn signed(pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        run(&scheme(KEY, URL), pairs, body, 0)
    }

    fn challenge(
        scheme: &Mandrill,
        method: Method,
        pairs: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Handshake> {
        let headers = headers(pairs);
        scheme.challenge(Challenge {
            method: &method,
            request: Signed {
                headers: &headers,
                body,
                now: 0,
                query: None,
            },
        })
    }

    #[test]
    fn accepts_the_python_vector_and_splits_it_into_its_exact_events() {
        assert_eq!(signed(&[(SIGNATURE, SIG)], BODY), Ok(()));
        let events = scheme(KEY, URL)
            .split(&Bytes::from_static(BODY))
            .expect("a batch")
            .expect("splits");
        assert_eq!(events, vec![Bytes::from(EVENT_1), Bytes::from(EVENT_2)]);
    }

    #[test]
    fn rejects_changed_parameters_keys_urls_and_bad_headers() {
        let changed = String::from_utf8(BODY.to_vec())
            .expect("utf-8")
            .replace("a1b2c3", "a1b2c4");
        assert_eq!(
            signed(&[(SIGNATURE, SIG)], changed.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        let added = [BODY, b"&extra=1".as_slice()].concat();
        assert_eq!(
            signed(&[(SIGNATURE, SIG)], &added),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(&scheme(b"other-key", URL), &[(SIGNATURE, SIG)], BODY, 0),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(
                &scheme(KEY, "https://hooks.example.com/webhooks/mandrill/"),
                &[(SIGNATURE, SIG)],
                BODY,
                0
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            signed(&[], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            signed(&[(SIGNATURE, "not base64!")], BODY),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(Mandrill::new(&[], None).unwrap_err()[0].field, "public_url");
    }

    #[test]
    fn a_second_key_is_accepted_while_rotating() {
        let both = Mandrill::new(
            &[Secret::new(b"old-key".as_slice()), Secret::new(KEY)],
            Some(URL),
        )
        .expect("builds");
        assert_eq!(run(&both, &[(SIGNATURE, SIG)], BODY, 0), Ok(()));
    }

    #[test]
    fn a_form_with_more_parameters_than_mandrill_sends_is_refused_unparsed() {
        let flood = "a=&".repeat(MAX_FORM_PARAMS);
        assert_eq!(
            signed(&[(SIGNATURE, SIG)], flood.as_bytes()),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn batches_over_1000_events_missing_or_not_arrays_are_refused() {
        let batch = |n: usize| format!("mandrill_events=[{}{{}}]", "{},".repeat(n - 1));
        let split = |body: &str| super::split(body.as_bytes());
        assert_eq!(
            split(batch(MAX_EVENTS).as_str()).map(|events| events.len()),
            Ok(MAX_EVENTS)
        );
        for body in [
            batch(MAX_EVENTS + 1).as_str(),
            "other=1",
            "mandrill_events=%7B%7D",
            "mandrill_events=%5B%5D&mandrill_events=%5B%5D",
            "mandrill_events=%5B%7B%7D%5D+x",
        ] {
            assert!(split(body).is_err(), "{body}");
        }
        assert!(
            split(batch(MAX_EVENTS + 1).as_str())
                .unwrap_err()
                .to_string()
                .contains("more than 1000 events")
        );
    }

    #[test]
    fn the_empty_batch_is_a_handshake_and_others_are_not() {
        let mandrill = scheme(KEY, URL);
        assert_eq!(signed(&[(SIGNATURE, EMPTY_SIG)], EMPTY), Ok(()));
        assert_eq!(
            mandrill.handshake(EMPTY).map(|h| h.kind),
            Some("empty_batch")
        );
        assert!(mandrill.handshake(BODY).is_none());
        // Mandrill's fallback test post, signed with the generic key.
        assert_eq!(
            challenge(
                &mandrill,
                Method::POST,
                &[(SIGNATURE, EMPTY_TEST_SIG)],
                EMPTY
            )
            .map(|h| h.kind),
            Some("empty_batch")
        );
        // Not with the webhook's own key (that is verified, then a handshake),
        // nor any other signature, nor for a batch that has events.
        assert!(challenge(&mandrill, Method::POST, &[(SIGNATURE, EMPTY_SIG)], EMPTY).is_none());
        assert!(challenge(&mandrill, Method::POST, &[], EMPTY).is_none());
        assert!(challenge(&mandrill, Method::POST, &[(SIGNATURE, SIG)], BODY).is_none());
    }

    #[test]
    fn head_is_answered_and_get_is_not() {
        let mandrill = scheme(KEY, URL);
        assert_eq!(
            challenge(&mandrill, Method::HEAD, &[], b"").map(|h| h.kind),
            Some("head_check")
        );
        assert!(challenge(&mandrill, Method::GET, &[], b"").is_none());
    }

    #[test]
    fn what_it_signs_verifies_and_splits_back_into_the_payload() {
        let payload = r#"{"_id":"Ev1","event":"send","ts":1700000000}"#;
        let delivery = sign(KEY, payload, URL);
        assert_eq!(
            signed(
                &[(SIGNATURE, delivery.headers[0].1.as_str())],
                &delivery.body
            ),
            Ok(())
        );
        let events = super::split(&delivery.body).expect("splits");
        assert_eq!(events, vec![Bytes::from(payload)]);
    }
}
