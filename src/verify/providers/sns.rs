//! Amazon SNS (HTTP/S subscriptions): the message is a JSON document whose
//! `Signature` is RSASSA-PKCS1-v1_5 (SHA-1 for `SignatureVersion` 1, SHA-256
//! for 2) over `Name\nvalue\n` for `Message`, `MessageId`, `Subject` (if
//! present), `Timestamp`, `TopicArn`, `Type` of a notification, or
//! `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`,
//! `Type` of a (un)subscription confirmation, the JSON-decoded values. The
//! key is the certificate at `SigningCertURL`, fetched only over https from
//! `sns.<region>.amazonaws.com[.cn]` (path `/SimpleNotificationService-….pem`)
//! or pinned by the source.
//!
//! The source's secrets are the topic ARNs it accepts: SNS signs for every
//! topic alike, and AWS asks receivers to refuse a message of a topic they
//! did not expect. A `SubscriptionConfirmation` is confirmed by visiting its
//! verified `SubscribeURL` (same host rule) only when the source sets
//! `confirm_subscriptions`; otherwise the URL is logged for an operator.
//! Neither kind of confirmation is published. Raw message delivery is not
//! signed, so it cannot be accepted.
//!
//! SNS counts any answer from 200 to 499 as delivered and retries only
//! timeouts and other statuses: hookgate's 503 is retried, its 429 is not.
//!
//! Source: <https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>,
//! <https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html>

use base64::Engine as _;
use serde::Deserialize;

use crate::verify::certificates::{Certificates, Hash, Unavailable, UrlRule};
use crate::verify::{
    Defaults, Handshake, Provider, SchemeHeader, Signed, SignedDelivery, VerifyError, verdict,
};

const CERT_URL: &str = "SigningCertURL";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Signed, and the same on SNS's retries.
    event_id: "json:/MessageId",
    event_type: Some("json:/Type"),
    forward_headers: &["x-amz-sns-subscription-arn"],
    timestamped: false,
    replay_guard: false,
    tolerance: None,
    // The topic: the only entity SNS names; the publisher's are inside `Message`.
    partition_key: Some("json:/TopicArn"),
};

/// A field a confirmation signs, which it must carry.
fn required<'a>(field: &'a Option<String>, name: &'static str) -> Result<&'a str, VerifyError> {
    field.as_deref().ok_or(VerifyError::MalformedField(name))
}

/// `sns.<region>.amazonaws.com` or `.amazonaws.com.cn` (China), a region
/// such as `us-east-1`, `us-gov-west-1`, `cn-north-1`: narrower than AWS's
/// own validators' `sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com`, which also
/// matches legacy S3 hosts such as `sns.s3-external-1.amazonaws.com`.
fn sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let Some(region) = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    let parts: Vec<&str> = region.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Where SNS's signing certificates are.
pub(crate) const CERTIFICATES: UrlRule = UrlRule {
    host: sns_host,
    path: |path| {
        path.strip_prefix("/SimpleNotificationService-")
            .and_then(|rest| rest.strip_suffix(".pem"))
            .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()))
    },
};

/// Where a subscription is confirmed: the SNS API of the topic's region.
const SUBSCRIBE: UrlRule = UrlRule {
    host: sns_host,
    path: |path| path == "/",
};

/// The fields of an SNS message hookgate reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Message {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    message: String,
    subject: Option<String>,
    timestamp: String,
    topic_arn: String,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
}

impl Message {
    fn parse(body: &[u8]) -> Result<Self, VerifyError> {
        serde_json::from_slice(body).map_err(|_| VerifyError::MalformedField("Signature"))
    }

