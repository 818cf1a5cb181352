//! The event that leaves verification, [`Event`]: the only thing the
//! publisher accepts.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;

use crate::config::KeyMode;
use crate::pipeline::locate::EventId;
use crate::pipeline::route::Routed;
use crate::pipeline::source::Source;
use crate::pipeline::trace::TraceParent;
use crate::verify::Verified;

/// A verified event with its id, ready to deduplicate and publish. It can only be
/// made from [`Verified`], so nothing unverified reaches Kafka.
#[derive(Debug)]
pub struct Event {
    pub(crate) source: Arc<Source>,
    pub(crate) id: EventId,
    pub(crate) body: Bytes,
    /// The request's headers, moved here (not copied) for the publisher to pick from.
    pub(crate) headers: HeaderMap,
    pub(crate) received_at: SystemTime,
    /// The topic and event type the source's route chose.
    pub(crate) routed: Routed,
    /// hookgate's span of the request, which its record continues.
    pub(crate) trace: TraceParent,
    /// The entity the source keys its records by, where it does and the
    /// delivery names one.
    entity: Option<EventId>,
}

impl Event {
    pub fn new(
        source: Arc<Source>,
        verified: Verified,
        id: EventId,
        routed: Routed,
        headers: HeaderMap,
        received_at: SystemTime,
        trace: TraceParent,
    ) -> Self {
        Self {
            entity: None,
            source,
            id,
            body: verified.body().clone(),
            headers,
            received_at,
            routed,
            trace,
        }
    }

    /// The topic this event is published to.
    pub fn topic(&self) -> &str {
        &self.routed.topic
    }

    /// The provider's event type, when the source routes by it.
    pub fn event_type(&self) -> Option<&str> {
        self.routed.event_type.as_deref()
    }

    /// Keyed by `entity` (what the source's `key` found in the delivery)
    /// rather than by the event id.
    pub fn keyed_by(self, entity: Option<EventId>) -> Self {
        Self { entity, ..self }
    }

    /// The Kafka record key: the entity the source keys by, else the event
    /// id, or none where the source wants none.
    pub fn key(&self) -> Option<&[u8]> {
        match (&self.source.key, &self.entity) {
            (KeyMode::None, _) => None,
            (_, Some(entity)) => Some(entity.as_str().as_bytes()),
            _ => Some(self.id.as_str().as_bytes()),
        }
    }

    pub fn id(&self) -> &EventId {
        &self.id
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The exact bytes received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}
