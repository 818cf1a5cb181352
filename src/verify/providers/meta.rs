//! Meta (Graph API webhooks: the WhatsApp Business Platform's Cloud API,
//! Messenger, Instagram, Facebook Pages): `X-Hub-Signature-256:
//! sha256=<hex>`, HMAC-SHA256 of the body keyed by the app secret. Nothing is
//! timestamped. Meta signs the body exactly as sent, with non-ASCII
//! characters escaped (`\u00e4`), so only the raw bytes verify.
//!
//! A delivery is `{"object": "<type>", "entry": [...]}` and batches entries;
//! each entry is published as its own record, `{"object": <object>, "entry":
//! [<entry>]}`, the entry's exact bytes inside the delivery's shape, so that a
//! consumer reads every record as it would read a delivery of one entry. Meta
//! sends no event id, so each record's SHA-256 stands for one: a retry, batched
//! the same way or not, gives the same ids.
//!
//! Handshake: when the callback URL or verify token is saved in the App
//! Dashboard, Meta sends `GET ?hub.mode=subscribe&hub.challenge=<value>&
//! hub.verify_token=<token>`; when the token equals the source's
//! `verify_token` (compared in constant time), the challenge is echoed as
//! `text/plain`. Without a configured `verify_token` the GET is not answered.
//!
//! Source: https://developers.facebook.com/docs/graph-api/webhooks/getting-started
//! (WhatsApp: https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks)

use bytes::Bytes;
use http::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::presented::SecretDigests;
use crate::verify::{
    Challenge, Defaults, Handshake, MalformedBatch, Provider, Scheme, Signed, VerifyError, echoable,
};

const SIGNATURE: &str = "X-Hub-Signature-256";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Meta sends no id: each published record's bytes (object and one entry)
    // stand for one.
    event_id: "body-sha256",
    // The changed field (`messages`, `feed`, `comments`); Messenger's
    // `messaging` entries have none, and route by their object (`page`,
    // `instagram`).
    event_type: Some("json:/entry/0/changes/0/field | json:/object"),
    forward_headers: &[],
    timestamped: false,
    // The id is the digest of signed bytes: a body sent again is a duplicate.
    replay_guard: false,
    tolerance: None,
    // The Page, Instagram account or WhatsApp Business Account (`entry.id`).
    partition_key: Some("json:/entry/0/id"),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "sha256=",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

/// Meta's check: the body's HMAC, the verification GET, and its batches.
#[derive(Debug)]
pub(super) struct Meta {
    signature: HeaderSignature,
    /// The verify token typed into the App Dashboard, kept as a digest;
    /// `None`: the verification GET is not answered.
    verify_token: Option<SecretDigests>,
}

impl Meta {
    pub(super) fn new(secrets: &[Secret], verify_token: Option<&Secret>) -> Self {
        Self {
            signature: SHAPE.scheme(secrets),
            verify_token: verify_token.map(|token| SecretDigests::new(std::slice::from_ref(token))),
        }
    }
}

impl Scheme for Meta {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signature.verify(request)
    }

    /// Meta's verification request: a GET whose `hub.verify_token` is the
    /// source's, answered with its `hub.challenge`.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::GET {
            return None;
        }
        let verify_token = self.verify_token.as_ref()?;
        if request.query_param("hub.mode")? != "subscribe" {
            return None;
        }
        let token = request.query_param("hub.verify_token")?;
        if !verify_token.contain_value(token.as_bytes()) {
            return None;
        }
        let challenge = request.query_param("hub.challenge")?;
        let challenge = echoable(&challenge)?;
        Some(Handshake::text("verification", challenge.to_owned()))
    }

    fn split(&self, body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        Some(split(body))
    }
}

/// A delivery's two top-level fields, as their exact text.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    object: &'a RawValue,
    #[serde(borrow)]
    entry: Vec<&'a RawValue>,
}