    /// What SNS signed of this message.
    fn string_to_sign(&self) -> Result<String, VerifyError> {
        let fields: Vec<(&str, Option<&str>)> = match self.kind.as_str() {
            "Notification" => vec![
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("Subject", self.subject.as_deref()),
                ("Timestamp", Some(&self.timestamp)),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(&self.kind)),
            ],
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => vec![
                ("Message", Some(&self.message)),
                ("MessageId", Some(&self.message_id)),
                ("SubscribeURL", Some(required(&self.subscribe_url, "SubscribeURL")?)),
                ("Timestamp", Some(&self.timestamp)),
                ("Token", Some(required(&self.token, "Token")?)),
                ("TopicArn", Some(&self.topic_arn)),
                ("Type", Some(&self.kind)),
            ],
            _ => return Err(VerifyError::MalformedField("Type")),
        };
        let mut signed = String::new();
        for (name, value) in fields {
            if let Some(value) = value {
                // A newline in a field but the message could move text
                // between fields of the string to sign.
                if name != "Message" && value.contains('\n') {
                    return Err(VerifyError::MalformedField(name));
                }
                signed.push_str(name);
                signed.push('\n');
                signed.push_str(value);
                signed.push('\n');
            }
        }
        Ok(signed)
    }

    fn hash(&self) -> Result<Hash, VerifyError> {
        match self.signature_version.as_str() {
            "1" => Ok(Hash::Sha1),
            "2" => Ok(Hash::Sha256),
            _ => Err(VerifyError::MalformedField("SignatureVersion")),
        }
    }
}

#[derive(Debug)]
pub(super) struct Sns {
    /// The topic ARNs the source accepts.
    topics: Vec<Box<[u8]>>,
    certificates: Certificates,
    confirm_subscriptions: bool,
    /// The type header, checked against the signed type when sent.
    message_type: SchemeHeader,
}

impl crate::verify::Scheme for Sns {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let message = Message::parse(request.body)?;
        // A topic this source takes, before any certificate is asked for:
        // a message of another topic never costs a fetch.
        let topic = message.topic_arn.as_bytes();
        verdict(self.topics.iter().any(|accepted| **accepted == *topic))?;
        let signed = message.string_to_sign()?;
        let hash = message.hash()?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&message.signature)
            .map_err(|_| VerifyError::MalformedField("Signature"))?;
        let keys = self
            .certificates
            .keys(&message.signing_cert_url, CERTIFICATES.path)
            .map_err(|unavailable| match unavailable {
                Unavailable::NotAllowed => VerifyError::MalformedField(CERT_URL),
                Unavailable::Pending => VerifyError::CertificatePending,
            })?;
        verdict(keys.verify(hash, signed.as_bytes(), &signature))?;
        // The unsigned header may only repeat the signed type.
        if self.message_type.is_in(request.headers)
            && self.message_type.required(request.headers)? != message.kind.as_bytes()
        {
            return Err(VerifyError::MalformedHeader("x-amz-sns-message-type"));
        }
        Ok(())
    }

    fn handshake(&self, body: &[u8]) -> Option<Handshake> {
        let message = Message::parse(body).ok()?;
        let url = message.subscribe_url.as_deref().unwrap_or_default();
        let topic = &message.topic_arn;
        match message.kind.as_str() {
            "SubscriptionConfirmation" if self.confirm_subscriptions => {
                let note = if self.certificates.visit(url, SUBSCRIBE) {
                    format!("confirming the subscription to {topic}: visiting {url}")
                } else {
                    format!(
                        "the subscription to {topic} is not confirmed: its SubscribeURL is not SNS's ({url})"
                    )
                };
                Some(Handshake::empty("sns_subscription_confirmation").noting(note))
            }
            "SubscriptionConfirmation" => Some(
                Handshake::empty("sns_subscription_confirmation").noting(format!(
                    "not confirmed (confirm_subscriptions is off): visit {url} to confirm the subscription to {topic}"
                )),
            ),
            "UnsubscribeConfirmation" => Some(
                Handshake::empty("sns_unsubscribe_confirmation")
                    .noting(format!("unsubscribed from {topic}; {url} would subscribe again")),
            ),
            _ => None,
        }
    }
}

