//! The one place that maps what happened to a request onto a status code and a
//! terse JSON body. Details go to the log once, in `ingest`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::dedup::ClaimError;
use crate::event::EventIdError;
use crate::publish::PublishError;
use crate::route::RouteError;
use crate::verify::VerifyError;

/// Every way a request can be turned away: the metric label, log field and
/// `reason` in the JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    UnknownPath,
    MethodNotAllowed,
    RateLimited,
    BodyTooLarge,
    BodyTimeout,
    BodyUnreadable,
    MissingSignatureHeader,
    MalformedSignatureHeader,
    StaleTimestamp,
    SignatureMismatch,
    MissingEventId,
    InvalidEventId,
    MalformedBody,
    UnroutableEvent,
    StillInFlight,
    NotReady,
    QueueFull,
    KafkaUnavailable,
    RecordTooLarge,
    Overloaded,
}

impl Reason {
    pub const ALL: [Reason; 20] = [
        Self::UnknownPath,
        Self::MethodNotAllowed,
        Self::RateLimited,
        Self::BodyTooLarge,
        Self::BodyTimeout,
        Self::BodyUnreadable,
        Self::MissingSignatureHeader,
        Self::MalformedSignatureHeader,
        Self::StaleTimestamp,
        Self::SignatureMismatch,
        Self::MissingEventId,
        Self::InvalidEventId,
        Self::MalformedBody,
        Self::UnroutableEvent,
        Self::StillInFlight,
        Self::NotReady,
        Self::QueueFull,
        Self::KafkaUnavailable,
        Self::RecordTooLarge,
        Self::Overloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownPath => "unknown_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyUnreadable => "body_unreadable",
            Self::MissingSignatureHeader => "missing_signature_header",
            Self::MalformedSignatureHeader => "malformed_signature_header",
            Self::StaleTimestamp => "stale_timestamp",
            Self::SignatureMismatch => "signature_mismatch",
            Self::MissingEventId => "missing_event_id",
            Self::InvalidEventId => "invalid_event_id",
            Self::MalformedBody => "malformed_body",
            Self::UnroutableEvent => "unroutable_event",
            Self::StillInFlight => "still_in_flight",
            Self::NotReady => "not_ready",
            Self::QueueFull => "queue_full",
            Self::KafkaUnavailable => "kafka_unavailable",
            Self::RecordTooLarge => "record_too_large",
            Self::Overloaded => "overloaded",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::UnknownPath => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge | Self::RecordTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable
            | Self::MissingEventId
            | Self::InvalidEventId
            | Self::MalformedBody
            | Self::UnroutableEvent => StatusCode::BAD_REQUEST,
            Self::MissingSignatureHeader
            | Self::MalformedSignatureHeader
            | Self::StaleTimestamp
            | Self::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Self::StillInFlight => StatusCode::CONFLICT,
            Self::NotReady | Self::QueueFull | Self::KafkaUnavailable | Self::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// Whether a provider should retry: these are sent `Retry-After`.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::StillInFlight
                | Self::NotReady
                | Self::QueueFull
                | Self::KafkaUnavailable
                | Self::Overloaded
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection was answered 503 and closed before any request was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `server.max_connections` are open.
    ConnectionLimit,
    /// `server.max_connections_per_client` are open from this address.
    PerClientLimit,
}

impl Refusal {
    pub const ALL: [Refusal; 2] = [Self::ConnectionLimit, Self::PerClientLimit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionLimit => "connection_limit",
            Self::PerClientLimit => "per_client_limit",
        }
    }
}

/// Why hyper ended a connection with an error of the client's making, before
/// hookgate saw a request (or between requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// HTTP/1.1 that does not parse: answered 400.
    MalformedRequest,
    /// A request head beyond `server.max_headers` or hyper's buffer, or a
    /// URI too long: answered 431 or 414.
    HeadersTooLarge,
    /// An HTTP/2 peer broke the protocol or a limit (rapid reset, a header
    /// block beyond `server.max_header_bytes`, bad frames): GOAWAY.
    Http2,
}

impl ProtocolError {
    pub const ALL: [ProtocolError; 3] =
        [Self::MalformedRequest, Self::HeadersTooLarge, Self::Http2];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Http2 => "http2_protocol",
        }
    }
}

/// A request turned away, with a message the sender can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    /// `Retry-After` when this rejection knows better than the configured one.
    pub retry_after_secs: Option<u32>,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        let reason = match err {
            VerifyError::MissingHeader(_) => Reason::MissingSignatureHeader,
            VerifyError::MalformedHeader(_) | VerifyError::MalformedField(_) => {
                Reason::MalformedSignatureHeader
            }
            VerifyError::StaleTimestamp => Reason::StaleTimestamp,
            VerifyError::Mismatch => Reason::SignatureMismatch,
        };
        Self::new(reason, err.to_string())
    }
}

impl From<EventIdError> for Rejection {
    fn from(err: EventIdError) -> Self {
        let reason = match err {
            EventIdError::Missing(_) => Reason::MissingEventId,
            EventIdError::Invalid(..) => Reason::InvalidEventId,
            EventIdError::MalformedJson(_) => Reason::MalformedBody,
        };
        Self::new(reason, err.to_string())
    }
}

impl From<ClaimError> for Rejection {
    fn from(err: ClaimError) -> Self {
        match err {
            ClaimError::StillInFlight => Self::new(Reason::StillInFlight, err.to_string()),
        }
    }
}

impl From<RouteError> for Rejection {
    fn from(err: RouteError) -> Self {
        Self::new(Reason::UnroutableEvent, err.to_string())
    }
}

impl From<PublishError> for Rejection {
    fn from(err: PublishError) -> Self {
        let reason = match err {
            PublishError::QueueFull => Reason::QueueFull,
            PublishError::TooLarge => Reason::RecordTooLarge,
            PublishError::TimedOut | PublishError::UnknownTopic(_) | PublishError::Kafka(_) => {
                Reason::KafkaUnavailable
            }
        };
        // Broker details stay in the log; the sender learns only what to do.
        let message = match reason {
            Reason::QueueFull => "hookgate is at capacity; retry later",
            Reason::RecordTooLarge => "the event is larger than the Kafka topic accepts",
            _ => "the event could not be stored in Kafka; retry later",
        };
        Self::new(reason, message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    reason: &'static str,
}

/// What an accepted or duplicate delivery is answered.
#[derive(Serialize)]
pub(crate) struct AcceptedBody<'a> {
    pub(crate) status: &'static str,
    pub(crate) id: &'a str,
}

pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl Rejection {
    /// The response: status, JSON body, and `Retry-After` or `Allow` where they apply.
    pub fn into_response(&self, retry_after_secs: u32) -> Response<Full<Bytes>> {
        let mut response = json(
            self.reason.status(),
            &ErrorBody {
                error: &self.message,
                reason: self.reason.as_str(),
            },
        );
        let headers = response.headers_mut();
        if self.reason.is_retryable() {
            let secs = self.retry_after_secs.unwrap_or(retry_after_secs);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.reason == Reason::MethodNotAllowed {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_a_distinct_label_and_index() {
        let mut labels: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }

    #[test]
    fn retryable_rejections_say_when_to_retry() {
        let response = Rejection::from(PublishError::TimedOut).into_response(7);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let response = Rejection::from(VerifyError::Mismatch).into_response(7);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let response = Rejection::new(Reason::MethodNotAllowed, "use POST").into_response(7);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
