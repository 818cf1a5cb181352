//! `hookgate forward`: the `stripe listen --forward-to` of every provider.
//! Reads a topic (hookgate's events, or a quarantine) and POSTs each record
//! to a URL with its original body and the provider's headers, re-signed for
//! the target when asked; prints what each answered. For developing a
//! consumer against real traffic, and for re-driving a consumer's HTTP
//! endpoint.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt, Full};
use rdkafka::message::{Headers, Message, OwnedMessage};

use crate::consume::{ReadError, Start, TopicReader};
use crate::outbound::{self, ClientError, HttpsClient};
use crate::quarantine::{FORWARDED_FROM, HTTP_HEADER_PREFIX, REDACTED};
use crate::secret::Secret;
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
    /// Sign each delivery anew with this provider's scheme and secret.
    pub resign: Option<(VerifierKind, &'a Secret)>,
    pub ca: Option<&'a Path>,
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
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
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
    out: &mut impl Write,
) -> Result<Summary, ForwardError> {
    if !(request.to.starts_with("http://") || request.to.starts_with("https://")) {
        return Err(ForwardError::NotHttp(request.to.to_owned()));
    }
    let http = outbound::client(request.ca)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ForwardError::Runtime)?;
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
        let delivery = Delivery::of(&record, request);
        let started = Instant::now();
        let answer = runtime.block_on(delivery.post(&http, request.to));
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

/// One record as an HTTP request.
struct Delivery {
    id: Option<String>,
    method: Method,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Delivery {
    /// A quarantine record's own request headers (`http:*`), or an event
    /// record's provider headers (all but hookgate's own); re-signed if asked.
    fn of(record: &OwnedMessage, request: &ForwardRequest<'_>) -> Self {
        let mut id = None;
        let mut method = Method::POST;
        let mut query = None;
        let mut request_headers = HeaderMap::new();
        let mut provider_headers = HeaderMap::new();
        for header in record
            .headers()
            .into_iter()
            .flat_map(|headers| headers.iter())
        {
            let value = header.value.unwrap_or_default();
            let text = || String::from_utf8_lossy(value).into_owned();
            match header.key {
                "hookgate-event-id" => id = Some(text()),
                "hookgate-method" => method = Method::from_bytes(value).unwrap_or(Method::POST),
                "hookgate-query" => query = Some(text()),
                key if key.starts_with("hookgate-") => {}
                key => {
                    let (target, name) = match key.strip_prefix(HTTP_HEADER_PREFIX) {
                        Some(name) => (&mut request_headers, name),
                        None => (&mut provider_headers, key),
                    };
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_bytes(value),
                    ) {
                        target.append(name, value);
                    }
                }
            }
        }
        let mut headers = if request_headers.is_empty() {
            provider_headers
        } else {
            request_headers
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
        delivery
    }

    /// Replaces the provider's signature with one made with `secret`.
    fn resign(&mut self, kind: VerifierKind, secret: &Secret, url: &str) {
        let id = self.id.clone().unwrap_or_else(crate::send::fresh_event_id);
        let options = SchemeOptions {
            hmac: None,
            public_url: Some(url),
            token: None,
        };
        let now = crate::clock::now_seconds();
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

    async fn post(&self, http: &HttpsClient, to: &str) -> Result<(u16, String), String> {
        let url = match &self.query {
            Some(query) if to.contains('?') => format!("{to}&{query}"),
            Some(query) => format!("{to}?{query}"),
            None => to.to_owned(),
        };
        let mut request = http::Request::builder()
            .method(self.method.clone())
            .uri(url);
        if let Some(headers) = request.headers_mut() {
            headers.extend(self.headers.clone());
        }
        let request = request
            .body(Full::new(self.body.clone()))
            .map_err(|err| err.to_string())?;
        let response = http
            .request(request)
            .await
            .map_err(|err| outbound::describe(&err))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| outbound::describe(&err))?
            .to_bytes();
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Ok((status, text.replace('\n', " ")))
    }
}
