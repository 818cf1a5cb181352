//! Clerk: delivered through Svix (`svix-id`, `svix-timestamp`,
//! `svix-signature`; the Standard Webhooks scheme, secret `whsec_…` from the
//! Clerk dashboard). Events are `{"data": …, "object": "event", "type": …}`
//! with no id of their own: the id is Svix's message id.
//! Source: <https://clerk.com/docs/webhooks/overview>

use super::standard_webhooks::svix_branded;
use crate::verify::Provider;

pub(in crate::verify) const PROVIDER: Provider = svix_branded().with_sample(|_id, now| {
    serde_json::json!({
        "data": { "id": "user_29w83sxmDNGwOuEthce5gg56FcC", "object": "user" },
        "object": "event",
        "timestamp": now * 1000,
        "type": "user.created"
    })
});
