//! Where a source finds an event's id (and, for routing, its type) in a
//! delivery: a header, a JSON pointer into the body, or the body's digest; and
//! the [`EventId`] it yields. Route, event and config all use it, and it uses
//! none of them.

use std::fmt;

use http::{HeaderMap, HeaderName};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

/// The longest event id accepted; provider ids are far shorter.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// A provider's id for one event: printable, non-empty, at most
/// [`MAX_EVENT_ID_LEN`] bytes. It keys deduplication and, by default, the Kafka record.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Box<str>);

impl EventId {
    /// Checks and wraps an id taken from a request.
    pub fn new(id: &str) -> Result<Self, &'static str> {
        if id.is_empty() {
            return Err("is empty");
        }
        if id.len() > MAX_EVENT_ID_LEN {
            return Err("is longer than 256 bytes");
        }
        if id.chars().any(char::is_control) {
            return Err("contains control characters");
        }
        Ok(Self(id.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a value of a delivery is found: a source's event id, or the event
/// type it routes by. Written in config as `header:NAME`, `json:/json/pointer`
/// or, for ids only, `body-sha256`, `header-sha256:NAME` or `jws-sha256:NAME`;
/// or several of these separated by `|`, tried in order
/// (`header:webhook-id | header:svix-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locator {
    Header(HeaderName),
    /// RFC 6901 pointer, already split into unescaped tokens.
    Json {
        pointer: String,
        tokens: Vec<String>,
    },
    /// The SHA-256 of the body, for providers that send no id: identical bodies
    /// are then the same event.
    BodySha256,
    /// The SHA-256 of a header's value, for providers whose only per-delivery
    /// value is too long to be an id.
    HeaderSha256(HeaderName),
    /// The SHA-256 of a header's compact JWS up to its last `.` (the signing
    /// input, `header.payload`), for providers whose only per-delivery value
    /// is a signed token (Plaid's). Not of the whole token: its signature can
    /// be written more than one way (an ECDSA signature's high-S twin) and
    /// each would be another id.
    JwsSha256(HeaderName),
    /// The first of these the delivery has: a provider that sends its id
    /// under one of two names.
    FirstOf(Vec<Locator>),
}

impl Locator {
    /// Parses the config syntax; the error says which forms are valid.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if spec.contains('|') {
            let choices = spec
                .split('|')
                .map(|choice| Self::parse_one(choice.trim()))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Self::FirstOf(choices));
        }
        Self::parse_one(spec)
    }

    fn parse_one(spec: &str) -> Result<Self, String> {
        if let Some(name) = spec.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("{name:?} is not a valid header name"));
        }
        if let Some(pointer) = spec.strip_prefix("json:") {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "JSON pointer {pointer:?} must start with '/', as in json:/id"
                ));
            }
            let tokens = pointer[1..]
                .split('/')
                .map(|token| token.replace("~1", "/").replace("~0", "~"))
                .collect();
            return Ok(Self::Json {
                pointer: pointer.to_owned(),
                tokens,
            });
        }
        if spec == "body-sha256" {
            return Ok(Self::BodySha256);
        }
        if let Some(name) = spec.strip_prefix("header-sha256:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::HeaderSha256)
                .map_err(|_| format!("{name:?} is not a valid header name"));
        }
        if let Some(name) = spec.strip_prefix("jws-sha256:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::JwsSha256)
                .map_err(|_| format!("{name:?} is not a valid header name"));
        }
        Err(format!(
            "{spec:?} is not an event id source: use header:NAME, json:/pointer, body-sha256, header-sha256:NAME or jws-sha256:NAME (or several, separated by |)"
        ))
    }

    /// Finds the value in a verified request.
    pub fn extract(&self, headers: &HeaderMap, body: &[u8]) -> Result<EventId, LocateError> {
        match self {
            Self::Header(name) => {
                let value = headers
                    .get(name)
                    .ok_or_else(|| LocateError::Missing(format!("header {name}")))?;
                let text = value.to_str().map_err(|_| {
                    LocateError::Invalid(format!("header {name}"), "is not visible ASCII")
                })?;
                EventId::new(text)
                    .map_err(|why| LocateError::Invalid(format!("header {name}"), why))
            }
            Self::Json { pointer, tokens } => {
                let mut deserializer = serde_json::Deserializer::from_slice(body);
                let found = Pointer { tokens }
                    .deserialize(&mut deserializer)
                    .and_then(|found| deserializer.end().map(|()| found))
                    .map_err(|err| LocateError::MalformedJson(err.to_string()))?;
                let location = || format!("JSON field {pointer}");
                match found {
                    Some(Found::Text(text)) => {
                        EventId::new(&text).map_err(|why| LocateError::Invalid(location(), why))
                    }
                    Some(Found::NotScalar) => Err(LocateError::Invalid(
                        location(),
                        "is not a string or number",
                    )),
                    None => Err(LocateError::Missing(location())),
                }
            }
            Self::BodySha256 => Ok(EventId(hex::encode(Sha256::digest(body)).into())),
            Self::HeaderSha256(name) => headers
                .get(name)
                .map(|value| EventId(hex::encode(Sha256::digest(value.as_bytes())).into()))
                .ok_or_else(|| LocateError::Missing(format!("header {name}"))),
            Self::JwsSha256(name) => {
                let value = headers
                    .get(name)
                    .ok_or_else(|| LocateError::Missing(format!("header {name}")))?;
                let token = value.as_bytes();
                let last_dot = token.iter().rposition(|&b| b == b'.').ok_or_else(|| {
                    LocateError::Invalid(format!("header {name}"), "is not a compact JWS")
                })?;
                let signing_input = &token[..last_dot];
                Ok(EventId(hex::encode(Sha256::digest(signing_input)).into()))
            }
            Self::FirstOf(choices) => {
                let mut looked = Vec::new();
                for choice in choices {
                    match choice.extract(headers, body) {
                        Err(LocateError::Missing(at)) => looked.push(at),
                        found => return found,
                    }
                }
                Err(LocateError::Missing(looked.join(" or ")))
            }
        }
    }
}

