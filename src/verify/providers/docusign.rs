//! Docusign Connect (HMAC security): `X-DocuSign-Signature-1: <base64>`,
//! HMAC-SHA256 of the whole body keyed by a Connect HMAC key. Connect sends
//! one numbered header per key the account has active (`X-DocuSign-Signature-1`,
//! `-2`, …); a delivery passes when any of them matches any of the source's
//! secrets, so keys can be added and removed on either side without a gap.
//! Nothing is timestamped.
//!
//! Connect's JSON messages (`event`, `generatedDateTime`, `data.envelopeId`,
//! …) carry no event id, so the body's SHA-256 stands for one; the body is
//! signed, so a copy under a new id is a changed body and fails.
//!
//! Source: https://developers.docusign.com/platform/webhooks/connect/validate/
//! (the whole body, base64, one `x-docusign-signature` header per key), with
//! the message shape at
//! https://developers.docusign.com/platform/webhooks/connect/json-sim-event-model/

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Candidates, Encoding, Keys, MAX_CANDIDATES, Signature};
use crate::verify::{Defaults, Provider, Signed, VerifyError, verdict};

/// The header Connect always sends, for the first key.
const FIRST: &str = "X-DocuSign-Signature-1";
/// How the numbered headers are named in messages.
const NUMBERED: &str = "X-DocuSign-Signature-<n>";
/// Their lower-case prefix, before the number.
const PREFIX: &str = "x-docusign-signature-";
/// Signature headers one request may carry, at most: far more keys than an
/// account keeps active; more is refused rather than hashed.
const MAX_SIGNATURES: usize = 100;

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    // `envelope-sent`, `recipient-completed`, …
    event_type: Some("json:/event"),
    forward_headers: &[],
    timestamped: false,
    // The id is the digest of the signed body.
    replay_guard: false,
    tolerance: None,
    // The envelope the event is about.
    partition_key: Some("json:/data/envelopeId"),
};

#[derive(Debug)]
pub(super) struct DocuSign {
    keys: Keys,
}

impl DocuSign {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
        }
    }
}

/// Every `X-DocuSign-Signature-<n>` of a request, decoded. One that does not
/// decode, or comes twice, makes the request malformed.
fn signatures(headers: &http::HeaderMap) -> Result<Vec<Signature>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(NUMBERED);
    let mut found = Vec::new();
    for name in headers.keys() {
        let Some(number) = name.as_str().strip_prefix(PREFIX) else {
            continue;
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let mut values = headers.get_all(name).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(malformed);
        };
        if found.len() == MAX_SIGNATURES {
            return Err(malformed);
        }
        found.push(Signature::decode(value.as_bytes(), Encoding::Base64).ok_or(malformed)?);
    }
    if found.is_empty() {
        return Err(VerifyError::MissingHeader(FIRST));
    }
    Ok(found)
}

impl crate::verify::Scheme for DocuSign {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signatures = signatures(request.headers)?;
        // Compared as candidates, in constant time, a batch at a time: the
        // body is hashed once per key and batch, and an account rarely has
        // more keys than one batch holds.
        let matched = signatures.chunks(MAX_CANDIDATES).any(|batch| {
            let mut candidates = Candidates::new();
            batch.iter().for_each(|signature| candidates.push(*signature));
            self.keys.verify(&[request.body], &candidates)
        });
        verdict(matched)
    }
}

