//! `hookgate send`: a correctly signed delivery for any supported provider,
//! posted to any URL, for local development and for trying a gateway out (the
//! `stripe trigger` of every provider). `http://` and `https://`.

use bytes::Bytes;
use http_body_util::Full;

use crate::config::secret::Secret;
use crate::ops::https::{self as outbound, ClientError};
use crate::verify::{self, SchemeOptions, SignedDelivery, VerifierKind};

/// One `hookgate send` run.
#[derive(Debug)]
pub struct SendRequest<'a> {
    pub kind: VerifierKind,
    /// The signing key: the shared secret, or for Discord and SendGrid the
    /// private key (see [`verify::verification_key`]).
    pub secret: &'a Secret,
    pub url: &'a str,
    /// The payload; a built-in sample event when absent.
    pub payload: Option<Vec<u8>>,
    pub event_id: String,
    pub options: SchemeOptions<'a>,
    /// A certificate authority to trust beside the system's, for `https://`.
    pub ca: Option<&'a std::path::Path>,
    /// How long each delivery may wait for its answer.
    pub timeout: std::time::Duration,
}

/// What the gateway answered one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Why nothing could be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}: not an http:// or https:// URL")]
    NotHttp(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
}

impl SendRequest<'_> {
    /// Signs the delivery once; repeats of it are the same bytes, as a
    /// provider's retries are.
    pub fn sign(&self) -> Result<SignedDelivery, SendError> {
        let now = crate::ops::clock::now_seconds();
        let payload = self
            .payload
            .clone()
            .unwrap_or_else(|| sample(self.kind, &self.event_id, now));
        verify::sign(
            self.kind,
            self.secret.expose(),
            &payload,
            &self.event_id,
            now,
            self.options,
        )
        .map_err(SendError::Sign)
    }

    /// Posts `delivery` `repeat` times, one after the other.
    pub async fn post(
        &self,
        delivery: &SignedDelivery,
        repeat: u32,
    ) -> Result<Vec<Answer>, SendError> {
        if !outbound::is_http(self.url) {
            return Err(SendError::NotHttp(self.url.to_owned()));
        }
        let client = outbound::client(self.ca)?;
        let url = outbound::with_query(self.url, delivery.query.as_deref());
        let body = Bytes::from(delivery.body.clone());
        let mut answers = Vec::new();
        for _ in 0..repeat {
            let mut request = http::Request::post(&url);
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            if !delivery
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                request = request.header("content-type", "application/json");
            }
            let request = request.body(Full::new(body.clone()))?;
            let (status, bytes) = outbound::exchange(&client, request, self.timeout)
                .await
                .map_err(|message| SendError::Unreachable {
                    url: self.url.to_owned(),
                    message,
                })?;
            answers.push(Answer {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(answers)
    }
}

/// The payload `--body` names: a file, `-` for standard input, or `None` for
/// the provider's sample event.
pub fn read_payload(body: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, String> {
    match body {
        None => Ok(None),
        Some(path) if path.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .map_err(|err| format!("--body -: {err}"))?;
            Ok(Some(bytes))
        }
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|err| format!("--body {}: {err}", path.display())),
    }
}

/// An event id no earlier run used: `evt_` and the clock in nanoseconds.
pub fn fresh_event_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("evt_{nanos:x}")
}

/// A small event in the shape each provider sends, carrying `id` wherever
/// the provider's default event id is read from.
pub fn sample(kind: VerifierKind, id: &str, now: i64) -> Vec<u8> {
    serde_json::to_vec(&crate::verify::sample(kind, id, now)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{DEFAULT_TOLERANCE, Verifier};

    #[test]
    fn every_sample_verifies_and_carries_the_id_where_the_provider_puts_it() {
        let public_url = "http://127.0.0.1:8080/webhooks/x";
        for kind in VerifierKind::ALL {
            let signing = verify::example_secret(kind);
            let secret = Secret::new(signing);
            // What `hookgate send` signs with, for the schemes that sign with a certificate.
            let example_certificate = crate::verify::CertificateOptions {
                pinned: vec![crate::verify::example_signer::certificate_path()],
                ..crate::verify::CertificateOptions::default()
            };
            let options = SchemeOptions {
                hmac: None,
                public_url: Some(public_url),
                token: None,
                verify_token: None,
                certificates: Some(&example_certificate),
                confirm_subscriptions: false,
            };
            let request = SendRequest {
                kind,
                secret: &secret,
                url: public_url,
                payload: None,
                event_id: "evt_send_1".into(),
                options,
                ca: None,
                timeout: outbound::DEFAULT_TIMEOUT,
            };
            let delivery = request.sign().expect("signs");
            let key = verify::verification_key(kind, signing).expect("key");
            let verifier = Verifier::build(kind, &[Secret::new(key)], DEFAULT_TOLERANCE, options)
                .expect("builds");
            let headers: http::HeaderMap = delivery
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                        http::HeaderValue::from_str(v).expect("value"),
                    )
                })
                .collect();
            let verified = verifier
                .verify_with_query(
                    &headers,
                    delivery.query.as_deref(),
                    Bytes::from(delivery.body),
                    crate::ops::clock::now_seconds(),
                )
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let id = crate::pipeline::locate::Locator::parse(kind.defaults().event_id)
                .expect("default")
                .extract(&headers, verified.body())
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            // Digests (of the body, of Plaid's token) stand for ids no sender sets.
            if !kind.defaults().event_id.contains("sha256") {
                assert_eq!(id.as_str(), "evt_send_1", "{kind:?}");
            }
        }
    }

    #[tokio::test]
    async fn other_schemes_and_bad_ca_files_are_refused_with_the_reason() {
        let secret = Secret::new(b"s".as_slice());
        let mut request = SendRequest {
            kind: VerifierKind::Github,
            secret: &secret,
            url: "ftp://example.com/hook",
            payload: None,
            event_id: "e".into(),
            options: SchemeOptions::default(),
            ca: None,
            timeout: outbound::DEFAULT_TIMEOUT,
        };
        let delivery = request.sign().expect("signs");
        let err = request.post(&delivery, 1).await.unwrap_err();
        assert!(
            err.to_string().contains("not an http:// or https:// URL"),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("dir");
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "not a certificate").expect("write");
        request.url = "https://127.0.0.1:9/hook";
        request.ca = Some(&not_pem);
        let err = request.post(&delivery, 1).await.unwrap_err();
        assert!(err.to_string().starts_with("--ca "), "{err}");
    }
}
