//! Xero: `x-xero-signature: <base64>`, HMAC-SHA256 of the body keyed by the
//! app's webhooks key. Nothing is timestamped. "Intent to receive": when a
//! subscription is created or its URL changes, Xero posts payloads with
//! `"events": []`, some correctly signed and some not, and requires 200 (with
//! no body) for the first and 401 for the second. Verification answers the
//! second; a verified payload with no events is answered empty and never
//! published. Xero sends no event id (every payload carries a random
//! `entropy`), so the body's SHA-256 stands for one.
//! Source: https://developer.xero.com/documentation/webhooks/configuring-your-server

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Defaults, Handshake, Provider};
// For the inner check's `verify`, a method of the trait.
use crate::config::secret::Secret;

const SIGNATURE: &str = "x-xero-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/events/0/eventType"),
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
    encoding: Encoding::Base64,
};

#[derive(Deserialize)]
struct Payload {
    events: Vec<IgnoredAny>,
}

/// Xero's intent-to-receive check: a verified payload whose `events` is an
/// empty array. Only bodies that mention `events` are parsed.
pub(super) fn handshake(body: &[u8]) -> Option<Handshake> {
    if !crate::verify::mentions(body, b"\"events\"") {
        return None;
    }
    let payload: Payload = serde_json::from_slice(body).ok()?;
    payload
        .events
        .is_empty()
        .then(|| Handshake::empty("intent_to_receive"))
}

pub(super) fn scheme(secrets: &[Secret]) -> HeaderSignature {
    SHAPE.scheme(secrets)
}

pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    vec![SHAPE.sign(secret, &[body])]
}

/// Xero's check: the signature, and the intent-to-receive handshake.
#[derive(Debug)]
struct Xero(HeaderSignature);

impl crate::verify::Scheme for Xero {
    fn verify(&self, request: crate::verify::Signed<'_>) -> Result<(), crate::verify::VerifyError> {
        self.0.verify(request)
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        handshake(body)
    }
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Xero(scheme(input.secrets)))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "events": [{
            "resourceUrl": format!("https://api.xero.com/api.xro/2.0/Contacts/{id}"),
            "resourceId": id,
            "eventDateUtc": "2023-11-14T22:13:20.000",
            "eventType": "UPDATE",
            "eventCategory": "CONTACT",
            "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
            "tenantType": "ORGANISATION"
        }],
        "firstEventSequence": 1,
        "lastEventSequence": 1,
        "entropy": id
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;
    use crate::verify::{Reply, Scheme as _, VerifyError};

    const KEY: &[u8] = b"xero-webhooks-key";
    /// An intent-to-receive payload as Xero's documentation shows it.
    const ITR: &[u8] =
        br#"{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}"#;
    /// `printf '%s' "$ITR" | openssl dgst -sha256 -hmac xero-webhooks-key -binary | base64`
    const ITR_SIG: &str = "6w0ci/vmVUXkSg4rG0tKcJiagYRDCV9xjOXqZv5I0jw=";
    const EVENT: &[u8] = br#"{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2023-11-14T22:13:20.000","eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f","tenantType":"ORGANISATION"}],"firstEventSequence":1,"lastEventSequence":1,"entropy":"YSXCMKAQBJOEMGUZEPFZ"}"#;
    /// `printf '%s' "$EVENT" | openssl dgst -sha256 -hmac xero-webhooks-key -binary | base64`
    const EVENT_SIG: &str = "npIEAGry5dcbitFVTVd/CMTqh8CaQY0FCU9mYmfwRdA=";

    fn xero(keys: &[&[u8]]) -> Xero {
        let secrets: Vec<Secret> = keys.iter().map(|key| Secret::new(*key)).collect();
        Xero(scheme(&secrets))
    }

    fn check(signature: &str, body: &[u8]) -> Result<(), VerifyError> {
        run(&xero(&[KEY]), &[(SIGNATURE, signature)], body, 0)
    }

    #[test]
    fn accepts_the_vectors() {
        assert_eq!(check(ITR_SIG, ITR), Ok(()));
        assert_eq!(check(EVENT_SIG, EVENT), Ok(()));
    }

    #[test]
    fn answers_a_verified_intent_to_receive_and_nothing_else() {
        assert_eq!(
            xero(&[KEY]).handshake(ITR).map(|h| (h.kind, h.reply)),
            Some(("intent_to_receive", Reply::Empty))
        );
        assert!(handshake(EVENT).is_none());
        assert!(handshake(br#"{"entropy":"x"}"#).is_none());
        assert!(handshake(br#"{"events":{}}"#).is_none());
        assert!(handshake(br#"{"events":[]"#).is_none());
        assert!(handshake(b"not json, \"events\"").is_none());
    }

    #[test]
    fn rejects_incorrectly_signed_payloads_with_401_reasons() {
        // What Xero's incorrectly signed intent-to-receive posts look like.
        assert_eq!(check(EVENT_SIG, ITR), Err(VerifyError::Mismatch));
        assert_eq!(check(ITR_SIG, &ITR[1..]), Err(VerifyError::Mismatch));
        assert_eq!(
            run(
                &xero(&[b"another-key".as_slice()]),
                &[(SIGNATURE, ITR_SIG)],
                ITR,
                0
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check("not base64!", ITR),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            run(&xero(&[KEY]), &[], ITR, 0),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn the_vector_holds_and_everything_else_is_refused() {
        crate::verify::test_support::header_hmac_vector(&SHAPE, KEY, EVENT, EVENT_SIG);
    }
}