impl std::str::FromStr for Locator {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        Self::parse(spec)
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Json { pointer, .. } => write!(f, "json:{pointer}"),
            Self::BodySha256 => f.write_str("body-sha256"),
            Self::HeaderSha256(name) => write!(f, "header-sha256:{name}"),
            Self::JwsSha256(name) => write!(f, "jws-sha256:{name}"),
            Self::FirstOf(choices) => {
                for (i, choice) in choices.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{choice}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why a value could not be taken from a request; as an event id, each is
/// answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("missing: expected it in {0}")]
    Missing(String),
    #[error("the value in {0} {1}")]
    Invalid(String, &'static str),
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
}

impl LocateError {
    /// The error as a sentence about `what` was looked for ("event id",
    /// "event type").
    pub fn describe(&self, what: &str) -> String {
        match self {
            Self::Missing(at) => format!("{what} missing: expected it in {at}"),
            Self::Invalid(at, why) => format!("{what} in {at} {why}"),
            Self::MalformedJson(err) => {
                format!("body is not valid JSON, so the {what} cannot be read: {err}")
            }
        }
    }
}

enum Found {
    Text(String),
    NotScalar,
}

/// Walks a JSON document along a pointer, skipping every other value without
/// building it, so finding `/id` in a large body allocates only the id.
struct Pointer<'p> {
    tokens: &'p [String],
}

impl<'de> DeserializeSeed<'de> for Pointer<'_> {
    type Value = Option<Found>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        match self.tokens.split_first() {
            None => deserializer.deserialize_any(Leaf),
            Some((token, rest)) => deserializer.deserialize_any(Step { token, rest }),
        }
    }
}

struct Step<'p> {
    token: &'p str,
    rest: &'p [String],
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<Found>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_match) = map.next_key_seed(KeyIs(self.token))? {
            if is_match && found.is_none() {
                found = map.next_value_seed(Pointer { tokens: self.rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wanted: Option<usize> = self.token.parse().ok();
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(Pointer { tokens: self.rest })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    // Scalars have no children: the pointer leads nowhere.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

struct Leaf;

impl<'de> Visitor<'de> for Leaf {
    type Value = Option<Found>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Found::Text(v.to_owned())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Found::Text(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Found::Text(v.to_string())))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some(Found::NotScalar))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some(Found::NotScalar))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Some(Found::NotScalar))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(Found::NotScalar))
    }
}

