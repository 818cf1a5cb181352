//! `hookgate forward`: the `stripe listen --forward-to` of every provider.
//! Reads a topic (hookgate's events, or a quarantine) and POSTs each record
//! to a URL with its original body and the provider's headers, re-signed for
//! the target when asked; prints what each answered. For developing a
//! consumer against real traffic, and for re-driving a consumer's HTTP
//! endpoint.
//!
//! A quarantined request was never verified: it may be a forgery. So it goes
//! with only what its provider sends (its signature, id and event headers,
//! [`verify::provider_headers`], and those named with `--header`), without
//! its query unless asked, and is never re-signed: that would vouch for it.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::Full;
use rdkafka::message::{Headers, Message, OwnedMessage};

use crate::config::secret::Secret;
use crate::kafka::consume::{ReadError, Start, TopicReader};
use crate::ops::https::{self as outbound, ClientError, HttpsClient};
use crate::pipeline::quarantine::{FORWARDED_FROM, Quarantined, REDACTED};
use crate::verify::{self, SchemeOptions, VerifierKind};

/// One `hookgate forward` run.
#[derive(Debug)]
pub struct ForwardRequest<'a> {
    /// Kafka client settings (bootstrap servers and security).
    pub client: rdkafka::ClientConfig,
    pub topic: &'a str,
    pub start: Start,
    pub follow: bool,
    /// Stop after this many records.
    pub max: Option<u64>,
    /// Where each record is POSTed.
    pub to: &'a str,
    /// Sign each delivery anew with this provider's scheme and secret;
    /// refused for a quarantined request.
    pub resign: Option<(VerifierKind, &'a Secret)>,
    /// Send a quarantined request's query string (else it goes without).
    pub keep_query: bool,
    /// A quarantined request's headers to send beside its provider's own.
    pub extra_headers: &'a [HeaderName],
    pub ca: Option<&'a Path>,
    /// How long each delivery may wait for its answer.
    pub timeout: Duration,
}

/// What the target answered, in all.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub forwarded: u64,
    pub succeeded: u64,
    /// Answered, but not 2xx.
    pub refused: u64,
    /// No answer.
    pub failed: u64,
}

/// Why forwarding could not run.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("--to {0}: not an http:// or https:// URL")]
    NotHttp(String),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
    #[error(
        "{place} is a quarantined request, which was never verified: --resign-secret would sign \
         what may be a forgery as genuine for the target. Forward the quarantine without \
         --provider and --resign-secret (each request goes with the signature it came with), \
         or re-drive it through the gateway with `hookgate redrive`"
    )]
    ResignQuarantined { place: String },
}

/// Headers a proxy does not pass on (the client sets its own), and those
/// that name the original client: `forward` is a new client.
const NOT_FORWARDED: [&str; 12] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
];

/// Forwards every record as the request says, writing one line per record.
pub fn forward(
    request: &ForwardRequest<'_>,
    runtime: &tokio::runtime::Runtime,
    out: &mut impl Write,
) -> Result<Summary, ForwardError> {
    if !outbound::is_http(request.to) {
        return Err(ForwardError::NotHttp(request.to.to_owned()));
    }
    let http = outbound::client(request.ca)?;
    let mut reader = TopicReader::open(
        request.client.clone(),
        request.topic,
        request.start,
        request.follow,
    )?;
    let mut summary = Summary::default();
    while request.max.is_none_or(|max| summary.forwarded < max) {
        let Some(record) = reader.next_record() else {
            break;
        };
        let delivery = Delivery::of(&record, request)?;
        let started = Instant::now();
        let answer = runtime.block_on(delivery.post(&http, request.to, request.timeout));
        let took = started.elapsed().as_secs_f64() * 1e3;
        summary.forwarded += 1;
        let place = format!(
            "{} {}/{} {}",
            record.topic(),
            record.partition(),
            record.offset(),
            delivery.id.as_deref().unwrap_or("-")
        );
        match answer {
            Ok((status, body)) => {
                if (200..300).contains(&status) {
                    summary.succeeded += 1;
                } else {
                    summary.refused += 1;
                }
                writeln!(out, "{place} -> HTTP {status} ({took:.0} ms) {body}")?;
            }
            Err(why) => {
                summary.failed += 1;
                writeln!(out, "{place} -> no answer ({took:.0} ms): {why}")?;
            }
        }
        out.flush()?;
    }
    writeln!(
        out,
        "forwarded {} record(s) from {} to {}: {} answered 2xx, {} refused, {} without an answer",
        summary.forwarded,
        request.topic,
        request.to,
        summary.succeeded,
        summary.refused,
        summary.failed
    )?;
    Ok(summary)
}

