//! Adyen (standard webhooks, JSON): a delivery `{"live": "false",
//! "notificationItems": [{"NotificationRequestItem": {…}}, …]}` batches
//! notification items, each signed on its own in its
//! `additionalData.hmacSignature`: the base64 HMAC-SHA256, keyed by the
//! webhook's HMAC key (given in hex, as the Customer Area shows it), of
//! `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
//! (`value` and `currency` from `amount`; an absent field is empty; values as
//! they are, nothing escaped). Every item must verify, or the delivery is
//! refused whole; each is then published as its own record, the
//! `NotificationRequestItem` object byte for byte.
//!
//! The signature covers those eight fields only: the rest of an item
//! (`eventDate`, `reason`, the rest of `additionalData`) and of the delivery
//! (`live`) is not signed, and nothing is timestamped. The event id is the
//! item's `hmacSignature`, a MAC of exactly those fields: the same when Adyen
//! sends the notification again (unless the HMAC key changed in between),
//! and the same for a copy whose unsigned fields were changed, which is then
//! a duplicate.
//!
//! Adyen takes any 2xx as the acknowledgement; the `[accepted]` body its
//! older integrations answered is no longer required.
//!
//! Source: https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures
//! (acknowledgement: https://docs.adyen.com/development-resources/webhooks/handle-webhook-events)

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, Defaults, MalformedBatch, Provider, ReplayMaterial, Scheme, Signed, SignedDelivery,
    VerifyError,
};

const ITEMS: &str = "notificationItems";
const ITEM: &str = "NotificationRequestItem";
const SIGNATURE: &str = "additionalData.hmacSignature";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Each published item's signature. A whole delivery has none at its top
    // level (only its items are published), hence the digest beside it.
    event_id: "json:/additionalData/hmacSignature | body-sha256",
    event_type: Some("json:/eventCode"),
    forward_headers: &[],
    timestamped: false,
    // What the signatures cover is remembered, not the body, whose unsigned
    // fields can change.
    replay_guard: true,
    tolerance: None,
    // The payment: a modification's `originalReference` is its payment's
    // `pspReference`.
    partition_key: Some("json:/originalReference | json:/pspReference"),
};

/// A delivery's items, each as its exact text.
#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow, rename = "notificationItems")]
    items: Vec<Wrapped<'a>>,
}

#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow, rename = "NotificationRequestItem")]
    item: &'a RawValue,
}

/// What an item's signature covers, and the signature.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    #[serde(borrow)]
    psp_reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    original_reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    merchant_account_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    merchant_reference: Option<Cow<'a, str>>,
    #[serde(borrow)]
    amount: Option<Amount<'a>>,
    #[serde(borrow)]
    event_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    success: Option<Cow<'a, str>>,
    #[serde(borrow)]
    additional_data: Option<AdditionalData<'a>>,
}

#[derive(Deserialize)]
struct Amount<'a> {
    /// In minor units.
    value: Option<i64>,
    #[serde(borrow)]
    currency: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AdditionalData<'a> {
    #[serde(borrow, rename = "hmacSignature")]
    hmac_signature: Option<Cow<'a, str>>,
}

impl Item<'_> {
    /// The string Adyen signs.
    fn signed(&self) -> String {
        let text = |field: &Option<Cow<'_, str>>| field.as_deref().unwrap_or("").to_owned();
        let amount = self.amount.as_ref();
        [
            text(&self.psp_reference),
            text(&self.original_reference),
            text(&self.merchant_account_code),
            text(&self.merchant_reference),
            amount
                .and_then(|amount| amount.value)
                .map(|value| value.to_string())
                .unwrap_or_default(),
            amount
                .map(|amount| text(&amount.currency))
                .unwrap_or_default(),
            text(&self.event_code),
            text(&self.success),
        ]
        .join(":")
    }
}

/// A JSON object: serde would also read a struct from an array.
fn is_object(text: &[u8]) -> bool {
    text.trim_ascii_start().first() == Some(&b'{')
}

/// The items of a delivery, as their text; at least one.
fn items(body: &[u8]) -> Result<Vec<&RawValue>, VerifyError> {
    let malformed = VerifyError::MalformedField(ITEMS);
    if !is_object(body) {
        return Err(malformed);
    }
    let delivery: Delivery<'_> = serde_json::from_slice(body).map_err(|_| malformed)?;
    // An empty batch carries no signature at all.
    if delivery.items.is_empty() {
        return Err(malformed);
    }
    Ok(delivery
        .items
        .into_iter()
        .map(|wrapped| wrapped.item)
        .collect())
}

