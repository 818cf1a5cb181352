//! Chargebee: signs nothing. A webhook endpoint takes HTTP basic auth
//! credentials (`basic_auth_username`, `basic_auth_password`), which Chargebee
//! sends as `Authorization: Basic …`; the source's secret is
//! `username:password`, compared in constant time, every secret tried. As weak
//! as a token: pair it with an IP allowlist (Chargebee publishes its
//! addresses).
//!
//! The body is an Event: its `id` (`ev_…`) is the event id, the same on each
//! of Chargebee's retries, and `event_type` (`subscription_created`, …) its
//! type. Chargebee warns that webhooks arrive out of order and duplicated.
//!
//! Source: <https://apidocs.chargebee.com/docs/api/events>,
//! <https://www.chargebee.com/docs/webhook_settings.html>

use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/id",
    event_type: Some("json:/event_type"),
    forward_headers: &[],
    timestamped: false,
    // The credentials sign nothing.
    replay_guard: true,
    tolerance: None,
    // The subscription the event is about, else its customer.
    partition_key: Some("json:/content/subscription/id | json:/content/customer/id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::basic_auth(DEFAULTS)
    .with_example_secret(b"chargebee-hooks:Cb7xQ2mN8vLp")
    .with_sample(|id, now| {
        serde_json::json!({
            "id": id,
            "occurred_at": now,
            "source": "admin_console",
            "object": "event",
            "api_version": "v2",
            "event_type": "subscription_created",
            "webhook_status": "scheduled",
            "content": {
                "subscription": { "id": "AzZTZgTb0nN2X1Gv", "customer_id": "AzZTZgTb0nN2W1Gu", "status": "active" },
                "customer": { "id": "AzZTZgTb0nN2W1Gu" }
            }
        })
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::presented::{Place, Token};
    use crate::verify::test_support::{headers, run};

    const SECRET: &[u8] = b"chargebee-hooks:Cb7xQ2mN8vLp";
    /// `printf '%s' 'chargebee-hooks:Cb7xQ2mN8vLp' | base64`
    const BASIC: &str = "Basic Y2hhcmdlYmVlLWhvb2tzOkNiN3hRMm1OOHZMcA==";
    /// `printf '%s' 'chargebee-hooks:old-password' | base64`
    const OLD_BASIC: &str = "Basic Y2hhcmdlYmVlLWhvb2tzOm9sZC1wYXNzd29yZA==";
    const BODY: &[u8] = br#"{"id":"ev_16BHbhF4s42tO2lK","occurred_at":1700000000,"object":"event","event_type":"payment_succeeded","content":{"customer":{"id":"16BHbhF4s42tO2lJ"}}}"#;

    fn chargebee(secrets: &[&[u8]]) -> Token {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Token::new(&secrets, Place::basic())
    }

    #[test]
    fn the_credentials_are_compared_and_rotation_works() {
        let both = chargebee(&[b"chargebee-hooks:old-password", SECRET]);
        assert_eq!(run(&both, &[("Authorization", BASIC)], BODY, 0), Ok(()));
        assert_eq!(run(&both, &[("Authorization", OLD_BASIC)], BODY, 0), Ok(()));
        assert_eq!(
            run(&chargebee(&[SECRET]), &[("Authorization", OLD_BASIC)], BODY, 0),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(&chargebee(&[SECRET]), &[], BODY, 0),
            Err(VerifyError::MissingHeader("Authorization"))
        );
    }

    #[test]
    fn the_event_its_type_and_its_entity_are_read_from_the_event() {
        let read = |spec: &str| {
            crate::pipeline::locate::Locator::parse(spec)
                .expect("parses")
                .extract(&headers(&[]), BODY)
                .expect("found")
                .to_string()
        };
        assert_eq!(read(DEFAULTS.event_id), "ev_16BHbhF4s42tO2lK");
        assert_eq!(read(DEFAULTS.event_type.expect("a type")), "payment_succeeded");
        // No subscription in a payment event: its customer.
        assert_eq!(
            read(DEFAULTS.partition_key.expect("a key")),
            "16BHbhF4s42tO2lJ"
        );
    }
}
