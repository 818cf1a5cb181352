//! WooCommerce: `X-WC-Webhook-Signature: <base64>`, HMAC-SHA256 of the body
//! keyed by the webhook's secret (as entered: WooCommerce decodes HTML
//! entities in the stored secret before signing). No prefix, nothing
//! timestamped.
//!
//! Handshake: when a webhook is created (or re-activated) WooCommerce pings
//! the delivery URL with an UNSIGNED form POST whose body is `webhook_id=<n>`
//! and no `X-WC-Webhook-*` header; it marks the webhook pending until it gets
//! exactly 200. hookgate answers it 200 and publishes nothing.
//!
//! Event id: the SHA-256 of the body, not `X-WC-Webhook-Delivery-ID`, which
//! WooCommerce computes as a hash of the webhook id and the current second
//! (`get_new_delivery_id`): two deliveries of one webhook in the same second
//! share it, and the second would be dropped as a duplicate. The header is
//! forwarded for consumers. WooCommerce does not retry failed deliveries.
//!
//! Source: https://developer.woocommerce.com/docs/apis/rest-api/v3/webhooks/
//! (headers, signature and ping: `WC_Webhook::deliver`, `generate_signature`,
//! `deliver_ping` in woocommerce/includes/class-wc-webhook.php).

use http::Method;

use crate::config::secret::Secret;
use crate::verify::header::{HeaderHmac, HeaderSignature};
use crate::verify::mac::{Algorithm, Encoding};
use crate::verify::{Challenge, Defaults, Handshake, Provider, Scheme, Signed, VerifyError};

const SIGNATURE: &str = "X-WC-Webhook-Signature";
/// A webhook id is a WordPress post id: a few digits.
const MAX_WEBHOOK_ID_DIGITS: usize = 20;

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("header:X-WC-Webhook-Topic"),
    forward_headers: &[
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Resource",
        "X-WC-Webhook-Event",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
    ],
    timestamped: false,
    // The id is a hash of the signed body.
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

/// WooCommerce's check: the body's HMAC, and the ping on webhook creation.
#[derive(Debug)]
pub(super) struct WooCommerce {
    signature: HeaderSignature,
}

impl WooCommerce {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            signature: SHAPE.scheme(secrets),
        }
    }
}

impl Scheme for WooCommerce {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        self.signature.verify(request)
    }

    /// The ping: a POST without a signature whose whole body is
    /// `webhook_id=` and digits. It carries nothing to publish or echo.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::POST || self.signature.is_present(request.request.headers) {
            return None;
        }
        let id = request.request.body.strip_prefix(b"webhook_id=")?;
        (!id.is_empty() && id.len() <= MAX_WEBHOOK_ID_DIGITS && id.iter().all(u8::is_ascii_digit))
            .then(|| Handshake::empty("ping"))
    }
}

pub(super) fn sign(secret: &[u8], body: &[u8], event_id: &str) -> Vec<(String, String)> {
    vec![
        (
            "X-WC-Webhook-Source".into(),
            "https://shop.example.com/".into(),
        ),
        ("X-WC-Webhook-Topic".into(), "order.updated".into()),
        ("X-WC-Webhook-Resource".into(), "order".into()),
        ("X-WC-Webhook-Event".into(), "updated".into()),
        SHAPE.sign(secret, &[body]),
        ("X-WC-Webhook-ID".into(), "1".into()),
        ("X-WC-Webhook-Delivery-ID".into(), event_id.into()),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(WooCommerce::new(input.secrets))),
    |input| input.with_headers(sign(input.secret, input.payload, input.event_id)),
)
.with_sample(|id, _now| {
    serde_json::json!({
        "id": 727,
        "order_key": format!("wc_order_{id}"),
        "status": "processing",
        "currency": "USD",
        "total": "29.35",
        "line_items": [{ "id": 315, "name": "Woo Single #1", "product_id": 93, "quantity": 2 }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::{headers, run};

    const SECRET: &[u8] = b"woocommerce-webhook-secret";
    const BODY: &[u8] = br#"{"id":727,"status":"processing","currency":"USD","total":"29.35","date_modified":"2023-11-14T22:13:20"}"#;
    /// `printf '%s' "$BODY" | openssl dgst -sha256 -hmac woocommerce-webhook-secret -binary | base64`
    const SIG: &str = "DWlxCCEwhe8ZikJSmoLOluiEL5NIBshO3R5Qh8zy03U=";

    fn woo(secrets: &[&[u8]]) -> WooCommerce {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        WooCommerce::new(&secrets)
    }

    fn check(secrets: &[&[u8]], pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        run(&woo(secrets), pairs, body, 0)
    }

    fn challenge(method: Method, pairs: &[(&str, &str)], body: &[u8]) -> Option<Handshake> {
        let headers = headers(pairs);
        woo(&[SECRET]).challenge(Challenge {
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
    fn accepts_the_vector_and_what_sign_produces() {
        assert_eq!(check(&[SECRET], &[(SIGNATURE, SIG)], BODY), Ok(()));
        let signed = sign(SECRET, BODY, "d2b8c6a1f0e94b7c");
        assert!(signed.contains(&(SIGNATURE.to_owned(), SIG.to_owned())));
        assert!(signed.contains(&(
            "X-WC-Webhook-Delivery-ID".to_owned(),
            "d2b8c6a1f0e94b7c".to_owned()
        )));
    }

    #[test]
    fn rejects_tampering_other_secrets_and_truncation() {
        let tampered = String::from_utf8_lossy(BODY).replace("29.35", "0.01");
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, SIG)], tampered.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(&[b"another-secret".as_slice()], &[(SIGNATURE, SIG)], BODY),
            Err(VerifyError::Mismatch)
        );
        // Valid base64 of a shorter MAC.
        assert_eq!(
            check(&[SECRET], &[(SIGNATURE, "DWlxCCEwhe8ZikJSmoLOluiE")], BODY),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            check(
                &[b"new-secret".as_slice(), SECRET],
                &[(SIGNATURE, SIG)],
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        assert_eq!(
            check(&[SECRET], &[("X-WC-Webhook-Topic", "order.updated")], BODY),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        for bad in [
            "",
            "sha256=DWlxCCEwhe8ZikJSmoLOluiEL5NIBshO3R5Qh8zy03U=",
            "%%%",
            "0d69710821308",
        ] {
            assert_eq!(
                check(&[SECRET], &[(SIGNATURE, bad)], BODY),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_ping_is_answered_with_an_empty_200() {
        let answer = challenge(Method::POST, &[], b"webhook_id=12").expect("a handshake");
        assert_eq!(answer.kind, "ping");
        assert_eq!(answer.reply, Reply::Empty);
        assert_eq!(answer.note, None);
        // Unsigned, it would not verify: the challenge is what answers it.
        assert_eq!(
            check(&[SECRET], &[], b"webhook_id=12"),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
    }

    #[test]
    fn nothing_else_is_taken_for_the_ping() {
        assert!(challenge(Method::POST, &[(SIGNATURE, SIG)], b"webhook_id=12").is_none());
        assert!(challenge(Method::GET, &[], b"webhook_id=12").is_none());
        assert!(challenge(Method::POST, &[], BODY).is_none());
        for bad in [
            &b""[..],
            b"webhook_id=",
            b"webhook_id=12&x=1",
            b"webhook_id=-1",
            b"webhook_id=123456789012345678901",
            b"webhook_id=12\n",
        ] {
            assert!(
                challenge(Method::POST, &[], bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
