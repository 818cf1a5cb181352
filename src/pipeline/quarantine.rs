//! The quarantine: a request a source rejected after reading its body (a
//! signature that does not match, a stale timestamp, no event id, an event
//! type nobody routes, a record too large for its topic) is written to the
//! source's `quarantine_topic` as it arrived: the body (up to
//! `quarantine.max_body_bytes`), every header (those that carry secrets
//! redacted), and why it was refused, by whom and when. So a wrong secret
//! loses nothing: `hookgate redrive` publishes the quarantined requests once
//! the secret is fixed.
//!
//! Quarantining never changes or delays the answer: the record is handed to
//! the producer and not waited for. Nor is it a way to flood Kafka: each
//! source has a budget of records and bytes a second, the replica a cap of
//! bytes a second across all its sources, and what is beyond either is
//! dropped and counted (by which). A rate alone is no bound on volume, so the
//! topic hookgate creates keeps records for `quarantine.retention` and at most
//! `quarantine.retention_bytes` a partition ([`topic_settings`]).
//!
//! The record: key the source's name, value the body, timestamp the
//! receiving time, headers `hookgate-*` (below) and `http:<name>` for each
//! request header in order.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use serde::Deserialize;

use crate::ops::metrics::QuarantineMetrics;
use crate::ops::reason::{QuarantineDrop, Reason};
use crate::pipeline::client_addr::ClientAddr;
use crate::pipeline::trace::TraceParent;
use crate::verify::VerifierKind;

/// Prefix of the Kafka headers that carry the request's own headers. `:` is
/// not allowed in an HTTP header name, so none can pass for hookgate's.
pub const HTTP_HEADER_PREFIX: &str = "http:";
/// What a redacted header or query value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Headers that carry a secret for some sender, redacted in every quarantine
/// (Asana's handshake sends its secret in `X-Hook-Secret`).
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-gitlab-token",
    "x-hook-secret",
];

/// A request `hookgate forward` sent carries this header (with the record it
/// came from): it is never quarantined again, so forwarding a quarantine to
/// the gateway that writes it cannot go round in a loop.
pub const FORWARDED_FROM: &str = "hookgate-forwarded-from";

/// `[quarantine]`: what every source's quarantine may write, and how much
/// the quarantine topic keeps.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineConfig {
    /// Bytes of a body kept; the rest is cut off (and the record says so).
    pub max_body_bytes: usize,
    /// Records a second per source, sustained.
    pub per_second: u32,
    /// Records at once per source above that rate.
    pub burst: u32,
    /// Record bytes (body, headers, path, query) a second per source,
    /// sustained (bursts of up to a second's worth).
    pub bytes_per_second: u32,
    /// Record bytes a second this replica writes to quarantines, all sources
    /// together: many sources each within budget are still bounded.
    pub max_bytes_per_second: u32,
    /// How long the quarantine topic keeps a record (`retention.ms`), when
    /// hookgate creates it.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Bytes each partition of the quarantine topic keeps (`retention.bytes`),
    /// when hookgate creates it.
    pub retention_bytes: u64,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            per_second: 10,
            burst: 100,
            bytes_per_second: 1024 * 1024,
            max_bytes_per_second: 4 * 1024 * 1024,
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// The least `retention`: long enough to notice and re-drive.
const MIN_RETENTION: Duration = Duration::from_secs(60);
/// The least `retention_bytes`: Kafka's smallest segment.
const MIN_RETENTION_BYTES: u64 = 1024 * 1024;
/// Kafka's default `segment.bytes`, the most a segment is made here.
const MAX_SEGMENT_BYTES: u64 = 1024 * 1024 * 1024;

impl QuarantineConfig {
    /// Every problem, as (field, message) below `[quarantine]`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("per_second", self.per_second),
            ("burst", self.burst),
            ("bytes_per_second", self.bytes_per_second),
            ("max_bytes_per_second", self.max_bytes_per_second),
        ] {
            if value == 0 {
                problems.push((field, "must be at least 1".to_owned()));
            }
        }
        if self.max_body_bytes as u64 > u64::from(self.bytes_per_second) {
            problems.push((
                "max_body_bytes",
                format!(
                    "{} is more than bytes_per_second ({}): no such body could ever be quarantined",
                    self.max_body_bytes, self.bytes_per_second
                ),
            ));
        }
        if self.max_bytes_per_second < self.bytes_per_second {
            problems.push((
                "max_bytes_per_second",
                format!(
                    "{} is less than a single source's bytes_per_second ({}): raise it, or lower bytes_per_second",
                    self.max_bytes_per_second, self.bytes_per_second
                ),
            ));
        }
        if self.retention < MIN_RETENTION {
            problems.push((
                "retention",
                format!(
                    "{} is too short to notice and re-drive anything: at least 1m (7d is the default)",
                    humantime::format_duration(self.retention)
                ),
            ));
        }
        if self.retention_bytes < MIN_RETENTION_BYTES {
            problems.push((
                "retention_bytes",
                format!(
                    "{} is less than Kafka's smallest segment: at least {MIN_RETENTION_BYTES} (1 MiB)",
                    self.retention_bytes
                ),
            ));
        }
        problems
    }
}

