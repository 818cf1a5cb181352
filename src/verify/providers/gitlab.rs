//! GitLab: the secret token set on the webhook, sent as it is in
//! `X-Gitlab-Token` (GitLab signs nothing) and compared in constant time.
//! The id is `Idempotency-Key`, which GitLab keeps across retries of one
//! event (GitLab 17.4 and later), else `X-Gitlab-Event-UUID`.
//! Source: <https://docs.gitlab.com/user/project/integrations/webhooks/>

use crate::verify::presented::{Place, Token};
use crate::verify::{Defaults, Provider};

const TOKEN: &str = "X-Gitlab-Token";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "header:Idempotency-Key | header:X-Gitlab-Event-UUID",
    event_type: Some("header:X-Gitlab-Event"),
    forward_headers: &[
        "X-Gitlab-Event",
        "X-Gitlab-Instance",
        "X-Gitlab-Webhook-UUID",
    ],
    timestamped: false,
    // The token signs nothing: a captured delivery could come again under a new id.
    replay_guard: true,
    tolerance: None,
    // The project (`project.id`); group and system events without one
    // fall back to the event id.
    partition_key: Some("json:/project/id"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| Ok(Box::new(Token::new(input.secrets, Place::header(TOKEN)))),
    |input| {
        let mut delivery = input.presenting(&Place::header(TOKEN))?;
        delivery.headers.extend([
            ("Idempotency-Key".into(), input.event_id.into()),
            ("X-Gitlab-Event-UUID".into(), input.event_id.into()),
            ("X-Gitlab-Event".into(), "Push Hook".into()),
        ]);
        Ok(delivery)
    },
)
.without_body_signature()
.with_sample(|_id, _now| {
    serde_json::json!({
        "object_kind": "push",
        "event_name": "push",
        "ref": "refs/heads/main",
        "project": { "id": 15, "path_with_namespace": "group/project" }
    })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    #[test]
    fn the_token_is_compared_and_rotation_works() {
        let gitlab = Token::new(
            &[
                Secret::new(b"glwt-old".as_slice()),
                Secret::new(b"glwt-new".as_slice()),
            ],
            Place::header(TOKEN),
        );
        assert_eq!(run(&gitlab, &[(TOKEN, "glwt-new")], b"{}", 0), Ok(()));
        assert_eq!(run(&gitlab, &[(TOKEN, "glwt-old")], b"{}", 0), Ok(()));
        assert_eq!(
            run(&gitlab, &[(TOKEN, "glwt-ne")], b"{}", 0),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(&gitlab, &[], b"{}", 0),
            Err(VerifyError::MissingHeader(TOKEN))
        );
    }
}
