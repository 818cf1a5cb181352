//! The closed lists behind metric labels and log fields: why a request or a
//! connection was turned away (with the status code each reason answers),
//! how a TLS handshake ended, how a configuration reload went. It imports
//! nothing of hookgate's, so every stage and the metrics can name an outcome
//! without depending on one another.

use http::StatusCode;

/// Every way a request can be turned away: the metric label, log field and
/// `reason` in the JSON body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    UnknownPath,
    MethodNotAllowed,
    /// The client's address is not on the source's allowlist.
    IpNotAllowed,
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
    /// The delivery lacks the entity its source keys records by, and the
    /// source refuses such deliveries (`key_missing = "refuse"`).
    MissingKey,
    MalformedBody,
    UnroutableEvent,
    StillInFlight,
    NotReady,
    QueueFull,
    KafkaUnavailable,
    RecordTooLarge,
    Overloaded,
    /// The client holds its whole share of requests in flight or of body
    /// bytes; other clients are served.
    ClientLimit,
    /// The delivery's signing certificate (named by URL) is being fetched.
    CertificatePending,
}

impl Reason {
    pub const ALL: [Reason; 24] = [
        Self::UnknownPath,
        Self::MethodNotAllowed,
        Self::IpNotAllowed,
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
        Self::MissingKey,
        Self::MalformedBody,
        Self::UnroutableEvent,
        Self::StillInFlight,
        Self::NotReady,
        Self::QueueFull,
        Self::KafkaUnavailable,
        Self::RecordTooLarge,
        Self::Overloaded,
        Self::ClientLimit,
        Self::CertificatePending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownPath => "unknown_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyUnreadable => "body_unreadable",
            Self::MissingSignatureHeader => "missing_signature_header",
            Self::MalformedSignatureHeader => "malformed_signature_header",
            Self::StaleTimestamp => "stale_timestamp",
            Self::SignatureMismatch => "signature_mismatch",
            Self::MissingEventId => "missing_event_id",
            Self::MissingKey => "missing_key",
            Self::InvalidEventId => "invalid_event_id",
            Self::MalformedBody => "malformed_body",
            Self::UnroutableEvent => "unroutable_event",
            Self::StillInFlight => "still_in_flight",
            Self::NotReady => "not_ready",
            Self::QueueFull => "queue_full",
            Self::KafkaUnavailable => "kafka_unavailable",
            Self::RecordTooLarge => "record_too_large",
            Self::Overloaded => "overloaded",
            Self::ClientLimit => "client_limit",
            Self::CertificatePending => "certificate_pending",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::UnknownPath => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge | Self::RecordTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable
            | Self::MissingEventId
            | Self::MissingKey
            | Self::InvalidEventId
            | Self::MalformedBody
            | Self::UnroutableEvent => StatusCode::BAD_REQUEST,
            Self::MissingSignatureHeader
            | Self::MalformedSignatureHeader
            | Self::StaleTimestamp
            | Self::SignatureMismatch => StatusCode::UNAUTHORIZED,
            Self::StillInFlight => StatusCode::CONFLICT,
            Self::NotReady
            | Self::QueueFull
            | Self::KafkaUnavailable
            | Self::Overloaded
            | Self::ClientLimit
            | Self::CertificatePending => StatusCode::SERVICE_UNAVAILABLE,
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
                | Self::ClientLimit
                | Self::CertificatePending
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

/// How a connection's TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsHandshake {
    Completed,
    /// Not TLS, a protocol version or cipher hookgate does not speak, a
    /// client that refused the certificate, a reset.
    Failed,
    /// Not done within `server.tls.handshake_timeout`.
    TimedOut,
}

impl TlsHandshake {
    pub const ALL: [TlsHandshake; 3] = [Self::Completed, Self::Failed, Self::TimedOut];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
        }
    }
}

/// How a reload of the configuration went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The new configuration serves new requests.
    Applied,
    /// The file, a source or the TLS material was refused: nothing changed.
    Invalid,
}

impl Reload {
    pub const ALL: [Reload; 2] = [Self::Applied, Self::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Invalid => "invalid",
        }
    }
}

/// Why a refused request was not quarantined although its reason keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineDrop {
    /// Beyond its source's budget (`quarantine.per_second`, `burst`,
    /// `bytes_per_second`).
    SourceBudget,
    /// Within its source's budget, beyond the replica's cap across sources
    /// (`quarantine.max_bytes_per_second`).
    ReplicaCap,
}

impl QuarantineDrop {
    pub const ALL: [QuarantineDrop; 2] = [Self::SourceBudget, Self::ReplicaCap];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceBudget => "source_budget",
            Self::ReplicaCap => "replica_cap",
        }
    }
}
