//! Persona: `Persona-Signature: t=<unix seconds>,v1=<hex>`, HMAC-SHA256 of
//! `{t}.{body}` keyed by the webhook's secret as it is written (`wbhsec_…`).
//! While a webhook's secret is being rotated the header holds two such
//! sets, separated by a space (`t=…,v1=… t=…,v1=…`), each with its own
//! timestamp: a delivery passes when a set's signature matches one of the
//! source's secrets and that set's timestamp is within tolerance. Persona
//! documents no tolerance, so hookgate's default applies, in both directions.
//!
//! The body is a JSON:API document: the event's id is `data.id` (`evt_…`),
//! its name `data.attributes.name` (`inquiry.completed`), and the object it
//! is about `data.attributes.payload.data`; all of it is signed.
//!
//! Source: https://docs.withpersona.com/docs/webhooks-best-practices
//! ("Checking signatures", rotation included).

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Candidates, Encoding, Keys, MAX_CANDIDATES, Signature};
use crate::verify::{Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp};

const SIGNATURE: &str = "Persona-Signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/data/id",
    event_type: Some("json:/data/attributes/name"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    // The inquiry, verification or account the event is about.
    partition_key: Some("json:/data/attributes/payload/data/id"),
};

#[derive(Debug)]
pub(super) struct Persona {
    keys: Keys,
    tolerance: u64,
    signature: SchemeHeader,
}

impl Persona {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Self {
        Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
        }
    }
}

/// One `t=…,v1=…` set of the header.
struct Set<'a> {
    timestamp: &'a [u8],
    signatures: Candidates,
}

/// The header's sets: each `t=` opens one and the `v1=` after it belong to
/// it; items are separated by commas or spaces, and other keys are ignored.
/// A `v1=` before any `t=`, a set without a signature, a signature that is not
/// hex, or more sets than a rotation makes, is malformed.
fn parse(value: &[u8]) -> Result<Vec<Set<'_>>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE);
    let mut sets: Vec<Set<'_>> = Vec::new();
    for item in value
        .split(|&b| b == b',' || b == b' ')
        .filter(|item| !item.is_empty())
    {
        if let Some(timestamp) = item.strip_prefix(b"t=") {
            if sets.len() == MAX_CANDIDATES {
                return Err(malformed);
            }
            sets.push(Set {
                timestamp,
                signatures: Candidates::new(),
            });
        } else if let Some(signature) = item.strip_prefix(b"v1=") {
            let set = sets.last_mut().ok_or(malformed)?;
            set.signatures
                .push(Signature::decode(signature, Encoding::Hex).ok_or(malformed)?);
        }
    }
    if sets.is_empty() || sets.iter().any(|set| set.signatures.is_empty()) {
        return Err(malformed);
    }
    Ok(sets)
}

impl crate::verify::Scheme for Persona {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let sets = parse(self.signature.required(request.headers)?)?;
        let mut stale = false;
        for set in &sets {
            match check_timestamp(set.timestamp, request.now, self.tolerance, SIGNATURE) {
                Ok(()) => {}
                Err(VerifyError::StaleTimestamp) => {
                    stale = true;
                    continue;
                }
                Err(other) => return Err(other),
            }
            if self
                .keys
                .verify(&[set.timestamp, b".", request.body], &set.signatures)
            {
                return Ok(());
            }
        }
        // No fresh set matched: stale is the answer when a set was too old
        // to be tried.
        Err(if stale {
            VerifyError::StaleTimestamp
        } else {
            VerifyError::Mismatch
        })
    }
}