#[derive(Debug)]
pub(super) struct Adyen {
    keys: Keys,
}

impl Adyen {
    pub(super) fn new(secrets: &[Secret]) -> Result<Self, Vec<BuildError>> {
        let keys = crate::verify::parse_keys(
            secrets,
            hmac_key,
            "an Adyen HMAC key is hexadecimal, as the Customer Area shows it",
        )?;
        Ok(Self {
            keys: Keys::new(Algorithm::Sha256, keys.iter().map(Vec::as_slice)),
        })
    }

    /// Checks every item; the digest of what their signatures cover.
    fn check(&self, body: &[u8]) -> Result<[u8; 32], VerifyError> {
        let mut digest = Sha256::new();
        for raw in items(body)? {
            let raw = raw.get();
            if !is_object(raw.as_bytes()) {
                return Err(VerifyError::MalformedField(ITEM));
            }
            let item: Item<'_> =
                serde_json::from_str(raw).map_err(|_| VerifyError::MalformedField(ITEM))?;
            let signature = item
                .additional_data
                .as_ref()
                .and_then(|data| data.hmac_signature.as_deref())
                .and_then(|text| Signature::decode(text.as_bytes(), Encoding::Base64))
                .ok_or(VerifyError::MalformedField(SIGNATURE))?;
            let signed = item.signed();
            // One wrong item refuses the whole delivery: none of it is published.
            if !self.keys.verify_one(&[signed.as_bytes()], signature) {
                return Err(VerifyError::Mismatch);
            }
            digest.update((signed.len() as u64).to_be_bytes());
            digest.update(signed.as_bytes());
        }
        Ok(digest.finalize().into())
    }
}

impl Scheme for Adyen {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.check(request.body).map(drop)
    }

    /// The signed fields of every item, not the body: a copy with unsigned
    /// fields changed (or reformatted) is the same delivery.
    fn verify_replay(&self, request: Signed<'_>) -> Result<ReplayMaterial, VerifyError> {
        self.check(request.body).map(ReplayMaterial::Digest)
    }

    fn split(&self, body: &Bytes) -> Option<Result<Vec<Bytes>, MalformedBatch>> {
        Some(
            items(body)
                .map(|items| {
                    items
                        .iter()
                        // Each item was borrowed from `body`, so it is a part of it.
                        .map(|item| body.slice_ref(item.get().as_bytes()))
                        .collect()
                })
                .map_err(|err| MalformedBatch(err.to_string())),
        )
    }
}

/// The key of a hex secret.
fn hmac_key(text: &[u8]) -> Option<Vec<u8>> {
    let key = hex::decode(text.trim_ascii()).ok()?;
    (!key.is_empty()).then_some(key)
}

/// The string Adyen signs, for an item given as JSON.
fn signed_json(item: &serde_json::Map<String, Value>) -> String {
    let text = |value: Option<&Value>| match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    };
    let amount = item.get("amount");
    [
        text(item.get("pspReference")),
        text(item.get("originalReference")),
        text(item.get("merchantAccountCode")),
        text(item.get("merchantReference")),
        text(amount.and_then(|amount| amount.get("value"))),
        text(amount.and_then(|amount| amount.get("currency"))),
        text(item.get("eventCode")),
        text(item.get("success")),
    ]
    .join(":")
}