/// Compares an object key with a pointer token without allocating it.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    trait Reason {
        fn reason(self) -> &'static str;
    }

    impl Reason for LocateError {
        /// Through the one mapping the gateway uses.
        fn reason(self) -> &'static str {
            crate::pipeline::answer::Rejection::from(self)
                .reason
                .as_str()
        }
    }

    fn from_json(pointer: &str, body: &str) -> Result<EventId, LocateError> {
        Locator::parse(&format!("json:{pointer}"))
            .expect("valid")
            .extract(&HeaderMap::new(), body.as_bytes())
    }

    #[test]
    fn finds_ids_along_json_pointers() {
        assert_eq!(
            from_json("/id", r#"{"object":"event","id":"evt_1"}"#)
                .expect("id")
                .as_str(),
            "evt_1"
        );
        let nested = r#"{"a":[1,{"x":2},{"b~c/d":{"id":42}}],"id":"top"}"#;
        assert_eq!(
            from_json("/a/2/b~0c~1d/id", nested).expect("id").as_str(),
            "42"
        );
        assert_eq!(
            from_json("/id", r#"{"id":"a\"b"}"#).expect("id").as_str(),
            "a\"b"
        );
    }

    #[test]
    fn missing_invalid_and_malformed_are_told_apart() {
        assert_eq!(
            from_json("/event_id", r#"{"type":"x"}"#),
            Err(LocateError::Missing("JSON field /event_id".into()))
        );
        assert_eq!(
            from_json("/id", r#"{"id":null}"#).unwrap_err().reason(),
            "missing_event_id"
        );
        assert_eq!(
            from_json("/id", r#"{"id":{"k":1}}"#).unwrap_err().reason(),
            "invalid_event_id"
        );
        assert_eq!(
            from_json("/id", r#"{"id":""}"#).unwrap_err().reason(),
            "invalid_event_id"
        );
        assert_eq!(
            from_json("/id", r#"{"id":"a"} trailing"#)
                .unwrap_err()
                .reason(),
            "malformed_body"
        );
        assert_eq!(
            from_json("/id", "token=abc&x=1").unwrap_err().reason(),
            "malformed_body"
        );
        assert_eq!(
            from_json("/id", r#"{"id":"a","#).unwrap_err().reason(),
            "malformed_body"
        );
    }

    #[test]
    fn header_ids_are_checked() {
        let source = Locator::parse("header:X-GitHub-Delivery").expect("valid");
        let id = source
            .extract(
                &headers(&[("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")]),
                b"",
            )
            .expect("id");
        assert_eq!(id.as_str(), "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(
            source
                .extract(&HeaderMap::new(), b"")
                .unwrap_err()
                .describe("event id"),
            "event id missing: expected it in header x-github-delivery"
        );
        let long = "x".repeat(MAX_EVENT_ID_LEN + 1);
        assert_eq!(
            source
                .extract(&headers(&[("x-github-delivery", &long)]), b"")
                .unwrap_err()
                .reason(),
            "invalid_event_id"
        );
    }

    #[test]
    fn a_header_hash_id_is_the_digest_of_the_header() {
        let source = Locator::parse("header-sha256:Plaid-Verification").expect("valid");
        let id = source
            .extract(&headers(&[("plaid-verification", "abc")]), b"body")
            .expect("id");
        assert_eq!(
            id.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(source.extract(&HeaderMap::new(), b"body").is_err());
    }

    #[test]
    fn a_jws_hash_id_is_the_digest_of_its_signing_input_whatever_its_signature() {
        let source = Locator::parse("jws-sha256:Plaid-Verification").expect("valid");
        let id = |token: &str| source.extract(&headers(&[("plaid-verification", token)]), b"");
        // `printf abc | sha256sum`
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(id("abc.sig-one").expect("id").as_str(), abc);
        assert_eq!(id("abc.sig-two").expect("id").as_str(), abc);
        // `printf a.b | sha256sum`: up to the last dot, the header and payload.
        assert_eq!(
            id("a.b.c").expect("id").as_str(),
            "2e7336dc8eba87ef472df568c35482abf2575dc3e5eac0c5c62b8ffaeac2c934"
        );
        assert_eq!(id("no dots").unwrap_err().reason(), "invalid_event_id");
        assert_eq!(
            source.extract(&HeaderMap::new(), b"").unwrap_err().reason(),
            "missing_event_id"
        );
    }

    #[test]
    fn body_hash_ids_are_stable() {
        let id = Locator::BodySha256
            .extract(&HeaderMap::new(), b"abc")
            .expect("id");
        assert_eq!(
            id.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_config_syntax_is_checked() {
        assert!(Locator::parse("json:id").is_err());
        assert!(Locator::parse("header:bad header").is_err());
        assert!(
            Locator::parse("query:id")
                .unwrap_err()
                .contains("header:NAME")
        );
        for spec in [
            "header:x-id",
            "json:/data/id",
            "body-sha256",
            "header-sha256:plaid-verification",
            "jws-sha256:plaid-verification",
            "header:webhook-id | header:svix-id",
        ] {
            assert_eq!(Locator::parse(spec).expect("valid").to_string(), spec);
        }
        assert!(Locator::parse("header:x-id | query:id").is_err());
    }

    #[test]
    fn the_first_of_several_places_that_the_delivery_has_is_used() {
        let source = Locator::parse("header:webhook-id|header:svix-id").expect("valid");
        let id = |pairs: &[(&str, &str)]| source.extract(&headers(pairs), b"");
        assert_eq!(id(&[("svix-id", "msg_1")]).expect("id").as_str(), "msg_1");
        assert_eq!(
            id(&[("svix-id", "msg_1"), ("webhook-id", "msg_2")])
                .expect("id")
                .as_str(),
            "msg_2"
        );
        assert_eq!(
            id(&[]).unwrap_err().describe("event id"),
            "event id missing: expected it in header webhook-id or header svix-id"
        );
        // A value that is there but invalid is not passed over.
        assert_eq!(
            id(&[("webhook-id", ""), ("svix-id", "msg_1")])
                .unwrap_err()
                .reason(),
            "invalid_event_id"
        );
    }
}