/// Each entry of a verified delivery as `{"object": …, "entry": [<entry>]}`,
/// the object and the entry byte for byte as Meta sent them.
fn split(body: &[u8]) -> Result<Vec<Bytes>, MalformedBatch> {
    // A JSON object: serde would also read the struct from an array.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(MalformedBatch("a Meta delivery is a JSON object".into()));
    }
    let batch: Batch<'_> = serde_json::from_slice(body)
        .map_err(|err| MalformedBatch(format!("object and entry: {err}")))?;
    let object = batch.object.get();
    if !object.starts_with('"') {
        return Err(MalformedBatch("object is not a string".into()));
    }
    Ok(batch
        .entry
        .iter()
        .map(|entry| {
            let entry = entry.get();
            let mut event = Vec::with_capacity(object.len() + entry.len() + 24);
            event.extend_from_slice(b"{\"object\":");
            event.extend_from_slice(object.as_bytes());
            event.extend_from_slice(b",\"entry\":[");
            event.extend_from_slice(entry.as_bytes());
            event.extend_from_slice(b"]}");
            Bytes::from(event)
        })
        .collect())
}

/// Meta signs the body as sent.
/// `payload` as Meta delivers it: a delivery already, or one entry of a
/// Page's delivery (for `hookgate send` with a body of one's own).
fn as_delivery(payload: &[u8]) -> Vec<u8> {
    let is_delivery = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .is_some_and(|value| {
            value.get("object").is_some() && value.get("entry").is_some_and(serde_json::Value::is_array)
        });
    if is_delivery {
        payload.to_vec()
    } else {
        [br#"{"object":"page","entry":["#.as_slice(), payload.trim_ascii(), b"]}"].concat()
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Meta::new(
            input.secrets,
            input.options.verify_token,
        )))
    },
    |input| {
        let body = as_delivery(input.payload);
        Ok(crate::verify::SignedDelivery {
            headers: sign(input.secret, &body),
            body,
            query: None,
        })
    },
)
// An app secret is 32 hex digits, as the App Dashboard shows it.
.with_example_secret(b"5f3b8a1c9e2d4f6a7b8c9d0e1f2a3b4c")
.with_sample(|id, now| {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
                    "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "16505551234" }],
                    "messages": [{
                        "from": "16505551234",
                        "id": id,
                        "timestamp": now.to_string(),
                        "type": "text",
                        "text": { "body": "hello from hookgate send" }
                    }]
                }
            }]
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::{header_hmac_vector, run};

    const SECRET: &[u8] = b"5f3b8a1c9e2d4f6a7b8c9d0e1f2a3b4c";
    const VERIFY_TOKEN: &[u8] = b"meatyhamhock";
    const ENTRY_1: &str = r#"{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? \u00e4\u00f6\u00e5"}}]},"field":"messages"}]}"#;
    const ENTRY_2: &str = r#"{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234"}]},"field":"messages"}]}"#;
    /// `{"object":"whatsapp_business_account","entry":[ENTRY_1,ENTRY_2]}`, with
    /// the escapes (`\u00e4`) as Meta sends them.
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? \u00e4\u00f6\u00e5"}}]},"field":"messages"}]},{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234"}]},"field":"messages"}]}]}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac 5f3b8a1c9e2d4f6a7b8c9d0e1f2a3b4c`
    const SIG: &str = "sha256=4f7b7cf9d1f6481fc7afccdbf461dc234e1a55624f073afe429fa87484254d39";

    fn meta(verify_token: Option<&[u8]>) -> Meta {
        let token = verify_token.map(Secret::new);
        Meta::new(&[Secret::new(SECRET)], token.as_ref())
    }

    fn challenge(scheme: &Meta, method: Method, query: &str) -> Option<Handshake> {
        crate::verify::test_support::challenge(scheme, method, &[], Some(query), b"")
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        header_hmac_vector(&SHAPE, SECRET, BODY, SIG);
        assert_eq!(run(&meta(None), &[(SIGNATURE, SIG)], BODY, 0), Ok(()));
        assert_eq!(
            sign(SECRET, BODY),
            vec![(SIGNATURE.to_owned(), SIG.to_owned())]
        );
    }

    #[test]
    fn the_decoded_body_does_not_verify() {
        // What a receiver that re-serialises the JSON would check.
        let decoded = String::from_utf8_lossy(BODY).replace(r"\u00e4\u00f6\u00e5", "äöå");
        assert_eq!(
            run(&meta(None), &[(SIGNATURE, SIG)], decoded.as_bytes(), 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn each_entry_is_published_in_the_deliverys_shape() {
        let events = meta(None)
            .split(&Bytes::from_static(BODY))
            .expect("a batch")
            .expect("splits");
        let expected =
            |entry: &str| format!(r#"{{"object":"whatsapp_business_account","entry":[{entry}]}}"#);
        assert_eq!(
            events,
            vec![
                Bytes::from(expected(ENTRY_1)),
                Bytes::from(expected(ENTRY_2))
            ]
        );
        // Each record reads as a delivery: its type, entity and id.
        let locate = |spec: &str, body: &[u8]| {
            crate::pipeline::locate::Locator::parse(spec)
                .expect("parses")
                .extract(&http::HeaderMap::new(), body)
                .expect("found")
                .as_str()
                .to_owned()
        };
        let event_type = DEFAULTS.event_type.expect("a type");
        let entity = DEFAULTS.partition_key.expect("an entity");
        assert_eq!(locate(event_type, &events[0][..]), "messages");
        assert_eq!(locate(entity, &events[1][..]), "102290129340398");
        assert_ne!(
            locate(DEFAULTS.event_id, &events[0][..]),
            locate(DEFAULTS.event_id, &events[1][..])
        );
    }

    #[test]
    fn an_entry_keeps_its_id_however_it_is_batched() {
        let alone = format!(r#"{{"object":"whatsapp_business_account","entry":[{ENTRY_2}]}}"#);
        let from_batch = split(BODY).expect("splits");
        let from_alone = split(alone.as_bytes()).expect("splits");
        assert_eq!(from_batch[1], from_alone[0]);
    }

    #[test]
    fn malformed_batches_are_refused() {
        for body in [
            r#"["whatsapp_business_account",[{}]]"#,
            r#"{"object":"page"}"#,
            r#"{"entry":[{}]}"#,
            r#"{"object":"page","entry":{}}"#,
            r#"{"object":7,"entry":[{}]}"#,
            r#"{"object":"page","entry":[{}],"entry":[{}]}"#,
            "not json",
        ] {
            assert!(split(body.as_bytes()).is_err(), "{body}");
        }
        assert_eq!(
            split(br#"{"object":"page","entry":[]}"#).map(|events| events.len()),
            Ok(0)
        );
    }

    #[test]
    fn the_verification_get_is_answered_with_its_challenge() {
        let meta = meta(Some(VERIFY_TOKEN));
        // The example in Meta's getting-started guide.
        let answer = challenge(
            &meta,
            Method::GET,
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        )
        .expect("a handshake");
        assert_eq!(
            (answer.kind, answer.reply),
            ("verification", Reply::Text("1158201444".into()))
        );
        // Decoded, as Meta encoded it in the URL.
        assert_eq!(
            challenge(
                &meta,
                Method::GET,
                "hub.verify_token=meaty%68amhock&hub.challenge=a%2Bb&hub.mode=subscribe"
            )
            .map(|h| h.reply),
            Some(Reply::Text("a+b".into()))
        );
    }

    #[test]
    fn nothing_else_is_a_verification_request() {
        let meta_with_token = meta(Some(VERIFY_TOKEN));
        let good = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        // No verify token configured: never answered.
        assert!(challenge(&meta(None), Method::GET, good).is_none());
        assert!(challenge(&meta_with_token, Method::POST, good).is_none());
        assert!(challenge(&meta_with_token, Method::HEAD, good).is_none());
        for query in [
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhocks",
            "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=",
            "hub.mode=subscribe&hub.challenge=1158201444",
            "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
            "hub.challenge=1158201444&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.challenge=&hub.verify_token=meatyhamhock",
            "hub.mode=subscribe&hub.challenge=%3Cscript%3E%0A&hub.verify_token=meatyhamhock",
        ] {
            assert!(
                challenge(&meta_with_token, Method::GET, query).is_none(),
                "{query}"
            );
        }
    }
}
