//! GoCardless: `Webhook-Signature: <hex>`, HMAC-SHA256 of the body keyed by
//! the webhook endpoint's secret. Nothing is timestamped. A delivery is a
//! batch, `{"events": [...]}`: each event (with its own `id`, `EV…`, the same
//! on every retry) is published as its own record, the exact bytes it had in
//! the batch. The id is signed, inside the body.
//!
//! Source: https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks/
//! (the header, the `events` array); the signature as GoCardless's client
//! libraries compute it (`gocardless_pro`, `Webhook.signature_valid?`).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, MalformedBatch, Provider, Signed, SignedDelivery, VerifyError};

const SIGNATURE: &str = "Webhook-Signature";
/// The field that carries the batch.
const EVENTS: &str = "events";
/// Events one delivery may carry, at most: more than GoCardless puts in a
/// batch. A larger one is refused whole, unpublished.
const MAX_EVENTS: usize = 1000;

pub(super) const DEFAULTS: Defaults = Defaults {
    // Each event is located on its own once the batch is split; a whole
    // batch (as a tool that does not split sees it) by its first event.
    event_id: "json:/id | json:/events/0/id",
    // `payments`, `mandates`, `subscriptions`, …; the event's `action` says
    // what happened to it.
    event_type: Some("json:/resource_type"),
    forward_headers: &[],
    timestamped: false,
    // Every event's id is inside the signed body.
    replay_guard: false,
    tolerance: None,
    // The resource the event is about, from its `links` (a payment's event
    // also links its mandate, so the narrower resources come first).
    partition_key: Some(
        "json:/links/payment | json:/links/refund | json:/links/payout \
         | json:/links/instalment_schedule | json:/links/subscription \
         | json:/links/billing_request | json:/links/mandate \
         | json:/links/customer | json:/links/creditor",
    ),
};

const SHAPE: HeaderHmac = HeaderHmac {
    header: SIGNATURE,
    prefix: "",
    algorithm: Algorithm::Sha256,
    encoding: Encoding::Hex,
};

/// One HMAC of the body in one header, and a batch to split.
#[derive(Debug)]
pub(super) struct GoCardless(HeaderSignature);

impl GoCardless {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self(SHAPE.scheme(secrets))
    }
}

impl crate::verify::Scheme for GoCardless {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        crate::verify::Scheme::verify(&self.0, request)
    }

    fn split(&self, body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        Some(split(body))
    }
}

/// A delivery: its `events`, each as its text; other fields are ignored.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Each event of a verified batch as its exact bytes, sharing the body's buffer.
fn split(body: &Bytes) -> Result<Vec<Bytes>, MalformedBatch> {
    let batch: Batch<'_> = serde_json::from_slice(body)
        .map_err(|err| MalformedBatch(format!("{EVENTS}: {err}")))?;
    if batch.events.len() > MAX_EVENTS {
        return Err(MalformedBatch(format!(
            "{EVENTS}: more than {MAX_EVENTS} events"
        )));
    }
    Ok(batch
        .events
        .iter()
        // Each element was borrowed from `body`, so it is a part of it.
        .map(|event| body.slice_ref(event.get().as_bytes()))
        .collect())
}

/// `payload` as GoCardless would post it: a batch as it is, one event
/// wrapped in a batch of one.
fn as_batch(payload: &[u8]) -> Vec<u8> {
    let is_batch = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .is_some_and(|value| value.get(EVENTS).is_some_and(serde_json::Value::is_array));
    if is_batch {
        payload.to_vec()
    } else {
        [b"{\"events\":[".as_slice(), payload.trim_ascii(), b"]}"].concat()
    }
}