/// The headers a quarantined request of `provider` (its configuration name)
/// may be sent with: its provider's own and `extra`; for a provider this
/// build does not know, or a record that does not name one, only `extra` and
/// those every sender sets.
fn allowed_headers(provider: Option<&str>, extra: &[HeaderName]) -> Vec<HeaderName> {
    let mut allowed = match provider.and_then(|name| name.parse::<VerifierKind>().ok()) {
        Some(kind) => verify::provider_headers(kind),
        None => vec![http::header::CONTENT_TYPE, http::header::USER_AGENT],
    };
    allowed.extend(extra.iter().cloned());
    allowed
}

/// `headers` without any not named in `allowed`, in their order.
fn only(headers: HeaderMap, allowed: &[HeaderName]) -> HeaderMap {
    let mut kept = HeaderMap::new();
    let mut current = None;
    for (name, value) in headers {
        // `into_iter` names a header once, before all its values.
        if let Some(name) = name {
            current = allowed.contains(&name).then_some(name);
        }
        if let Some(name) = &current {
            kept.append(name.clone(), value);
        }
    }
    kept
}

/// One record as an HTTP request.
struct Delivery {
    id: Option<String>,
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Delivery {
    /// A quarantine record's request with only its provider's headers
    /// (`http:*`), or an event record's provider headers (all but hookgate's
    /// own); re-signed if asked, which a quarantine record refuses.
    fn of(record: &OwnedMessage, request: &ForwardRequest<'_>) -> Result<Self, ForwardError> {
        let place = || {
            format!(
                "{} {}/{}",
                record.topic(),
                record.partition(),
                record.offset()
            )
        };
        // A quarantine record is the request as it arrived, of which only
        // the provider's headers go; an event record carries the provider
        // headers beside hookgate's own.
        let (id, method, query, mut headers, allowed) = match Quarantined::read(record) {
            Ok(kept) if !kept.reason.is_empty() => {
                if request.resign.is_some() {
                    return Err(ForwardError::ResignQuarantined { place: place() });
                }
                let allowed = allowed_headers(kept.provider.as_deref(), request.extra_headers);
                let query = kept.query.filter(|_| request.keep_query);
                (
                    kept.event_id,
                    kept.method,
                    query,
                    kept.headers,
                    Some(allowed),
                )
            }
            _ => {
                let mut id = None;
                let mut headers = HeaderMap::new();
                for header in record.headers().into_iter().flat_map(|h| h.iter()) {
                    let value = header.value.unwrap_or_default();
                    if header.key == "hookgate-event-id" {
                        id = Some(String::from_utf8_lossy(value).into_owned());
                    } else if !header.key.starts_with("hookgate-")
                        && let (Ok(name), Ok(value)) = (
                            HeaderName::from_bytes(header.key.as_bytes()),
                            HeaderValue::from_bytes(value),
                        )
                    {
                        headers.append(name, value);
                    }
                }
                (id, Method::POST, None, headers, None)
            }
        };
        // And those the request's `Connection` header named as hop-by-hop.
        let named: Vec<String> = headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        for name in NOT_FORWARDED
            .iter()
            .copied()
            .chain(named.iter().map(String::as_str))
        {
            headers.remove(name);
        }
        // A secret the quarantine redacted is not sent as "[redacted]".
        let redacted: Vec<HeaderName> = headers
            .iter()
            .filter(|(_, value)| value.as_bytes() == REDACTED.as_bytes())
            .map(|(name, _)| name.clone())
            .collect();
        for name in redacted {
            headers.remove(name);
        }
        // Last: the `Connection` header that named hop-by-hop ones is not a
        // provider's, but what it named must go all the same.
        if let Some(allowed) = allowed {
            headers = only(headers, &allowed);
        }
        // Never quarantined again by a hookgate it is forwarded to.
        if let Ok(from) = HeaderValue::from_str(&format!(
            "{}/{}/{}",
            record.topic(),
            record.partition(),
            record.offset()
        )) {
            headers.insert(FORWARDED_FROM, from);
        }
        let mut delivery = Self {
            id,
            method,
            query,
            headers,
            body: Bytes::copy_from_slice(record.payload().unwrap_or_default()),
        };
        if let Some((kind, secret)) = request.resign {
            delivery.resign(kind, secret, request.to);
        }
        Ok(delivery)
    }

    /// Replaces the provider's signature with one made with `secret`.
    fn resign(&mut self, kind: VerifierKind, secret: &Secret, url: &str) {
        let id = self
            .id
            .clone()
            .unwrap_or_else(crate::tools::send::fresh_event_id);
        let options = SchemeOptions {
            hmac: None,
            public_url: Some(url),
            token: None,
            verify_token: None,
            certificates: None,
            confirm_subscriptions: false,
        };
        let now = crate::ops::clock::now_seconds();
        let Ok(signed) = verify::sign(kind, secret.expose(), &self.body, &id, now, options) else {
            return;
        };
        for (name, value) in &signed.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                self.headers.insert(name, value);
            }
        }
        self.body = Bytes::from(signed.body);
        self.query = signed.query;
    }

    async fn post(
        &self,
        http: &HttpsClient,
        to: &str,
        timeout: Duration,
    ) -> Result<(u16, String), String> {
        let mut request = http::Request::builder()
            .method(self.method.clone())
            .uri(outbound::with_query(to, self.query.as_deref()));
        if let Some(headers) = request.headers_mut() {
            headers.extend(self.headers.clone());
        }
        let request = request
            .body(Full::new(self.body.clone()))
            .map_err(|err| err.to_string())?;
        let (status, body) = outbound::exchange(http, request, timeout).await?;
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Ok((status, text.replace('\n', " ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, Timestamp};

    fn record(headers: &[(&str, &str)]) -> OwnedMessage {
        let owned = headers
            .iter()
            .fold(OwnedHeaders::new(), |all, (key, value)| {
                all.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            });
        OwnedMessage::new(
            Some(b"{\"id\":1}".to_vec()),
            None,
            "t".into(),
            Timestamp::CreateTime(0),
            0,
            7,
            Some(owned),
        )
    }

    fn plain(to: &str) -> ForwardRequest<'_> {
        ForwardRequest {
            client: rdkafka::ClientConfig::new(),
            topic: "t",
            start: Start::Beginning,
            follow: false,
            max: None,
            to,
            resign: None,
            keep_query: false,
            extra_headers: &[],
            ca: None,
            timeout: outbound::DEFAULT_TIMEOUT,
        }
    }

    /// A request to a GitHub source that failed its signature check, with
    /// the headers a forger adds to steer whoever it is forwarded to.
    fn quarantined(provider: Option<&str>) -> OwnedMessage {
        let mut headers = vec![
            ("hookgate-source", "github"),
            ("hookgate-reason", "signature_mismatch"),
            ("hookgate-received-at", "2026-11-30T12:00:00Z"),
            ("hookgate-query", "page=2&admin=1"),
            ("http:content-type", "application/json"),
            ("http:user-agent", "GitHub-Hookshot/abc"),
            ("http:x-hub-signature-256", "sha256=abc"),
            ("http:x-github-event", "push"),
            ("http:x-github-delivery", "d-1"),
            ("http:x-forwarded-host", "admin.internal"),
            ("http:true-client-ip", "10.0.0.1"),
            ("http:x-http-method-override", "DELETE"),
            ("http:x-custom", "kept only when asked"),
        ];
        if let Some(provider) = provider {
            headers.push(("hookgate-provider", provider));
        }
        record(&headers)
    }

    fn names(delivery: &Delivery) -> Vec<&str> {
        delivery.headers.keys().map(HeaderName::as_str).collect()
    }

    #[test]
    fn a_quarantined_request_goes_with_only_its_providers_headers_and_no_query() {
        let delivery = Delivery::of(
            &quarantined(Some("github")),
            &plain("http://127.0.0.1:9/hook"),
        )
        .expect("forwards");
        assert_eq!(
            names(&delivery),
            [
                "content-type",
                "user-agent",
                "x-hub-signature-256",
                "x-github-event",
                "x-github-delivery",
                FORWARDED_FROM
            ]
        );
        assert_eq!(delivery.query, None);
    }

    #[test]
    fn its_query_and_other_headers_go_only_when_asked() {
        let extra = [HeaderName::from_static("x-custom")];
        let request = ForwardRequest {
            keep_query: true,
            extra_headers: &extra,
            ..plain("http://127.0.0.1:9/hook")
        };
        let delivery = Delivery::of(&quarantined(Some("github")), &request).expect("forwards");
        assert_eq!(delivery.query.as_deref(), Some("page=2&admin=1"));
        assert!(delivery.headers.contains_key("x-custom"));
        assert!(!delivery.headers.contains_key("x-forwarded-host"));
    }

    #[test]
    fn a_provider_unknown_or_configured_per_source_keeps_only_what_every_sender_sets() {
        for provider in [None, Some("token"), Some("no-such-provider")] {
            let delivery = Delivery::of(&quarantined(provider), &plain("http://127.0.0.1:9/hook"))
                .expect("forwards");
            assert_eq!(
                names(&delivery),
                ["content-type", "user-agent", FORWARDED_FROM],
                "{provider:?}"
            );
        }
    }

    #[test]
    fn a_quarantined_request_is_never_signed_anew() {
        let secret = Secret::new(b"the-consumers-secret".as_slice());
        let request = ForwardRequest {
            resign: Some((VerifierKind::Github, &secret)),
            ..plain("http://127.0.0.1:9/hook")
        };
        let refused = Delivery::of(&quarantined(Some("github")), &request)
            .err()
            .expect("refused");
        assert!(matches!(refused, ForwardError::ResignQuarantined { .. }));
        let said = refused.to_string();
        assert!(
            said.starts_with("t 0/7 is a quarantined request, which was never verified"),
            "{said}"
        );
        // An event record was verified on its way in: signed anew as before.
        let event = record(&[
            ("hookgate-source", "github"),
            ("hookgate-event-id", "evt-1"),
        ]);
        let delivery = Delivery::of(&event, &request).expect("re-signed");
        assert!(delivery.headers.contains_key("x-hub-signature-256"));
    }

    #[test]
    fn a_quarantined_request_goes_as_it_came_without_what_is_not_passed_on() {
        let kept = record(&[
            ("hookgate-source", "github"),
            ("hookgate-provider", "github"),
            ("hookgate-reason", "signature_mismatch"),
            ("hookgate-received-at", "2026-11-30T12:00:00Z"),
            ("hookgate-method", "PUT"),
            ("hookgate-query", "page=2"),
            ("http:x-hub-signature-256", "sha256=abc"),
            ("http:authorization", REDACTED),
            ("http:host", "hooks.example.com"),
            ("http:x-forwarded-for", "192.30.252.1"),
            ("http:connection", "x-secret-hop"),
            ("http:x-secret-hop", "1"),
        ]);
        let request = ForwardRequest {
            keep_query: true,
            // Named, and still not passed on: these are never a provider's.
            extra_headers: &[
                HeaderName::from_static("x-forwarded-for"),
                HeaderName::from_static("x-secret-hop"),
                http::header::AUTHORIZATION,
            ],
            ..plain("http://127.0.0.1:9/hook")
        };
        let delivery = Delivery::of(&kept, &request).expect("forwards");
        assert_eq!(
            (delivery.method, delivery.query.as_deref()),
            (Method::PUT, Some("page=2"))
        );
        let names: Vec<&str> = delivery.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-hub-signature-256", FORWARDED_FROM]);
        assert_eq!(delivery.headers[FORWARDED_FROM], "t/0/7");
        assert_eq!(delivery.body.as_ref(), b"{\"id\":1}");
    }

    #[test]
    fn an_event_record_goes_with_its_provider_headers_only() {
        let event = record(&[
            ("hookgate-source", "github"),
            ("hookgate-event-id", "evt-1"),
            ("hookgate-received-at", "2026-11-30T12:00:00Z"),
            ("x-github-event", "push"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        let delivery = Delivery::of(&event, &plain("http://127.0.0.1:9/hook")).expect("forwards");
        assert_eq!(delivery.id.as_deref(), Some("evt-1"));
        assert_eq!(delivery.method, Method::POST);
        let names: Vec<&str> = delivery.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-github-event", "traceparent", FORWARDED_FROM]);
    }
}
