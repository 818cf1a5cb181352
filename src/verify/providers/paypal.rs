//! PayPal: `PAYPAL-TRANSMISSION-SIG` is RSASSA-PKCS1-v1_5 with SHA-256
//! (`PAYPAL-AUTH-ALGO: SHA256withRSA`, the only algorithm PayPal uses) over
//! `{PAYPAL-TRANSMISSION-ID}|{PAYPAL-TRANSMISSION-TIME}|{webhook id}|{crc32}`,
//! the CRC-32 of the body as an unsigned decimal. The key is the certificate
//! at `PAYPAL-CERT-URL`, fetched only over https from PayPal's API hosts
//! (`api.paypal.com`, `api-m.paypal.com` and their sandboxes, path
//! `/v1/notifications/certs/`) or pinned by the source. The source's secrets
//! are its webhook ids (from the Developer Dashboard): a delivery signed for
//! another webhook does not verify.
//!
//! PayPal signs the body only through its CRC-32, which anyone can match with
//! a body of their own: whoever captured a delivery could send another body
//! under its headers. The replay guard is on and remembers the signed string,
//! so such a copy is a duplicate for the dedup window; and the signed
//! transmission time must be within 72 hours (PayPal retries for 3 days), so
//! that captured headers expire with the default window.
//!
//! Source: <https://developer.paypal.com/api/rest/webhooks/rest/>,
//! PayPal's SDKs' `WebhookEvent.verify` (paypalrestsdk, rest-api-sdk-java)

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::verify::certificates::{Certificates, Hash, Unavailable, UrlRule};
use crate::verify::{
    Defaults, Provider, ReplayMaterial, SchemeHeader, Signed, SignedDelivery, VerifyError,
};

const TRANSMISSION_ID: &str = "PAYPAL-TRANSMISSION-ID";
const TRANSMISSION_TIME: &str = "PAYPAL-TRANSMISSION-TIME";
const SIGNATURE: &str = "PAYPAL-TRANSMISSION-SIG";
const CERT_URL: &str = "PAYPAL-CERT-URL";
const AUTH_ALGO: &str = "PAYPAL-AUTH-ALGO";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/event_type"),
    forward_headers: &[TRANSMISSION_ID, TRANSMISSION_TIME],
    timestamped: true,
    // The body is signed only through a CRC: see above.
    replay_guard: true,
    tolerance: Some(Duration::from_secs(72 * 3600)),
    // The capture, order or subscription the event is about.
    partition_key: Some("json:/resource/id"),
};

