//! The one place that maps what happened to a request onto a status code and a
//! terse JSON body: the typed [`Answer`] the pipeline ends in, and the
//! [`Rejection`] of a request turned away. Details go to the log once, in
//! `ingest`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::dedup::ClaimError;
use crate::kafka::publish::PublishError;
use crate::ops::reason::Reason;
use crate::pipeline::locate::{EventId, LocateError};
use crate::pipeline::route::RouteError;
use crate::verify::{Handshake, MalformedBatch, Reply, VerifyError};

/// The response every request gets.
pub type HttpResponse = Response<Full<Bytes>>;

/// How the pipeline ended one request, before it is written as HTTP.
#[derive(Debug)]
pub enum Answer {
    /// Its event is in Kafka, or repeats one that is (`duplicate`).
    Stored { id: EventId, duplicate: bool },
    /// Every event of a batch (Mandrill's) is in Kafka: how many were new,
    /// how many repeats.
    Batch {
        events: usize,
        accepted: usize,
        duplicates: usize,
    },
    /// The provider checking the endpoint: answered, never published.
    Handshake(Handshake),
    /// `/healthz` or `/readyz`.
    Health {
        status: StatusCode,
        body: serde_json::Value,
    },
    /// Turned away, with the reason it was counted by.
    Refused(Rejection),
}

impl Answer {
    /// The status code it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Stored { .. } | Self::Batch { .. } | Self::Handshake(_) => StatusCode::OK,
            Self::Health { status, .. } => *status,
            Self::Refused(rejection) => rejection.reason.status(),
        }
    }

    /// The response; `retry_after_secs` is sent with a retryable refusal
    /// that names no wait of its own.
    pub fn into_response(self, retry_after_secs: u32) -> HttpResponse {
        match self {
            Self::Stored { id, duplicate } => json(
                StatusCode::OK,
                &AcceptedBody {
                    status: if duplicate { "duplicate" } else { "accepted" },
                    id: id.as_str(),
                },
            ),
            Self::Batch {
                events,
                accepted,
                duplicates,
            } => json(
                StatusCode::OK,
                &serde_json::json!({
                    "status": "accepted",
                    "events": events,
                    "accepted": accepted,
                    "duplicates": duplicates,
                }),
            ),
            Self::Handshake(handshake) => handshake_response(handshake),
            Self::Health { status, body } => json(status, &body),
            Self::Refused(rejection) => rejection.to_response(retry_after_secs),
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
    pub(crate) fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub(crate) fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        let reason = match err {
            VerifyError::MissingHeader(_) | VerifyError::MissingParameter(_) => {
                Reason::MissingSignatureHeader
            }
            VerifyError::MalformedHeader(_) | VerifyError::MalformedField(_) => {
                Reason::MalformedSignatureHeader
            }
            VerifyError::StaleTimestamp => Reason::StaleTimestamp,
            VerifyError::Mismatch => Reason::SignatureMismatch,
            VerifyError::CertificatePending => Reason::CertificatePending,
        };
        Self::new(reason, err.to_string())
    }
}

impl From<MalformedBatch> for Rejection {
    fn from(err: MalformedBatch) -> Self {
        Self::new(Reason::MalformedBody, err.to_string())
    }
}

impl From<LocateError> for Rejection {
    fn from(err: LocateError) -> Self {
        let reason = match err {
            LocateError::Missing(_) => Reason::MissingEventId,
            LocateError::Invalid(..) => Reason::InvalidEventId,
            LocateError::MalformedJson(_) => Reason::MalformedBody,
        };
        Self::new(reason, err.describe("event id"))
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
struct AcceptedBody<'a> {
    status: &'static str,
    id: &'a str,
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A handshake's answer: 200 with what the provider expects.
fn handshake_response(handshake: Handshake) -> Response<Full<Bytes>> {
    let mut response = match handshake.reply {
        Reply::Json(value) => json(StatusCode::OK, &value),
        Reply::Text(text) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
        Reply::Empty => Response::new(Full::new(Bytes::new())),
    };
    response.headers_mut().extend(handshake.headers);
    response
}

impl Rejection {
    /// The response: status, JSON body, and `Retry-After` or `Allow` where they apply.
    pub(crate) fn to_response(&self, retry_after_secs: u32) -> Response<Full<Bytes>> {
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
        let response = Rejection::from(PublishError::TimedOut).to_response(7);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let response = Rejection::from(VerifyError::Mismatch).to_response(7);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        let response = Rejection::new(Reason::MethodNotAllowed, "use POST").to_response(7);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