/// Signs as Adyen would: each item of a delivery (`notificationItems`), or a
/// single item, which is wrapped in a delivery of one.
pub(super) fn sign(secret: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
    let key = hmac_key(secret)
        .ok_or("an Adyen HMAC key is hexadecimal, as the Customer Area shows it")?;
    let mut delivery: Value = serde_json::from_slice(payload)
        .map_err(|err| format!("an Adyen notification is JSON: {err}"))?;
    if delivery.get(ITEMS).is_none() {
        delivery = serde_json::json!({
            "live": "false",
            "notificationItems": [{ "NotificationRequestItem": delivery }]
        });
    }
    let items = delivery
        .get_mut(ITEMS)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("{ITEMS} is not an array"))?;
    for wrapped in items {
        let item = wrapped
            .get_mut(ITEM)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("an element of {ITEMS} has no {ITEM} object"))?;
        let mac =
            crate::verify::mac::sign(Algorithm::Sha256, &key, &[signed_json(item).as_bytes()]);
        item.entry("additionalData")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .ok_or_else(|| "additionalData is not an object".to_owned())?
            .insert(
                "hmacSignature".to_owned(),
                Value::String(STANDARD.encode(mac)),
            );
    }
    serde_json::to_vec(&delivery).map_err(|err| err.to_string())
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Adyen::new(input.secrets)?)),
    // The signatures go inside the body.
    |input| {
        Ok(SignedDelivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: sign(input.secret, input.payload)?,
            query: None,
        })
    },
)
// The key of the HMAC vector in Adyen's Python library's tests.
.with_example_secret(b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056")
// It signs eight fields of each item, not the body.
.without_body_signature()
.with_sample(|id, _now| {
    serde_json::json!({
        "live": "false",
        "notificationItems": [{
            "NotificationRequestItem": {
                "pspReference": id,
                "merchantAccountCode": "TestMerchant",
                "merchantReference": "hookgate-send-1",
                "amount": { "currency": "EUR", "value": 1130 },
                "eventCode": "AUTHORISATION",
                "success": "true",
                "eventDate": "2019-05-06T17:15:34.121+02:00",
                "operations": ["CANCEL", "CAPTURE", "REFUND"],
                "paymentMethod": "visa",
                "additionalData": {}
            }
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The three items of Adyen's Python library's signing tests
    /// (`test/mocks/util/{backslash,colon,forwardslash}_notification.json`,
    /// notifications Adyen signed, unsigned fields trimmed), with their key.
    /// Their references hold `\\`, `:` and `/` as they are.
    const KEY: &str = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174";
    const ITEM_1: &str = r#"{"additionalData":{"authCode":"076181","hmacSignature":"nIgT81gaB5oJpn2jPXupDq68iRo2wUlBsuYjtYfwKqo="},"amount":{"currency":"EUR","value":1000},"eventCode":"AUTHORISATION","eventDate":"2023-01-09T16:27:29+01:00","merchantAccountCode":"AntoniStroinski","merchantReference":"\\\\slashes are fun","paymentMethod":"visa","pspReference":"T7FD4VM4D3RZNN82","reason":"076181:1111:03/2030","success":"true"}"#;
    const ITEM_2: &str = r#"{"additionalData":{"authCode":"039404","hmacSignature":"2EQYm7YJpKO4EtHSPu55SQTyWf8dkW5u2nD1tJFpViA="},"amount":{"currency":"EUR","value":1000},"eventCode":"AUTHORISATION","eventDate":"2023-01-10T13:40:54+01:00","merchantAccountCode":"AntoniStroinski","merchantReference":":slashes are fun","paymentMethod":"visa","pspReference":"M8NB66SBZSGLNK82","reason":"039404:1111:03/2030","success":"true"}"#;
    const ITEM_3: &str = r#"{"amount":{"value":1000,"currency":"EUR"},"reason":"087330:1111:03/2030","success":"true","eventCode":"AUTHORISATION","eventDate":"2023-01-10T13:37:30+01:00","pspReference":"X3GWNS6KJ8NKGK82","paymentMethod":"visa","additionalData":{"authCode":"087330","hmacSignature":"9Z0xdpG9Xi3zcmXv14t/BvMBut77O/Xq9D4CQXSDUi4="},"merchantReference":"//slashes are fun","merchantAccountCode":"AntoniStroinski"}"#;
    /// The vector of Adyen's Node library's `hmacValidator.spec.ts`, which has
    /// an `originalReference`.
    const NODE_KEY: &str = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
    const NODE_ITEM: &str = r#"{"pspReference":"pspReference","originalReference":"originalReference","merchantAccountCode":"merchantAccount","merchantReference":"reference","amount":{"currency":"EUR","value":1000},"eventCode":"CAPTURE","eventDate":"1970-01-01T00:00:00.000Z","paymentMethod":"VISA","reason":"reason","success":"true","additionalData":{"hmacSignature":"xhpHvYq2u2Np0rstbZ6QjLGu7JWhvf7Iwaa6EviJSX0="}}"#;
    /// The vector of Adyen's Python library's `UtilTest.py`
    /// (`test_notification_request_item_hmac`), with the example secret.
    const PYTHON_ITEM: &str = r#"{"pspReference":"7914073381342284","merchantReference":"TestPayment-1407325143704","merchantAccountCode":"TestMerchant","amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","success":"true","eventDate":"2019-05-06T17:15:34.121+02:00","operations":["CANCEL","CAPTURE","REFUND"],"paymentMethod":"visa","additionalData":{"hmacSignature":"coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="}}"#;

    fn delivery(items: &[&str]) -> String {
        let items: Vec<String> = items
            .iter()
            .map(|item| format!(r#"{{"NotificationRequestItem":{item}}}"#))
            .collect();
        format!(
            r#"{{"live":"false","notificationItems":[{}]}}"#,
            items.join(",")
        )
    }

    fn adyen(keys: &[&str]) -> Adyen {
        let keys: Vec<Secret> = keys.iter().map(|k| Secret::new(k.as_bytes())).collect();
        Adyen::new(&keys).expect("hex keys")
    }

    fn check(keys: &[&str], body: &str) -> Result<(), VerifyError> {
        run(&adyen(keys), &[], body.as_bytes(), 0)
    }

    #[test]
    fn accepts_the_vectors_of_adyens_libraries() {
        assert_eq!(check(&[KEY], &delivery(&[ITEM_1, ITEM_2, ITEM_3])), Ok(()));
        assert_eq!(check(&[NODE_KEY], &delivery(&[NODE_ITEM])), Ok(()));
        let example = std::str::from_utf8(PROVIDER.example_secret).expect("ascii");
        assert_eq!(check(&[example], &delivery(&[PYTHON_ITEM])), Ok(()));
    }

    #[test]
    fn a_second_key_verifies_while_rotating() {
        assert_eq!(
            check(&[NODE_KEY, KEY], &delivery(&[ITEM_1, ITEM_2])),
            Ok(())
        );
        assert_eq!(
            check(&[NODE_KEY], &delivery(&[ITEM_1])),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn one_wrong_item_refuses_the_delivery() {
        let changed = ITEM_2.replace(":slashes are fun", ":slashes are fun!");
        assert_eq!(
            check(&[KEY], &delivery(&[ITEM_1, changed.as_str(), ITEM_3])),
            Err(VerifyError::Mismatch)
        );
        // An item signed with another key.
        assert_eq!(
            check(&[KEY], &delivery(&[ITEM_1, NODE_ITEM])),
            Err(VerifyError::Mismatch)
        );
        for (from, to) in [
            (r#""value":1000"#, r#""value":1001"#),
            (r#""currency":"EUR""#, r#""currency":"USD""#),
            (r#""eventCode":"AUTHORISATION""#, r#""eventCode":"CAPTURE""#),
            (r#""success":"true""#, r#""success":"false""#),
            (r#""pspReference":"T7FD"#, r#""pspReference":"T7FE"#),
            (
                r#""merchantAccountCode":"AntoniStroinski""#,
                r#""merchantAccountCode":"Other""#,
            ),
            (r#""eventCode""#, r#""originalReference":"X","eventCode""#),
        ] {
            let changed = ITEM_1.replace(from, to);
            assert_ne!(changed, ITEM_1, "{from}");
            assert_eq!(
                check(&[KEY], &delivery(&[changed.as_str()])),
                Err(VerifyError::Mismatch),
                "{to}"
            );
        }
    }

    #[test]
    fn unsigned_fields_are_not_checked_but_the_replay_guard_sees_through_them() {
        let changed = ITEM_1.replace("076181:1111:03/2030", "changed");
        let original = delivery(&[ITEM_1]);
        let copy = delivery(&[changed.as_str()]);
        assert_eq!(check(&[KEY], &copy), Ok(()));
        let material = |body: &str| {
            adyen(&[KEY]).verify_replay(Signed {
                headers: &http::HeaderMap::new(),
                body: body.as_bytes(),
                now: 0,
                query: None,
            })
        };
        assert_eq!(material(&original), material(&copy));
        assert_ne!(material(&original), material(&delivery(&[ITEM_2])));
    }

    #[test]
    fn malformed_deliveries_and_signatures_are_refused() {
        let no_signature = ITEM_1.replace(
            r#""hmacSignature":"nIgT81gaB5oJpn2jPXupDq68iRo2wUlBsuYjtYfwKqo=""#,
            r#""other":"x""#,
        );
        let bad_base64 = ITEM_1.replace("nIgT81gaB5oJ", "nIgT81gaB5o!");
        let string_value = ITEM_1.replace(r#""value":1000"#, r#""value":"1000""#);
        let two_codes = ITEM_1.replace(
            r#""eventCode":"AUTHORISATION""#,
            r#""eventCode":"AUTHORISATION","eventCode":"CAPTURE""#,
        );
        for (body, error) in [
            (
                delivery(&[no_signature.as_str()]),
                VerifyError::MalformedField(SIGNATURE),
            ),
            (
                delivery(&[bad_base64.as_str()]),
                VerifyError::MalformedField(SIGNATURE),
            ),
            (
                delivery(&[string_value.as_str()]),
                VerifyError::MalformedField(ITEM),
            ),
            (
                delivery(&[two_codes.as_str()]),
                VerifyError::MalformedField(ITEM),
            ),
            (
                delivery(&[r#"["T7FD4VM4D3RZNN82"]"#]),
                VerifyError::MalformedField(ITEM),
            ),
            (delivery(&[]), VerifyError::MalformedField(ITEMS)),
            (
                r#"{"live":"false"}"#.to_owned(),
                VerifyError::MalformedField(ITEMS),
            ),
            (
                format!("[{}]", delivery(&[ITEM_1])),
                VerifyError::MalformedField(ITEMS),
            ),
            ("[accepted]".to_owned(), VerifyError::MalformedField(ITEMS)),
        ] {
            assert_eq!(check(&[KEY], &body), Err(error), "{body}");
        }
        for bad in ["not hex", "", "abc"] {
            assert!(
                Adyen::new(&[Secret::new(bad.as_bytes())]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn each_item_is_published_as_it_was_sent() {
        let body = Bytes::from(delivery(&[ITEM_1, ITEM_2, ITEM_3]));
        let events = adyen(&[KEY])
            .split(&body)
            .expect("a batch")
            .expect("splits");
        assert_eq!(
            events,
            vec![
                Bytes::from(ITEM_1),
                Bytes::from(ITEM_2),
                Bytes::from(ITEM_3)
            ]
        );
        let locate = |spec: &str, body: &[u8]| {
            crate::pipeline::locate::Locator::parse(spec)
                .expect("parses")
                .extract(&http::HeaderMap::new(), body)
                .expect("found")
                .as_str()
                .to_owned()
        };
        assert_eq!(
            locate(DEFAULTS.event_id, &events[0][..]),
            "nIgT81gaB5oJpn2jPXupDq68iRo2wUlBsuYjtYfwKqo="
        );
        assert_eq!(
            locate(DEFAULTS.event_type.expect("a type"), &events[1][..]),
            "AUTHORISATION"
        );
        let entity = DEFAULTS.partition_key.expect("an entity");
        assert_eq!(locate(entity, &events[2][..]), "X3GWNS6KJ8NKGK82");
        assert_eq!(locate(entity, NODE_ITEM.as_bytes()), "originalReference");
    }

    #[test]
    fn what_it_signs_verifies_and_reproduces_the_python_vector() {
        let example = std::str::from_utf8(PROVIDER.example_secret).expect("ascii");
        let item: Value = serde_json::from_str(PYTHON_ITEM).expect("json");
        let mut unsigned = item.clone();
        unsigned
            .as_object_mut()
            .expect("an object")
            .remove("additionalData");
        let body = sign(example.as_bytes(), unsigned.to_string().as_bytes()).expect("signs");
        let signed: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            signed.pointer(
                "/notificationItems/0/NotificationRequestItem/additionalData/hmacSignature"
            ),
            item.pointer("/additionalData/hmacSignature")
        );
        assert_eq!(
            check(&[example], std::str::from_utf8(&body).expect("utf-8")),
            Ok(())
        );
        // A whole delivery is signed item by item.
        let resigned = sign(KEY.as_bytes(), delivery(&[ITEM_1, ITEM_2]).as_bytes()).expect("signs");
        assert_eq!(
            check(&[KEY], std::str::from_utf8(&resigned).expect("utf-8")),
            Ok(())
        );
        assert!(sign(b"not hex", PYTHON_ITEM.as_bytes()).is_err());
    }
}