/// PayPal's live and sandbox API hosts.
pub(crate) const CERTIFICATES: UrlRule = UrlRule {
    host: |host| {
        matches!(
            host,
            "api.paypal.com" | "api-m.paypal.com" | "api.sandbox.paypal.com" | "api-m.sandbox.paypal.com"
        )
    },
    path: |path| {
        path.strip_prefix("/v1/notifications/certs/CERT-")
            .is_some_and(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    },
};

#[derive(Debug)]
pub(super) struct PayPal {
    /// The webhook ids this source takes deliveries for.
    webhook_ids: Vec<Box<[u8]>>,
    certificates: Certificates,
    headers: [SchemeHeader; 5],
    /// Seconds the transmission time may be from now.
    tolerance: u64,
}

impl PayPal {
    /// What PayPal signed for `webhook_id`: `id|time|webhook_id|crc32`.
    fn signed(id: &[u8], time: &[u8], webhook_id: &[u8], body: &[u8]) -> Vec<u8> {
        let crc = crc32fast::hash(body).to_string();
        [id, b"|", time, b"|", webhook_id, b"|", crc.as_bytes()].concat()
    }
}

impl crate::verify::Scheme for PayPal {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.verify_replay(request).map(|_| ())
    }

    fn verify_replay(&self, request: Signed<'_>) -> Result<ReplayMaterial, VerifyError> {
        let [id, time, signature, url, algorithm] =
            self.headers.each_ref().map(|header| header.required(request.headers));
        let (id, time, signature, url) = (id?, time?, signature?, url?);
        if algorithm? != b"SHA256withRSA" {
            return Err(VerifyError::MalformedHeader(AUTH_ALGO));
        }
        let sent = std::str::from_utf8(time)
            .ok()
            .and_then(|time| {
                time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .ok_or(VerifyError::MalformedHeader(TRANSMISSION_TIME))?;
        if sent.unix_timestamp().abs_diff(request.now) > self.tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| VerifyError::MalformedHeader(SIGNATURE))?;
        let url = std::str::from_utf8(url).map_err(|_| VerifyError::MalformedHeader(CERT_URL))?;
        let keys = self
            .certificates
            .keys(url, CERTIFICATES.path)
            .map_err(|unavailable| match unavailable {
                Unavailable::NotAllowed => VerifyError::MalformedHeader(CERT_URL),
                Unavailable::Pending => VerifyError::CertificatePending,
            })?;
        for webhook_id in &self.webhook_ids {
            let signed = Self::signed(id, time, webhook_id, request.body);
            if keys.verify(Hash::Sha256, &signed, &signature) {
                return Ok(ReplayMaterial::Digest(Sha256::digest(&signed).into()));
            }
        }
        Err(VerifyError::Mismatch)
    }
}

/// A delivery of `payload` for the webhook `webhook_id`, signed as PayPal
/// signs with the example signer's key.
fn sign(
    webhook_id: &[u8],
    payload: &[u8],
    event_id: &str,
    now: i64,
) -> Result<SignedDelivery, String> {
    let time = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|err| err.to_string())?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|err| err.to_string())?;
    let transmission = format!("{event_id}-transmission");
    let signed = PayPal::signed(transmission.as_bytes(), time.as_bytes(), webhook_id, payload);
    let signature = crate::verify::example_signer::sign(&signed)?;
    Ok(SignedDelivery {
        headers: vec![
            (TRANSMISSION_ID.into(), transmission),
            (TRANSMISSION_TIME.into(), time),
            (SIGNATURE.into(), signature),
            (
                CERT_URL.into(),
                crate::verify::example_signer::PAYPAL_CERT_URL.into(),
            ),
            (AUTH_ALGO.into(), "SHA256withRSA".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: payload.to_vec(),
        query: None,
    })
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(PayPal {
            webhook_ids: input
                .secrets
                .iter()
                .map(|id| Box::from(id.expose()))
                .collect(),
            certificates: Certificates::new(CERTIFICATES, input.options.certificates)?,
            headers: [TRANSMISSION_ID, TRANSMISSION_TIME, SIGNATURE, CERT_URL, AUTH_ALGO]
                .map(SchemeHeader::new),
            tolerance: input.tolerance,
        }))
    },
    |input| sign(input.secret, input.payload, input.event_id, input.now),
)
.with_example_secret(b"8PT597110X687430LKGECATA")
.with_sample(|id, _now| {
    serde_json::json!({
        "id": id,
        "event_version": "1.0",
        "create_time": "2026-11-30T12:00:00.512Z",
        "resource_type": "capture",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "summary": "Payment completed for $ 30.00 USD",
        "resource": { "id": "42311647XV020574X", "status": "COMPLETED", "amount": { "currency_code": "USD", "value": "30.00" } }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::CertificateOptions;
    use crate::verify::Scheme;
    use crate::verify::test_support::run;

    // Made by vectors/paypal/make.py with the key of vectors/paypal/cert.pem;
    // PayPal's Java SDK (rest-api-sdk 1.14.0) and paypalrestsdk 1.13.3
    // accept it.
    const BODY: &[u8] = include_bytes!("vectors/paypal/delivery.json");
    const HEADERS: &str = include_str!("vectors/paypal/delivery.headers");
    const TAMPERED: &[u8] = include_bytes!("vectors/paypal/tampered.json");
    /// Another body (event id and amount changed) with the same CRC-32.
    const CRC_FORGED: &[u8] = include_bytes!("vectors/paypal/crc-forged.json");
    const WEBHOOK_ID: &[u8] = b"8PT597110X687430LKGECATA";
    // Signed by PayPal in its sandbox (2016), from PayPal's own SDK
    // repositories, with its certificate of then.
    const SANDBOX_BODY: &[u8] = include_bytes!("vectors/paypal/published/sdk-2016.json");
    const SANDBOX_HEADERS: &str = include_str!("vectors/paypal/published/sdk-2016.headers");
    const SANDBOX_WEBHOOK_ID: &[u8] = b"3TR748995U920805P";

    fn pinned(file: &str) -> CertificateOptions {
        CertificateOptions {
            pinned: vec![format!("{}/src/verify/providers/vectors/paypal/{file}", env!("CARGO_MANIFEST_DIR")).into()],
            ..CertificateOptions::default()
        }
    }

    fn paypal(webhook_ids: &[&[u8]], options: Option<&CertificateOptions>) -> PayPal {
        PayPal {
            webhook_ids: webhook_ids.iter().map(|id| Box::from(*id)).collect(),
            certificates: Certificates::new(CERTIFICATES, options).expect("builds"),
            headers: [TRANSMISSION_ID, TRANSMISSION_TIME, SIGNATURE, CERT_URL, AUTH_ALGO]
                .map(SchemeHeader::new),
            tolerance: 72 * 3600,
        }
    }

    /// When the made delivery and PayPal's sandbox one were sent.
    const SENT: i64 = 1_796_040_001;
    const SANDBOX_SENT: i64 = 1_475_679_460;

    /// `Name: value` lines, the request line and framing headers skipped.
    fn headers(text: &str) -> Vec<(&str, &str)> {
        text.lines()
            .filter_map(|line| line.split_once(": "))
            .filter(|(name, _)| name.starts_with("PAYPAL-"))
            .collect()
    }

    #[test]
    fn paypal_s_own_signature_and_the_made_one_verify() {
        let sandbox = paypal(&[SANDBOX_WEBHOOK_ID], Some(&pinned("published/CERT-360caa42-fca2a594-a5cafa77.pem")));
        assert_eq!(
            run(&sandbox, &headers(SANDBOX_HEADERS), SANDBOX_BODY, SANDBOX_SENT),
            Ok(())
        );
        let made = paypal(&[b"another-webhook", WEBHOOK_ID], Some(&pinned("cert.pem")));
        assert_eq!(run(&made, &headers(HEADERS), BODY, SENT), Ok(()));
        // Captured headers expire: 72 hours after they were sent.
        assert_eq!(
            run(&made, &headers(HEADERS), BODY, SENT + 72 * 3600 + 1),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn another_webhook_a_changed_body_or_another_algorithm_is_refused() {
        let made = paypal(&[WEBHOOK_ID], Some(&pinned("cert.pem")));
        let elsewhere = paypal(&[b"ANOTHERWEBHOOK"], Some(&pinned("cert.pem")));
        assert_eq!(run(&elsewhere, &headers(HEADERS), BODY, SENT), Err(VerifyError::Mismatch));
        assert_eq!(run(&made, &headers(HEADERS), TAMPERED, SENT), Err(VerifyError::Mismatch));
        let sha1: Vec<(&str, &str)> = headers(HEADERS)
            .into_iter()
            .map(|(name, value)| if name == AUTH_ALGO { (name, "SHA1withRSA") } else { (name, value) })
            .collect();
        assert_eq!(run(&made, &sha1, BODY, SENT), Err(VerifyError::MalformedHeader(AUTH_ALGO)));
        assert_eq!(run(&made, &[], BODY, 0), Err(VerifyError::MissingHeader(TRANSMISSION_ID)));
    }

    #[test]
    fn a_body_forged_to_the_same_crc_verifies_but_is_the_same_replay() {
        let made = paypal(&[WEBHOOK_ID], Some(&pinned("cert.pem")));
        let headers = crate::verify::test_support::headers(&headers(HEADERS));
        let replay = |body: &[u8]| {
            made.verify_replay(Signed { headers: &headers, body, now: SENT, query: None })
                .map(|material| format!("{material:?}"))
        };
        // What the CRC leaves open: the forged body verifies...
        assert_ne!(BODY, CRC_FORGED);
        // ... and the replay guard remembers the same signed string for it.
        assert_eq!(replay(BODY), replay(CRC_FORGED));
        assert!(replay(BODY).is_ok());
    }

    #[test]
    fn certificates_come_only_from_paypal_s_api_hosts() {
        let fetching = paypal(&[WEBHOOK_ID], None);
        assert_eq!(
            run(&fetching, &headers(HEADERS), BODY, SENT),
            Err(VerifyError::CertificatePending)
        );
        let elsewhere: Vec<(&str, &str)> = headers(HEADERS)
            .into_iter()
            .map(|(name, value)| {
                if name == CERT_URL {
                    (name, "https://api.paypal.com.evil.test/v1/notifications/certs/CERT-1")
                } else {
                    (name, value)
                }
            })
            .collect();
        assert_eq!(
            run(&fetching, &elsewhere, BODY, SENT),
            Err(VerifyError::MalformedHeader(CERT_URL))
        );
    }

    #[test]
    fn what_hookgate_send_signs_verifies_with_the_example_certificate() {
        let delivery = sign(WEBHOOK_ID, br#"{"id":"WH-1"}"#, "WH-1", 1_700_000_000).expect("signs");
        let options = CertificateOptions {
            pinned: vec![crate::verify::example_signer::certificate_path()],
            ..CertificateOptions::default()
        };
        let scheme = paypal(&[WEBHOOK_ID], Some(&options));
        let headers: Vec<(&str, &str)> = delivery
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(run(&scheme, &headers, &delivery.body, 1_700_000_000), Ok(()));
    }
}
