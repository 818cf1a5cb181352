//! Pipedrive (webhooks v2): signs nothing. A webhook takes HTTP basic auth
//! credentials (`http_auth_user`, `http_auth_password`), which Pipedrive
//! sends as `Authorization: Basic …`; the source's secret is
//! `username:password`, compared in constant time, every secret tried. As
//! weak as a token: pair it with an IP allowlist.
//!
//! The body is `{"meta": {…}, "data": {…}, "previous": {…}}`. The id is
//! `meta.id` (the event's): not the body's digest, since a retry's body
//! differs in `meta.attempt`. The type is `meta.action` (`create`, `change`,
//! `delete`; `meta.entity` says of what), the entity `meta.entity_id`.
//!
//! Source: <https://pipedrive.readme.io/docs/guide-for-webhooks-v2>

use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "json:/meta/id",
    event_type: Some("json:/meta/action"),
    forward_headers: &[],
    timestamped: false,
    // The credentials sign nothing.
    replay_guard: true,
    tolerance: None,
    partition_key: Some("json:/meta/entity_id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::basic_auth(DEFAULTS)
    .with_example_secret(b"pipedrive-hooks:Pd4kR9sT2wXz")
    .with_sample(|id, now| {
        serde_json::json!({
            "meta": {
                "id": id,
                "action": "change",
                "entity": "deal",
                "entity_id": "3",
                "attempt": 1,
                "version": "2.0",
                "timestamp": now.to_string(),
                "change_source": "app"
            },
            "data": { "id": 3, "title": "Acme deal", "value": 5000 },
            "previous": { "value": 4000 }
        })
    });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::presented::{Place, Token};
    use crate::verify::test_support::{headers, run};

    const SECRET: &[u8] = b"pipedrive-hooks:Pd4kR9sT2wXz";
    /// `printf '%s' 'pipedrive-hooks:Pd4kR9sT2wXz' | base64`
    const BASIC: &str = "Basic cGlwZWRyaXZlLWhvb2tzOlBkNGtSOXNUMndYeg==";
    const FIRST: &[u8] = br#"{"meta":{"id":"8a7b6c5d-0000-4000-8000-000000000001","action":"create","entity":"person","entity_id":"42","attempt":1,"version":"2.0"},"data":{"id":42}}"#;
    const RETRY: &[u8] = br#"{"meta":{"id":"8a7b6c5d-0000-4000-8000-000000000001","action":"create","entity":"person","entity_id":"42","attempt":2,"version":"2.0"},"data":{"id":42}}"#;

    #[test]
    fn the_credentials_are_compared() {
        let scheme = Token::new(&[Secret::new(SECRET)], Place::basic());
        assert_eq!(run(&scheme, &[("Authorization", BASIC)], FIRST, 0), Ok(()));
        // `printf '%s' 'pipedrive-hooks:wrong' | base64`
        let wrong = "Basic cGlwZWRyaXZlLWhvb2tzOndyb25n";
        assert_eq!(
            run(&scheme, &[("Authorization", wrong)], FIRST, 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_retry_is_the_same_event_though_its_body_differs() {
        let id = |body: &[u8]| {
            crate::pipeline::locate::Locator::parse(DEFAULTS.event_id)
                .expect("parses")
                .extract(&headers(&[]), body)
                .expect("found")
                .to_string()
        };
        assert_ne!(FIRST, RETRY);
        assert_eq!(id(FIRST), id(RETRY));
    }
}