/// A notification of `payload` (as its `Message`) to the topic `topic`,
/// signed as SNS signs with the example signer's key (SignatureVersion 2).
fn sign(topic: &[u8], payload: &[u8], event_id: &str, now: i64) -> Result<SignedDelivery, String> {
    let topic = String::from_utf8_lossy(topic).into_owned();
    let timestamp = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|err| err.to_string())?
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|err| err.to_string())?;
    let mut message = Message {
        kind: "Notification".into(),
        message_id: event_id.into(),
        message: String::from_utf8_lossy(payload).into_owned(),
        subject: None,
        timestamp,
        topic_arn: topic.clone(),
        subscribe_url: None,
        token: None,
        signature_version: "2".into(),
        signature: String::new(),
        signing_cert_url: crate::verify::example_signer::SNS_CERT_URL.into(),
    };
    let signed = message.string_to_sign().map_err(|err| err.to_string())?;
    message.signature = crate::verify::example_signer::sign(signed.as_bytes())?;
    let body = serde_json::json!({
        "Type": message.kind,
        "MessageId": message.message_id,
        "TopicArn": message.topic_arn,
        "Message": message.message,
        "Timestamp": message.timestamp,
        "SignatureVersion": message.signature_version,
        "Signature": message.signature,
        "SigningCertURL": message.signing_cert_url,
    });
    Ok(SignedDelivery {
        headers: vec![
            ("x-amz-sns-message-type".into(), "Notification".into()),
            ("x-amz-sns-message-id".into(), event_id.into()),
            ("x-amz-sns-topic-arn".into(), topic),
            ("Content-Type".into(), "text/plain; charset=UTF-8".into()),
        ],
        body: serde_json::to_vec(&body).map_err(|err| err.to_string())?,
        query: None,
    })
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Sns {
            topics: input
                .secrets
                .iter()
                .map(|topic| Box::from(topic.expose()))
                .collect(),
            certificates: Certificates::new(CERTIFICATES, input.options.certificates)?,
            confirm_subscriptions: input.options.confirm_subscriptions,
            message_type: SchemeHeader::new("x-amz-sns-message-type"),
        }))
    },
    |input| sign(input.secret, input.payload, input.event_id, input.now),
)
.with_example_secret(b"arn:aws:sns:us-east-1:123456789012:hookgate-example")
.with_sample(|_id, _now| {
    serde_json::json!({ "order_id": "ord_1001", "status": "paid" })
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::CertificateOptions;
    use crate::verify::Scheme;
    use crate::verify::test_support::run;

    const TOPIC: &[u8] = b"arn:aws:sns:us-east-1:123456789012:orders";
    // Made by vectors/sns/make.py: signed as SNS signs, with the key of
    // vectors/sns/cert.pem; AWS's Java SDK `SignatureChecker`, npm
    // sns-validator 0.3.5 and sns-payload-validator 2.1.0 accept them.
    const NOTIFICATION_V1: &[u8] = include_bytes!("vectors/sns/notification-v1.json");
    const NOTIFICATION_V2: &[u8] = include_bytes!("vectors/sns/notification-v2.json");
    const TAMPERED: &[u8] = include_bytes!("vectors/sns/notification-v1.tampered.json");
    const CONFIRMATION: &[u8] = include_bytes!("vectors/sns/subscription-confirmation-v1.json");
    const UNSUBSCRIBED: &[u8] = include_bytes!("vectors/sns/unsubscribe-confirmation-v2.json");

    fn pinned() -> CertificateOptions {
        CertificateOptions {
            pinned: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/src/verify/providers/vectors/sns/cert.pem").into()],
            ..CertificateOptions::default()
        }
    }

    fn sns(topics: &[&[u8]], confirm: bool) -> Sns {
        Sns {
            topics: topics.iter().map(|topic| Box::from(*topic)).collect(),
            certificates: Certificates::new(CERTIFICATES, Some(&pinned())).expect("pinned"),
            confirm_subscriptions: confirm,
            message_type: SchemeHeader::new("x-amz-sns-message-type"),
        }
    }

    #[test]
    fn both_signature_versions_and_confirmations_verify() {
        let scheme = sns(&[TOPIC], false);
        for body in [NOTIFICATION_V1, NOTIFICATION_V2, CONFIRMATION, UNSUBSCRIBED] {
            assert_eq!(run(&scheme, &[], body, 0), Ok(()));
        }
        assert_eq!(
            run(&scheme, &[("x-amz-sns-message-type", "Notification")], NOTIFICATION_V1, 0),
            Ok(())
        );
    }

    #[test]
    fn a_changed_message_another_topic_or_a_lying_header_is_refused() {
        let scheme = sns(&[TOPIC], false);
        assert_eq!(run(&scheme, &[], TAMPERED, 0), Err(VerifyError::Mismatch));
        let elsewhere = sns(&[b"arn:aws:sns:us-east-1:123456789012:other".as_slice()], false);
        assert_eq!(run(&elsewhere, &[], NOTIFICATION_V1, 0), Err(VerifyError::Mismatch));
        assert_eq!(
            run(
                &scheme,
                &[("x-amz-sns-message-type", "SubscriptionConfirmation")],
                NOTIFICATION_V1,
                0
            ),
            Err(VerifyError::MalformedHeader("x-amz-sns-message-type"))
        );
        let unknown_version = String::from_utf8_lossy(NOTIFICATION_V1)
            .replace("\"SignatureVersion\" : \"1\"", "\"SignatureVersion\" : \"3\"");
        assert_eq!(
            run(&scheme, &[], unknown_version.as_bytes(), 0),
            Err(VerifyError::MalformedField("SignatureVersion"))
        );
        assert_eq!(
            run(&scheme, &[], b"{}", 0),
            Err(VerifyError::MalformedField("Signature"))
        );
    }

    #[test]
    fn certificates_come_only_from_sns_hosts_and_are_fetched_before_they_verify() {
        for host in [
            "sns.us-east-1.amazonaws.com",
            "sns.us-gov-west-1.amazonaws.com",
            "sns.cn-north-1.amazonaws.com.cn",
            "sns.ap-southeast-2.amazonaws.com",
        ] {
            assert!(sns_host(host), "{host}");
        }
        for host in [
            "sns.s3-external-1.amazonaws.com",
            "sns.amazonaws.com",
            "sns.us-east-1.amazonaws.com.evil.test",
            "evil.test",
            "sns.us-east-1x.amazonaws.com",
        ] {
            assert!(!sns_host(host), "{host}");
        }
        let fetching = Sns {
            certificates: Certificates::new(CERTIFICATES, None).expect("builds"),
            ..sns(&[TOPIC], false)
        };
        // Not fetched yet (and no runtime here to fetch it): 503, retried.
        assert_eq!(
            run(&fetching, &[], NOTIFICATION_V1, 0),
            Err(VerifyError::CertificatePending)
        );
        let elsewhere = String::from_utf8_lossy(NOTIFICATION_V1).replace(
            "https://sns.us-east-1.amazonaws.com/",
            "https://attacker.example/",
        );
        assert_eq!(
            run(&fetching, &[], elsewhere.as_bytes(), 0),
            Err(VerifyError::MalformedField(CERT_URL))
        );
    }

    #[test]
    fn confirmations_are_answered_and_never_published() {
        let logged = sns(&[TOPIC], false).handshake(CONFIRMATION).expect("a handshake");
        assert!(
            logged
                .note
                .as_deref()
                .is_some_and(|note| note.contains("confirm_subscriptions is off")
                    && note.contains("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")),
            "{:?}",
            logged.note
        );
        assert!(sns(&[TOPIC], false).handshake(UNSUBSCRIBED).is_some());
        assert!(sns(&[TOPIC], false).handshake(NOTIFICATION_V1).is_none());
        assert!((SUBSCRIBE.path)("/"));
    }

    #[test]
    fn what_hookgate_send_signs_verifies_with_the_example_certificate() {
        let delivery = sign(TOPIC, br#"{"order":1}"#, "msg-1", 1_700_000_000).expect("signs");
        let options = CertificateOptions {
            pinned: vec![crate::verify::example_signer::certificate_path()],
            ..CertificateOptions::default()
        };
        let scheme = Sns {
            certificates: Certificates::new(CERTIFICATES, Some(&options)).expect("pinned"),
            ..sns(&[TOPIC], false)
        };
        let headers: Vec<(&str, &str)> = delivery
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(run(&scheme, &headers, &delivery.body, 0), Ok(()));
    }
}
