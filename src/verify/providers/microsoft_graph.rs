//! Microsoft Graph change notifications: no signature. Each notification in
//! the posted `{"value": [...]}` carries the subscription's `clientState`, a
//! shared secret (at most 128 characters) given when subscribing; a delivery
//! is accepted when EVERY item's `clientState` equals one of the source's
//! secrets (compared in constant time). Lifecycle notifications
//! (`lifecycleEvent`) carry it too. This is weaker than a signature: nothing
//! binds the rest of the body, nothing is timestamped, and the secret travels
//! in the body, which hookgate publishes, so every consumer of the topic can
//! read it and forge deliveries with any content. (Graph's signed
//! `validationTokens`, JWTs sent only with rich notifications, are not
//! checked.) Subscription validation: Graph POSTs `?validationToken=<token>`
//! and expects the decoded token back as `text/plain` within 10 seconds.
//! Source: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks

use http::Method;
use serde::Deserialize;

use crate::config::secret::Secret;
use crate::verify::presented::SecretDigests;
use crate::verify::{
    Challenge, Defaults, Handshake, Provider, Signed, SignedDelivery, VerifyError, echoable,
    verdict,
};

const VALUE: &str = "value";
const CLIENT_STATE: &str = "clientState";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    // Lifecycle notifications have no changeType: they route by their event.
    event_type: Some("json:/value/0/changeType | json:/value/0/lifecycleEvent"),
    forward_headers: &[],
    timestamped: false,
    // The id is the body's hash: a body sent again is a duplicate already.
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

#[derive(Deserialize)]
struct Notifications {
    value: Vec<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "clientState")]
    client_state: Option<String>,
}

#[derive(Debug)]
pub(super) struct MicrosoftGraph {
    states: SecretDigests,
}

impl MicrosoftGraph {
    pub(super) fn new(secrets: &[Secret]) -> Self {
        Self {
            states: SecretDigests::new(secrets),
        }
    }

    /// Whether `state` is one of the secrets; every secret is compared.
    fn known(&self, state: &str) -> bool {
        self.states.contain_value(state.as_bytes())
    }
}

impl crate::verify::Scheme for MicrosoftGraph {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let notifications: Notifications =
            serde_json::from_slice(request.body).map_err(|_| VerifyError::MalformedField(VALUE))?;
        if notifications.value.is_empty() {
            return Err(VerifyError::MalformedField(VALUE));
        }
        let mut all_known = true;
        for notification in &notifications.value {
            let state = notification
                .client_state
                .as_deref()
                .ok_or(VerifyError::MalformedField(CLIENT_STATE))?;
            all_known &= self.known(state);
        }
        verdict(all_known)
    }

    /// Graph's subscription validation: a POST with `?validationToken=`,
    /// answered with the token, decoded, as plain text.
    fn challenge(&self, request: Challenge<'_>) -> Option<Handshake> {
        if *request.method != Method::POST {
            return None;
        }
        let token = request.query_param("validationToken")?;
        let token = echoable(&token)?;
        Some(Handshake::text("validation_token", token.to_owned()))
    }
}