/// The header Connect sends for `body` under one key.
pub(super) fn sign(secret: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[body]);
    vec![(FIRST.into(), Encoding::Base64.encode(&mac))]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(DocuSign::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "event": "envelope-completed",
        "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/9777bc04-36c8-4382-b4f4-e9103ae0a500/envelopes/{id}"),
        "retryCount": 0,
        "configurationId": 10558742,
        "generatedDateTime": "2023-11-14T22:13:20.1234567Z",
        "data": {
            "accountId": "9777bc04-36c8-4382-b4f4-e9103ae0a500",
            "userId": "4b9f7e3a-e628-4427-8e46-3313b9141502",
            "envelopeId": id
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const KEY_1: &[u8] = b"docusign-connect-key-1";
    const KEY_2: &[u8] = b"docusign-connect-key-2";
    const BODY: &[u8] = br#"{"event":"envelope-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/9777bc04-36c8-4382-b4f4-e9103ae0a500/envelopes/9fb1e191-fbb0-4de7-b122-9116c49a2ad2","retryCount":0,"configurationId":10558742,"generatedDateTime":"2023-11-14T22:13:20.1234567Z","data":{"accountId":"9777bc04-36c8-4382-b4f4-e9103ae0a500","userId":"4b9f7e3a-e628-4427-8e46-3313b9141502","envelopeId":"9fb1e191-fbb0-4de7-b122-9116c49a2ad2"}}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac docusign-connect-key-1 -binary | base64`
    const SIG_1: &str = "nzysILAEX3rZCYm1sr6CFxaPCQf/UVMtW+b5jgpnL64=";
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac docusign-connect-key-2 -binary | base64`
    const SIG_2: &str = "xBWA/eOrYnjV163vRmroxI+u8LNEDUTqNm41RruAbWg=";
    const SECOND: &str = "X-DocuSign-Signature-2";

    fn check(keys: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = keys.iter().map(|key| Secret::new(*key)).collect();
        run(&DocuSign::new(&secrets), pairs, body, 0)
    }

    #[test]
    fn accepts_any_numbered_signature_under_any_key() {
        assert_eq!(check(&[KEY_1], &[(FIRST, SIG_1)], BODY), Ok(()));
        let both = [(FIRST, SIG_1), (SECOND, SIG_2)];
        assert_eq!(check(&[KEY_1], &both, BODY), Ok(()));
        // The first key removed at Docusign's end and from the source.
        assert_eq!(check(&[KEY_2], &both, BODY), Ok(()));
        assert_eq!(check(&[b"retired-key".as_slice(), KEY_2], &both, BODY), Ok(()));
        // The numbers follow Docusign's key order, not ours.
        assert_eq!(
            check(&[KEY_2], &[(FIRST, SIG_1), ("X-DocuSign-Signature-7", SIG_2)], BODY),
            Ok(())
        );
    }

    #[test]
    fn a_match_beyond_the_first_batch_of_candidates_is_found() {
        let junk = Encoding::Base64.encode(&[7u8; 32]);
        let names: Vec<String> = (1..=12).map(|n| format!("X-DocuSign-Signature-{n}")).collect();
        let mut pairs: Vec<(&str, &str)> = names[..11]
            .iter()
            .map(|name| (name.as_str(), junk.as_str()))
            .collect();
        pairs.push((names[11].as_str(), SIG_2));
        assert_eq!(check(&[KEY_2], &pairs, BODY), Ok(()));
    }

    #[test]
    fn rejects_tampering_other_keys_and_bad_headers() {
        assert_eq!(check(&[KEY_1], &[(FIRST, SIG_1)], b"{}"), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[b"another-key".as_slice()], &[(FIRST, SIG_1), (SECOND, SIG_2)], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[KEY_1], &[(FIRST, &SIG_1[..SIG_1.len() - 4])], BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check(&[KEY_1], &[], BODY), Err(VerifyError::MissingHeader(FIRST)));
        // Other headers that share the prefix are not signatures.
        assert_eq!(
            check(&[KEY_1], &[("X-DocuSign-Signature-Alg", SIG_1)], BODY),
            Err(VerifyError::MissingHeader(FIRST))
        );
        for bad in [
            &[(FIRST, "%%%")][..],
            &[(FIRST, "")],
            &[(FIRST, SIG_1), (SECOND, "not base64!")],
            &[(FIRST, SIG_1), (FIRST, SIG_2)],
        ] {
            assert_eq!(
                check(&[KEY_1], bad, BODY),
                Err(VerifyError::MalformedHeader(NUMBERED)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn more_signature_headers_than_any_account_has_keys_are_refused() {
        let names: Vec<String> = (1..=MAX_SIGNATURES + 1)
            .map(|n| format!("X-DocuSign-Signature-{n}"))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), SIG_1)).collect();
        assert_eq!(
            check(&[KEY_1], &pairs, BODY),
            Err(VerifyError::MalformedHeader(NUMBERED))
        );
    }

    #[test]
    fn signing_makes_the_first_header() {
        assert_eq!(sign(KEY_1, BODY), vec![(FIRST.to_owned(), SIG_1.to_owned())]);
    }
}