/// The settings hookgate creates a quarantine topic with. Kafka deletes whole
/// closed segments only, so segments are made a quarter of each bound: a
/// partition then holds at most about 1.25 × `retention_bytes`, and a record
/// lives at most about 1.25 × `retention`.
pub fn topic_settings(config: &QuarantineConfig) -> Vec<(&'static str, String)> {
    let retention_ms = u64::try_from(config.retention.as_millis()).unwrap_or(u64::MAX);
    let segment_bytes = (config.retention_bytes / 4).clamp(MIN_RETENTION_BYTES, MAX_SEGMENT_BYTES);
    vec![
        ("cleanup.policy", "delete".to_owned()),
        ("retention.ms", retention_ms.to_string()),
        ("retention.bytes", config.retention_bytes.to_string()),
        ("segment.bytes", segment_bytes.to_string()),
        ("segment.ms", (retention_ms / 4).max(1).to_string()),
    ]
}

/// The replica's cap on quarantine bytes a second, shared by every source's
/// quarantine (one per [`crate::pipeline::source::Sources`]).
#[derive(Debug)]
pub struct ReplicaCap {
    bytes: DefaultDirectRateLimiter,
}

impl ReplicaCap {
    /// `None` when `config` has a zero its `problems` report.
    pub fn new(config: &QuarantineConfig) -> Option<Arc<Self>> {
        let bytes = NonZeroU32::new(config.max_bytes_per_second)?;
        Some(Arc::new(Self {
            bytes: RateLimiter::direct(Quota::per_second(bytes)),
        }))
    }

    fn allows(&self, record_bytes: NonZeroU32) -> bool {
        matches!(self.bytes.check_n(record_bytes), Ok(Ok(())))
    }
}

/// Whether a request refused for `reason` is quarantined: refused after its
/// body was read, and not something the sender retries (a retry brings it
/// again).
pub fn keeps(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::MissingSignatureHeader
            | Reason::MalformedSignatureHeader
            | Reason::StaleTimestamp
            | Reason::SignatureMismatch
            | Reason::MissingEventId
            | Reason::MissingKey
            | Reason::InvalidEventId
            | Reason::MalformedBody
            | Reason::UnroutableEvent
            | Reason::RecordTooLarge
    )
}

/// Where a source's own token travels (`[sources.token]`): redacted beside
/// the headers and query parameters every quarantine redacts.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretPlace<'a> {
    pub header: Option<&'a str>,
    pub query: Option<&'a str>,
}

/// What became of a request offered to a quarantine (also counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Handed to the producer, whose delivery report counts it.
    Handed,
    /// Sent by `hookgate forward`: never quarantined again.
    AlreadyForwarded,
    Dropped(QuarantineDrop),
    /// The producer did not take it (its queue is full).
    NotTaken,
}

/// A source's quarantine: where, how much, and what to hide.
#[derive(Debug)]
pub struct Quarantine {
    topic: Arc<str>,
    /// The source's verifier, by its configuration name: `forward` reads it
    /// to know which of the request's headers are the provider's.
    provider: &'static str,
    max_body_bytes: usize,
    records: DefaultDirectRateLimiter,
    bytes: DefaultDirectRateLimiter,
    replica: Arc<ReplicaCap>,
    redact_headers: Vec<HeaderName>,
    redact_query: Vec<String>,
    metrics: QuarantineMetrics,
}

/// A request as it arrived, kept while it is handled by sources that
/// quarantine.
#[derive(Debug, Clone)]
pub struct Held {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why and when a held request was refused.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    pub reason: Reason,
    pub message: &'a str,
    pub event_id: Option<&'a str>,
    pub client: ClientAddr,
    /// Whether the connection was a trusted proxy's: only then is
    /// [`FORWARDED_FROM`] believed.
    pub from_trusted_proxy: bool,
    pub trace: TraceParent,
    pub received_at: SystemTime,
}

