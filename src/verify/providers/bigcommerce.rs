//! BigCommerce: signs nothing. A webhook is created with an optional
//! `headers` object, which BigCommerce sends as they are with every callback
//! "to authenticate callback requests" (its payloads are TLS-encrypted and
//! carry only ids). hookgate compares one such header with the source's
//! secrets in constant time, every secret tried (rotation): the `token`
//! scheme in BigCommerce's place. Which header is the source's choice, in
//! `[sources.token]` (`header`, with an optional `prefix`, or `basic = true`
//! for an `Authorization: Basic …` header); without it, `Authorization`,
//! whose whole value is the secret. Weaker than a signature: pair it with an
//! IP allowlist.
//!
//! The id is the body's `hash`, which BigCommerce documents as identifying the
//! event: a hook that fires twice for one event sends the same `hash`. The
//! type is the `scope` (`store/order/statusUpdated`); `data` names the
//! resource (`{"type": "order", "id": 173331}`).
//!
//! Source: https://docs.bigcommerce.com/developer/docs/beta/webhooks/overview

use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    // Bodies without a `hash`: their digest.
    event_id: "json:/hash | body-sha256",
    event_type: Some("json:/scope"),
    forward_headers: &[],
    timestamped: false,
    // The header signs nothing.
    replay_guard: true,
    tolerance: None,
    // The resource the event is about (an order, a product).
    partition_key: Some("json:/data/id"),
};

/// The `token` check and delivery, with the source's `[sources.token]`.
pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| super::token::PROVIDER.build(input),
    |input| super::token::PROVIDER.sign(input),
)
.without_body_signature()
.unguarded_because(crate::verify::SIGNS_NOTHING)
.with_sample(|id, now| {
    serde_json::json!({
        "created_at": now,
        "store_id": "1025646",
        "producer": "stores/abcde",
        "scope": "store/order/statusUpdated",
        "data": {
            "type": "order",
            "id": 173331,
            "status": { "previous_status_id": 0, "new_status_id": 11 }
        },
        "hash": id
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::test_support::{headers, owned, run_with_query};
    use crate::verify::{BuildInput, Scheme, SchemeOptions, SignInput, TokenOptions, VerifyError};

    const BODY: &[u8] = br#"{"created_at":1561479335,"store_id":"1025646","producer":"stores/abcde","scope":"store/order/statusUpdated","data":{"type":"order","id":173331},"hash":"3f9ea420af83450d7ef9f78b08c8af25b2213637"}"#;

    fn bigcommerce(secrets: &[&[u8]], token: Option<&TokenOptions>) -> Box<dyn Scheme> {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        PROVIDER
            .build(&BuildInput {
                secrets: &secrets,
                tolerance: 300,
                options: SchemeOptions {
                    token,
                    ..SchemeOptions::default()
                },
            })
            .expect("builds")
    }

    fn check(scheme: &dyn Scheme, pairs: &[(&str, &str)], body: &[u8]) -> Result<(), VerifyError> {
        run_with_query(scheme, pairs, None, body, 0)
    }

    #[test]
    fn a_header_of_the_sources_choosing_is_compared_and_rotation_works() {
        let options = TokenOptions {
            header: Some("X-Webhook-Secret".into()),
            ..TokenOptions::default()
        };
        let scheme = bigcommerce(&[b"bc-old", b"bc-new"], Some(&options));
        for value in ["bc-old", "bc-new"] {
            assert_eq!(
                check(scheme.as_ref(), &[("X-Webhook-Secret", value)], BODY),
                Ok(())
            );
        }
        for wrong in ["bc-ne", "bc-neww", "", "BC-NEW"] {
            assert_eq!(
                check(scheme.as_ref(), &[("X-Webhook-Secret", wrong)], BODY),
                Err(VerifyError::Mismatch),
                "{wrong:?}"
            );
        }
        assert_eq!(
            check(scheme.as_ref(), &[("Authorization", "bc-new")], BODY),
            Err(VerifyError::MissingHeader("X-Webhook-Secret"))
        );
    }

    #[test]
    fn without_a_choice_the_header_is_authorization() {
        let scheme = bigcommerce(&[b"bc-secret"], None);
        assert_eq!(
            check(scheme.as_ref(), &[("Authorization", "bc-secret")], BODY),
            Ok(())
        );
        assert_eq!(
            check(scheme.as_ref(), &[], BODY),
            Err(VerifyError::MissingHeader("Authorization"))
        );
    }

    #[test]
    fn basic_auth_in_a_header_works_too() {
        let options = TokenOptions {
            basic: true,
            ..TokenOptions::default()
        };
        let scheme = bigcommerce(&[b"shop:s3cret"], Some(&options));
        // `printf shop:s3cret | base64`
        assert_eq!(
            check(
                &*scheme,
                &[("Authorization", "Basic c2hvcDpzM2NyZXQ=")],
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn the_body_is_not_signed() {
        let scheme = bigcommerce(&[b"bc-secret"], None);
        assert_eq!(
            check(scheme.as_ref(), &[("Authorization", "bc-secret")], b"{}"),
            Ok(())
        );
    }

    #[test]
    fn what_bigcommerce_sends_verifies_and_its_hash_is_the_id() {
        let options = TokenOptions {
            header: Some("X-Webhook-Secret".into()),
            ..TokenOptions::default()
        };
        let delivery = PROVIDER
            .sign(&SignInput {
                secret: b"bc-secret",
                payload: BODY,
                event_id: "3f9ea420af83450d7ef9f78b08c8af25b2213637",
                now: 1_561_479_335,
                options: SchemeOptions {
                    token: Some(&options),
                    ..SchemeOptions::default()
                },
            })
            .expect("signs");
        let scheme = bigcommerce(&[b"bc-secret"], Some(&options));
        let sent = owned(&delivery.headers);
        assert_eq!(
            scheme.verify(crate::verify::Signed {
                headers: &sent,
                body: &delivery.body,
                now: 0,
                query: None,
            }),
            Ok(())
        );
        let id = crate::pipeline::locate::Locator::parse(DEFAULTS.event_id)
            .expect("parses")
            .extract(&headers(&[]), BODY)
            .expect("an id");
        assert_eq!(id.as_str(), "3f9ea420af83450d7ef9f78b08c8af25b2213637");
    }
}