/// The header Persona sends for `body` at `now`.
pub(super) fn sign(secret: &[u8], body: &[u8], now: i64) -> Vec<(String, String)> {
    let timestamp = now.to_string();
    let mac = crate::verify::mac::sign(Algorithm::Sha256, secret, &[timestamp.as_bytes(), b".", body]);
    vec![(
        SIGNATURE.into(),
        format!("t={timestamp},v1={}", hex::encode(mac)),
    )]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Persona::new(input.secrets, input.tolerance))),
    |input| input.with_headers(sign(input.secret, input.payload, input.now)),
)
.with_example_secret(b"wbhsec_6b7b0a1e-5c1f-4d2a-9e8f-3a2b1c0d9e8f")
.with_sample(|id, _now| {
    serde_json::json!({
        "data": {
            "type": "event",
            "id": id,
            "attributes": {
                "name": "inquiry.completed",
                "payload": {
                    "data": {
                        "type": "inquiry",
                        "id": "inq_2CVZ4HYVgD7Crpqa4ZcnxWAQ",
                        "attributes": { "status": "completed", "reference-id": "user-123" }
                    }
                },
                "created-at": "2023-11-14T22:13:20.000Z"
            }
        }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    const CURRENT: &[u8] = b"wbhsec_current";
    const PREVIOUS: &[u8] = b"wbhsec_previous";
    const BODY: &[u8] = br#"{"data":{"type":"event","id":"evt_XGuYWp7WiUaC9xGxEGJ6ei4C","attributes":{"name":"inquiry.completed","payload":{"data":{"type":"inquiry","id":"inq_2CVZ4HYVgD7Crpqa4ZcnxWAQ","attributes":{"status":"completed"}}},"created-at":"2023-11-14T22:13:19.000Z"}}}"#;
    const NOW: i64 = 1_700_000_000;
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac wbhsec_current`
    const V1_CURRENT: &str = "12d7aa0fb840a50b14e1bf70552346f7dc08b899b10f528cde428edf855bdfe4";
    /// `printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac wbhsec_previous`
    const V1_PREVIOUS: &str = "a1c092256443bac392d9ed1944aecd7781bfd9ba1e47149aeee450399a1ce208";

    fn check(secrets: &[&[u8]], header: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        run(&Persona::new(&secrets, 300), &[(SIGNATURE, header)], body, now)
    }

    #[test]
    fn accepts_the_vector_under_any_configured_secret() {
        let header = format!("t={NOW},v1={V1_CURRENT}");
        assert_eq!(check(&[CURRENT], &header, BODY, NOW), Ok(()));
        assert_eq!(check(&[PREVIOUS, CURRENT], &header, BODY, NOW + 300), Ok(()));
    }

    #[test]
    fn while_rotating_either_set_may_match() {
        let both = format!("t={NOW},v1={V1_CURRENT} t={NOW},v1={V1_PREVIOUS}");
        assert_eq!(check(&[CURRENT], &both, BODY, NOW), Ok(()));
        assert_eq!(check(&[PREVIOUS], &both, BODY, NOW), Ok(()));
        assert_eq!(
            check(&[b"wbhsec_other".as_slice()], &both, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        // A set is judged by its own timestamp: the previous secret's set
        // here is stale, the current one's is not.
        let old = NOW - 1000;
        let previous_then = hex::encode(crate::verify::mac::sign(
            Algorithm::Sha256,
            PREVIOUS,
            &[old.to_string().as_bytes(), b".", BODY],
        ));
        let mixed = format!("t={old},v1={previous_then} t={NOW},v1={V1_CURRENT}");
        assert_eq!(check(&[CURRENT], &mixed, BODY, NOW), Ok(()));
        assert_eq!(
            check(&[PREVIOUS], &mixed, BODY, NOW),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&[PREVIOUS], &mixed, BODY, old), Ok(()));
    }

    #[test]
    fn rejects_late_tampered_and_malformed_deliveries() {
        let header = format!("t={NOW},v1={V1_CURRENT}");
        assert_eq!(
            check(&[CURRENT], &header, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(check(&[CURRENT], &header, b"{}", NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&[CURRENT], &format!("t={},v1={V1_CURRENT}", NOW + 1), BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        for bad in [
            format!("v1={V1_CURRENT}"),
            format!("v1={V1_CURRENT} t={NOW}"),
            format!("t={NOW}"),
            format!("t={NOW},v1=xyz"),
            format!("t=soon,v1={V1_CURRENT}"),
            format!("t={NOW},v1={V1_CURRENT} t={NOW}"),
            format!("t={NOW},v1={V1_CURRENT} ").repeat(MAX_CANDIDATES + 1),
            String::new(),
        ] {
            assert_eq!(
                check(&[CURRENT], &bad, BODY, NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad}"
            );
        }
        assert_eq!(
            run(&Persona::new(&[Secret::new(CURRENT)], 300), &[], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn what_it_signs_verifies() {
        assert_eq!(
            sign(CURRENT, BODY, NOW),
            vec![(SIGNATURE.to_owned(), format!("t={NOW},v1={V1_CURRENT}"))]
        );
    }
}
