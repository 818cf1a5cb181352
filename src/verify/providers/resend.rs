//! Resend: delivered through Svix (`svix-id`, `svix-timestamp`,
//! `svix-signature`; the Standard Webhooks scheme, secret `whsec_…` from the
//! Resend dashboard). Events are `{"type": "email.sent", "created_at": …,
//! "data": …}`: the id is Svix's message id.
//! Source: <https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests>

use super::standard_webhooks::svix_branded;
use crate::verify::Provider;

pub(in crate::verify) const PROVIDER: Provider = svix_branded().with_sample(|_id, _now| {
    serde_json::json!({
        "type": "email.sent",
        "created_at": "2026-11-30T12:00:00.000Z",
        "data": { "email_id": "56761188-7520-42d8-8898-ff6fc54ce618", "subject": "Hello" }
    })
});