/// The body Graph would post: `payload` with `clientState` set on each of its
/// notifications when it is already a `{"value": [...]}`, else `payload` as
/// the resource data of one notification.
pub(super) fn sign_body(secret: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
    let state = std::str::from_utf8(secret).map_err(|_| "a clientState is text".to_owned())?;
    let payload: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| "Microsoft Graph posts JSON: the payload must be JSON".to_owned())?;
    let mut body = if payload.get(VALUE).is_some_and(serde_json::Value::is_array) {
        payload
    } else {
        serde_json::json!({
            "value": [{
                "subscriptionId": "hookgate-send",
                "changeType": "created",
                "resource": "hookgate/sample",
                "resourceData": payload
            }]
        })
    };
    if let Some(notifications) = body
        .get_mut(VALUE)
        .and_then(serde_json::Value::as_array_mut)
    {
        for notification in notifications {
            if let Some(fields) = notification.as_object_mut() {
                fields.insert(CLIENT_STATE.into(), state.into());
            }
        }
    }
    serde_json::to_vec(&body).map_err(|err| err.to_string())
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(MicrosoftGraph::new(input.secrets))),
    // The "signature" is inside the body: each notification's clientState.
    |input| {
        Ok(SignedDelivery {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: sign_body(input.secret, input.payload)?,
            query: None,
        })
    },
)
.without_body_signature()
.unguarded_because(crate::verify::SIGNS_NOTHING)
.with_sample(|id, _now| {
    serde_json::json!({
        "value": [{
            "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "subscriptionExpirationDateTime": "2023-11-17T22:13:20.000Z",
            "changeType": "created",
            "resource": format!("Users/5ba4d8a3-0e0e-4a7a-9b1c-2f0b8e1e5a55/Messages/{id}"),
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": format!("Users/5ba4d8a3-0e0e-4a7a-9b1c-2f0b8e1e5a55/Messages/{id}"),
                "id": id
            },
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"
        }]
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Reply;
    use crate::verify::test_support::run;

    const STATE: &str = "secretClientValue";
    const NOTIFICATION: &[u8] = br##"{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2023-11-17T22:13:20.000Z","clientState":"secretClientValue","changeType":"created","resource":"Users/5ba4d8a3/Messages/AAMk","resourceData":{"@odata.type":"#Microsoft.Graph.Message","id":"AAMk"},"tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}]}"##;
    const LIFECYCLE: &[u8] = br#"{"value":[{"subscriptionId":"7f105c7d","subscriptionExpirationDateTime":"2023-11-17T22:13:20.000Z","tenantId":"84bd8158","clientState":"secretClientValue","lifecycleEvent":"reauthorizationRequired"}]}"#;

    fn graph(states: &[&str]) -> MicrosoftGraph {
        let secrets: Vec<Secret> = states
            .iter()
            .map(|state| Secret::new(state.as_bytes()))
            .collect();
        MicrosoftGraph::new(&secrets)
    }

    fn check(states: &[&str], body: &[u8]) -> Result<(), VerifyError> {
        run(&graph(states), &[], body, 0)
    }

    fn challenge(method: Method, query: Option<&str>) -> Option<Handshake> {
        crate::verify::test_support::challenge(&graph(&[STATE]), method, &[], query, b"")
    }

    #[test]
    fn accepts_notifications_whose_client_state_is_a_secret() {
        assert_eq!(check(&[STATE], NOTIFICATION), Ok(()));
        assert_eq!(check(&[STATE], LIFECYCLE), Ok(()));
        // Rotation: any configured client state.
        assert_eq!(check(&["newClientValue", STATE], NOTIFICATION), Ok(()));
        let two = br#"{"value":[{"clientState":"a","changeType":"created"},{"clientState":"b","changeType":"updated"}]}"#;
        assert_eq!(check(&["a", "b"], two), Ok(()));
    }

    #[test]
    fn every_notification_must_carry_a_known_client_state() {
        assert_eq!(
            check(&["otherValue"], NOTIFICATION),
            Err(VerifyError::Mismatch)
        );
        // A prefix or an extension of the secret is not the secret.
        let prefix = br#"{"value":[{"clientState":"secretClient"}]}"#;
        assert_eq!(check(&[STATE], prefix), Err(VerifyError::Mismatch));
        let one_bad =
            br#"{"value":[{"clientState":"secretClientValue"},{"clientState":"forged"}]}"#;
        assert_eq!(check(&[STATE], one_bad), Err(VerifyError::Mismatch));
        let missing =
            br#"{"value":[{"clientState":"secretClientValue"},{"changeType":"created"}]}"#;
        assert_eq!(
            check(&[STATE], missing),
            Err(VerifyError::MalformedField(CLIENT_STATE))
        );
        let null = br#"{"value":[{"clientState":null}]}"#;
        assert_eq!(
            check(&[STATE], null),
            Err(VerifyError::MalformedField(CLIENT_STATE))
        );
        for bad in [
            &br#"{"value":[]}"#[..],
            br#"{"value":{}}"#,
            br#"{"clientState":"secretClientValue"}"#,
            b"",
            b"not json",
        ] {
            assert_eq!(
                check(&[STATE], bad),
                Err(VerifyError::MalformedField(VALUE)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_body_is_not_covered_by_the_client_state() {
        // Documented weakness: anything beside a known clientState passes.
        let altered = br#"{"value":[{"clientState":"secretClientValue","changeType":"deleted"}]}"#;
        assert_eq!(check(&[STATE], altered), Ok(()));
    }

    #[test]
    fn what_it_signs_verifies() {
        let body = sign_body(STATE.as_bytes(), br#"{"id":"evt_1"}"#).expect("signs");
        assert_eq!(check(&[STATE], &body), Ok(()));
        let sample = serde_json::to_vec(&(PROVIDER.sample.expect("a sample"))("m-1", 0))
            .expect("serializes");
        let body = sign_body(STATE.as_bytes(), &sample).expect("signs");
        assert_eq!(check(&[STATE], &body), Ok(()));
        assert!(sign_body(STATE.as_bytes(), b"not json").is_err());
    }

    #[test]
    fn the_validation_token_is_echoed_decoded() {
        let answer = challenge(
            Method::POST,
            Some("validationToken=Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+9e0a1b2c"),
        )
        .expect("a handshake");
        assert_eq!(answer.kind, "validation_token");
        assert_eq!(
            answer.reply,
            Reply::Text(
                "Validation: Testing client application reachability for subscription Request-Id: 9e0a1b2c"
                    .into()
            )
        );
    }

    #[test]
    fn nothing_else_is_a_validation() {
        assert!(challenge(Method::GET, Some("validationToken=abc")).is_none());
        assert!(challenge(Method::POST, None).is_none());
        assert!(challenge(Method::POST, Some("token=abc")).is_none());
        assert!(challenge(Method::POST, Some("validationToken=")).is_none());
        assert!(challenge(Method::POST, Some("validationToken=a%0Ab")).is_none());
    }
}
