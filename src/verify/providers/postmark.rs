//! Postmark: signs nothing. The webhook URL given to Postmark carries HTTP
//! basic auth credentials (`https://<username>:<password>@host/path`, or the
//! webhook's `HttpAuth` in Postmark's API), which Postmark sends as
//! `Authorization: Basic …`. The source's secret is `username:password`,
//! compared with what the request presents in constant time, every secret
//! tried (rotation): the `token` scheme's basic auth in Postmark's place.
//! Weaker than a signature: pair it with an IP allowlist (Postmark publishes
//! its webhook addresses).
//!
//! Postmark sends no event id: a bounce has its `ID`, but deliveries, opens
//! and clicks only their message's `MessageID`, which a message's events share.
//! The body's digest stands for one; the type is `RecordType` (`Bounce`,
//! `Delivery`, `Open`, `Click`, `SpamComplaint`, `SubscriptionChange`).
//!
//! Source: https://postmarkapp.com/developer/webhooks/webhooks-overview

use crate::verify::{Defaults, Provider};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/RecordType"),
    forward_headers: &[],
    timestamped: false,
    // The credentials sign nothing.
    replay_guard: true,
    tolerance: None,
    // The message the event is about.
    partition_key: Some("json:/MessageID"),
};

pub(in crate::verify) const PROVIDER: Provider = Provider::basic_auth(DEFAULTS)
    .with_example_secret(b"postmark-hooks:Wq7vK2pX9sLm4Tz")
.with_sample(|id, _now| {
    serde_json::json!({
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": id,
        "Recipient": "john@example.com",
        "Tag": "welcome-email",
        "DeliveredAt": "2023-11-14T22:13:20Z",
        "Details": "Test delivery webhook details",
        "Metadata": { "example": "value" }
    })
});

#[cfg(test)]
mod tests {
    use crate::verify::presented::{Place, Token};
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::run;

    const SECRET: &[u8] = b"postmark-hooks:Wq7vK2pX9sLm4Tz";
    /// `printf '%s' 'postmark-hooks:Wq7vK2pX9sLm4Tz' | base64`
    const BASIC: &str = "Basic cG9zdG1hcmstaG9va3M6V3E3dksycFg5c0xtNFR6";
    /// `printf '%s' 'postmark-hooks:old-password' | base64`
    const OLD_BASIC: &str = "Basic cG9zdG1hcmstaG9va3M6b2xkLXBhc3N3b3Jk";
    const BODY: &[u8] = br#"{"RecordType":"Bounce","ID":4323372036854775807,"Type":"HardBounce","TypeCode":1,"MessageID":"883953f4-6105-42a2-a16a-77a8eac79483","Email":"john@example.com","BouncedAt":"2023-11-14T22:13:20Z"}"#;

    fn postmark(secrets: &[&[u8]]) -> Token {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        Token::new(&secrets, Place::basic())
    }

    #[test]
    fn the_credentials_in_the_url_are_compared_and_rotation_works() {
        let both = postmark(&[b"postmark-hooks:old-password", SECRET]);
        assert_eq!(run(&both, &[("Authorization", BASIC)], BODY, 0), Ok(()));
        assert_eq!(run(&both, &[("Authorization", OLD_BASIC)], BODY, 0), Ok(()));
        let current = postmark(&[SECRET]);
        assert_eq!(
            run(&current, &[("Authorization", OLD_BASIC)], BODY, 0),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn missing_and_other_authorization_is_refused() {
        let scheme = postmark(&[SECRET]);
        assert_eq!(
            run(&scheme, &[], BODY, 0),
            Err(VerifyError::MissingHeader("Authorization"))
        );
        // The credentials as they are, or as a bearer token: not basic auth.
        let bearer = BASIC.replace("Basic", "Bearer");
        for bad in [
            "postmark-hooks:Wq7vK2pX9sLm4Tz",
            bearer.as_str(),
            "Basic %%%",
        ] {
            assert_eq!(
                run(&scheme, &[("Authorization", bad)], BODY, 0),
                Err(VerifyError::MalformedHeader("Authorization")),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_body_is_not_signed() {
        let scheme = postmark(&[SECRET]);
        assert_eq!(run(&scheme, &[("Authorization", BASIC)], b"{}", 0), Ok(()));
    }

    #[test]
    fn what_postmark_sends_verifies() {
        let delivery = crate::verify::SignInput {
            secret: SECRET,
            payload: BODY,
            event_id: "evt_1",
            now: 0,
            options: crate::verify::SchemeOptions::default(),
        }
        .presenting(&Place::basic())
        .expect("presents");
        assert_eq!(
            delivery.headers,
            vec![("Authorization".to_owned(), BASIC.to_owned())]
        );
    }
}