impl Quarantine {
    /// `None` when `config` has a zero its `problems` report.
    /// `replica` is the cap every source's quarantine shares;
    /// `secret_header` and `secret_query` are where the source's own token
    /// travels (`[sources.token]`), redacted beside the usual ones.
    pub fn new(
        source: &str,
        provider: VerifierKind,
        topic: &str,
        config: &QuarantineConfig,
        replica: &Arc<ReplicaCap>,
        secret: SecretPlace<'_>,
    ) -> Option<Self> {
        let per_second = NonZeroU32::new(config.per_second)?;
        let burst = NonZeroU32::new(config.burst)?;
        let bytes = NonZeroU32::new(config.bytes_per_second)?;
        let redact_headers = SECRET_HEADERS
            .into_iter()
            .chain(secret.header)
            .filter_map(|name| HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        let redact_query = std::iter::once("token")
            .chain(secret.query)
            .map(str::to_owned)
            .collect();
        Some(Self {
            topic: Arc::from(topic),
            provider: provider.name(),
            max_body_bytes: config.max_body_bytes,
            records: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            bytes: RateLimiter::direct(Quota::per_second(bytes)),
            replica: Arc::clone(replica),
            redact_headers,
            redact_query,
            metrics: QuarantineMetrics::new(source),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `held` to the quarantine topic if the budget allows, handing
    /// the record to `enqueue` (the producer's, which does not wait for
    /// Kafka; `None` if it keeps nothing); never waits itself.
    pub fn offer(
        &self,
        source: &str,
        held: &Held,
        refused: Refused<'_>,
        enqueue: impl FnOnce(FutureRecord<'_, [u8], [u8]>) -> Result<Option<DeliveryFuture>, KafkaError>,
    ) -> Offered {
        // Anyone can write the header: believed from a trusted proxy only,
        // where the operator runs `hookgate forward`, it cannot hide forgeries.
        if refused.from_trusted_proxy && held.headers.contains_key(FORWARDED_FROM) {
            return Offered::AlreadyForwarded;
        }
        let kept = held.body.len().min(self.max_body_bytes);
        // The whole record counts against the byte budget, headers too: a
        // flood of empty bodies with large headers is no way around it.
        let record_bytes = kept
            + held.path.len()
            + held.query.as_ref().map_or(0, String::len)
            + held
                .headers
                .iter()
                .map(|(name, value)| HTTP_HEADER_PREFIX.len() + name.as_str().len() + value.len())
                .sum::<usize>();
        // The source's budget first: a source beyond it takes nothing from
        // the replica's cap, so one flooded source cannot starve the others.
        let record_size = NonZeroU32::new(u32::try_from(record_bytes).unwrap_or(u32::MAX));
        let within_budget = self.records.check().is_ok()
            && record_size.is_none_or(|n| matches!(self.bytes.check_n(n), Ok(Ok(()))));
        let dropped = if !within_budget {
            Some(QuarantineDrop::SourceBudget)
        } else if !record_size.is_none_or(|n| self.replica.allows(n)) {
            Some(QuarantineDrop::ReplicaCap)
        } else {
            None
        };
        if let Some(why) = dropped {
            self.metrics.dropped(why).increment(1);
            return Offered::Dropped(why);
        }
        let headers = self.headers(source, held, &refused);
        let record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .key(source.as_bytes())
            .payload(&held.body[..kept])
            .headers(headers)
            .timestamp(crate::ops::clock::unix_millis(refused.received_at));
        match enqueue(record) {
            Ok(Some(delivery)) => {
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    match delivery.await {
                        Ok(Ok(_)) => {
                            metrics.written.increment(1);
                            metrics.bytes.increment(record_bytes as u64);
                        }
                        Ok(Err((err, _))) => {
                            tracing::debug!(error = %err, "the quarantine did not take a refused request");
                            metrics.failed.increment(1);
                        }
                        Err(_canceled) => metrics.failed.increment(1),
                    }
                });
            }
            // The null publisher keeps nothing, quarantine included.
            Ok(None) => self.metrics.written.increment(1),
            Err(err) => {
                self.metrics.failed.increment(1);
                tracing::warn!(source, topic = %self.topic, error = %err, "cannot quarantine a rejected request");
                return Offered::NotTaken;
            }
        }
        Offered::Handed
    }

    fn headers(&self, source: &str, held: &Held, refused: &Refused<'_>) -> OwnedHeaders {
        let received_at = humantime::format_rfc3339_millis(refused.received_at).to_string();
        let status = refused.reason.status().as_u16().to_string();
        let client = refused.client.to_string();
        let trace = refused.trace.header_value();
        let body_bytes = held.body.len().to_string();
        let query = held
            .query
            .as_deref()
            .map(|query| self.redacted_query(query));
        let mut fields: Vec<(&str, &[u8])> = vec![
            ("hookgate-source", source.as_bytes()),
            ("hookgate-provider", self.provider.as_bytes()),
            ("hookgate-reason", refused.reason.as_str().as_bytes()),
            ("hookgate-status", status.as_bytes()),
            ("hookgate-message", refused.message.as_bytes()),
            ("hookgate-client", client.as_bytes()),
            ("hookgate-received-at", received_at.as_bytes()),
            ("hookgate-method", held.method.as_str().as_bytes()),
            ("hookgate-path", held.path.as_bytes()),
            ("hookgate-body-bytes", body_bytes.as_bytes()),
            ("traceparent", &trace),
        ];
        if let Some(query) = &query {
            fields.push(("hookgate-query", query.as_bytes()));
        }
        if let Some(id) = refused.event_id {
            fields.push(("hookgate-event-id", id.as_bytes()));
        }
        if held.body.len() > self.max_body_bytes {
            fields.push(("hookgate-body-truncated", b"true"));
        }
        let mut headers = OwnedHeaders::new_with_capacity(fields.len() + held.headers.len());
        for (key, value) in fields {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        for (name, value) in &held.headers {
            let key = format!("{HTTP_HEADER_PREFIX}{name}");
            let value = if self.redact_headers.contains(name) {
                REDACTED.as_bytes()
            } else {
                value.as_bytes()
            };
            headers = headers.insert(Header {
                key: &key,
                value: Some(value),
            });
        }
        headers
    }

    /// The query string with the values of secret-bearing parameters replaced.
    fn redacted_query(&self, query: &str) -> String {
        query
            .split('&')
            .map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                // As the verifier reads it: `tok%65n` is `token`.
                let decoded = form_urlencoded::parse(name.as_bytes())
                    .next()
                    .map(|(decoded, _)| decoded.into_owned())
                    .unwrap_or_default();
                if self.redact_query.contains(&decoded) {
                    format!("{name}={REDACTED}")
                } else {
                    pair.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A quarantined request, read back from its record.
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub source: String,
    /// The source's verifier when the request was quarantined; `None` in
    /// records written before hookgate recorded it.
    pub provider: Option<String>,
    pub reason: String,
    pub message: String,
    pub client: Option<IpAddr>,
    pub received_at: SystemTime,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body was cut at `quarantine.max_body_bytes`: it cannot verify.
    pub truncated: bool,
    pub event_id: Option<String>,
    pub traceparent: Option<String>,
}

impl Quarantined {
    /// Reads a quarantine record; what is wrong with it, if it is not one.
    pub fn read(message: &impl Message) -> Result<Self, String> {
        let mut fields = std::collections::HashMap::new();
        let mut headers = HeaderMap::new();
        if let Some(record_headers) = message.headers() {
            for header in record_headers.iter() {
                let value = header.value.unwrap_or_default();
                if let Some(name) = header.key.strip_prefix(HTTP_HEADER_PREFIX) {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("{:?} is not a header name", header.key))?;
                    let value = HeaderValue::from_bytes(value)
                        .map_err(|_| format!("header {name} has a value HTTP cannot carry"))?;
                    headers.append(name, value);
                } else {
                    fields.insert(
                        header.key.to_owned(),
                        String::from_utf8_lossy(value).into_owned(),
                    );
                }
            }
        }
        let mut field = |name: &str| fields.remove(name);
        let source =
            field("hookgate-source").ok_or("no hookgate-source header: not a quarantine record")?;
        let received_at = field("hookgate-received-at")
            .and_then(|at| humantime::parse_rfc3339(&at).ok())
            .ok_or("no readable hookgate-received-at")?;
        let method = field("hookgate-method")
            .and_then(|method| Method::from_bytes(method.as_bytes()).ok())
            .unwrap_or(Method::POST);
        Ok(Self {
            source,
            provider: field("hookgate-provider"),
            reason: field("hookgate-reason").unwrap_or_default(),
            message: field("hookgate-message").unwrap_or_default(),
            client: field("hookgate-client").and_then(|client| client.parse().ok()),
            received_at,
            method,
            path: field("hookgate-path").unwrap_or_default(),
            query: field("hookgate-query"),
            headers,
            body: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
            truncated: field("hookgate-body-truncated").is_some(),
            event_id: field("hookgate-event-id"),
            traceparent: field("traceparent"),
        })
    }
}

#[cfg(test)]
mod tests;