/// The delivery GoCardless sends for `payload`, signed with `secret`.
pub(super) fn sign(secret: &[u8], payload: &[u8]) -> SignedDelivery {
    let body = as_batch(payload);
    SignedDelivery {
        headers: vec![
            SHAPE.sign(secret, &[body.as_slice()]),
            ("Content-Type".into(), "application/json".into()),
        ],
        body,
        query: None,
    }
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(GoCardless::new(input.secrets))),
    |input| Ok(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "events": [{
            "id": id,
            "created_at": "2023-11-14T22:13:20.000Z",
            "resource_type": "payments",
            "action": "confirmed",
            "links": { "payment": "PM0000AAAA1111" },
            "details": {
                "origin": "gocardless",
                "cause": "payment_confirmed",
                "description": "Payment was confirmed as collected."
            },
            "metadata": {}
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The vector in the tests of GoCardless's Ruby client
    /// (`spec/webhook_spec.rb`): its secret, body and signature.
    const SECRET: &[u8] = b"ED7D658C-D8EB-4941-948B-3973214F2D49";
    const EVENT_1: &str = r#"{"id":"EV00BD05S5VM2T","created_at":"2018-07-05T09:13:51.404Z","resource_type":"subscriptions","action":"created","links":{"subscription":"SB0003JJQ2MR06"},"details":{"origin":"api","cause":"subscription_created","description":"Subscription created via the API."},"metadata":{}}"#;
    const EVENT_2: &str = r#"{"id":"EV00BD05TB8K63","created_at":"2018-07-05T09:13:56.893Z","resource_type":"mandates","action":"created","links":{"mandate":"MD000AMA19XGEC"},"details":{"origin":"api","cause":"mandate_created","description":"Mandate created via the API."},"metadata":{}}"#;
    const SIG: &str = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e";

    fn body() -> String {
        format!(r#"{{"events":[{EVENT_1},{EVENT_2}]}}"#)
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, SECRET, body().as_bytes(), SIG);
    }

    #[test]
    fn a_second_secret_is_accepted_while_rotating() {
        let both = GoCardless::new(&[
            Secret::new(b"previous-secret".as_slice()),
            Secret::new(SECRET),
        ]);
        assert_eq!(run(&both, &[(SIGNATURE, SIG)], body().as_bytes(), 0), Ok(()));
        assert_eq!(
            run(&both, &[(SIGNATURE, SIG)], b"{\"events\":[]}", 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_batch_splits_into_its_events_exact_bytes() {
        let events = split(&Bytes::from(body())).expect("splits");
        assert_eq!(events, vec![Bytes::from(EVENT_1), Bytes::from(EVENT_2)]);
        // Other fields beside `events` are not events.
        let with_meta = format!(r#"{{"events":[{EVENT_2}],"meta":{{"webhook_id":"WB0031BP85JJTT"}}}}"#);
        assert_eq!(
            split(&Bytes::from(with_meta)).expect("splits"),
            vec![Bytes::from(EVENT_2)]
        );
    }

    #[test]
    fn each_event_is_located_by_its_own_id() {
        let locator = crate::pipeline::locate::Locator::parse(DEFAULTS.event_id).expect("parses");
        let headers = crate::verify::test_support::headers(&[]);
        let ids: Vec<String> = split(&Bytes::from(body()))
            .expect("splits")
            .iter()
            .map(|event| {
                locator
                    .extract(&headers, event)
                    .expect("an id")
                    .as_str()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids, ["EV00BD05S5VM2T", "EV00BD05TB8K63"]);
        let partition =
            crate::pipeline::locate::Locator::parse(DEFAULTS.partition_key.expect("a key"))
                .expect("parses")
                .extract(&headers, EVENT_2.as_bytes())
                .expect("a key");
        assert_eq!(partition.as_str(), "MD000AMA19XGEC");
    }

    #[test]
    fn batches_that_are_not_gocardless_batches_are_refused() {
        let batch = |n: usize| format!(r#"{{"events":[{}{{}}]}}"#, "{},".repeat(n - 1));
        assert_eq!(
            split(&Bytes::from(batch(MAX_EVENTS))).map(|events| events.len()),
            Ok(MAX_EVENTS)
        );
        for body in [
            batch(MAX_EVENTS + 1),
            "{}".to_owned(),
            r#"{"events":{}}"#.to_owned(),
            format!("[{EVENT_1}]"),
            format!(r#"{{"events":[{EVENT_1}]}} x"#),
        ] {
            assert!(split(&Bytes::from(body.clone())).is_err(), "{body}");
        }
    }

    #[test]
    fn one_event_is_sent_as_a_batch_of_one_and_a_batch_as_it_is() {
        let one = sign(SECRET, EVENT_1.as_bytes());
        assert_eq!(one.body, format!(r#"{{"events":[{EVENT_1}]}}"#).into_bytes());
        let whole = sign(SECRET, body().as_bytes());
        assert_eq!(whole.body, body().into_bytes());
        assert_eq!(whole.headers[0], (SIGNATURE.to_owned(), SIG.to_owned()));
        assert_eq!(
            split(&Bytes::from(one.body)).expect("splits"),
            vec![Bytes::from(EVENT_1)]
        );
    }
}
