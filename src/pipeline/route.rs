//! Which topic an event goes to: the source's one topic, or with a `{event}`
//! template a topic per event type, taken from where the provider names it
//! (`X-GitHub-Event`, Stripe's `type`, …). The types are a closed list from
//! configuration, with an optional fallback topic, so a sender can never make
//! hookgate produce to a topic nobody configured.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;

use crate::pipeline::locate::{LocateError, Locator};

/// The placeholder a topic template carries.
pub(crate) const EVENT_PLACEHOLDER: &str = "{event}";

/// A source's topic choice, ready to serve.
#[derive(Debug)]
pub enum Route {
    Fixed(Arc<str>),
    ByEventType {
        event_type: Locator,
        /// Event type → its topic, for the configured types only.
        topics: HashMap<String, Arc<str>>,
        fallback: Option<Arc<str>>,
    },
}

/// Where one event goes.
#[derive(Debug, Clone)]
pub struct Routed {
    pub topic: Arc<str>,
    /// The provider's event type, when the route read it.
    pub event_type: Option<Box<str>>,
}

/// Why an event has no topic. Answered 400: the sender's event is not one this
/// source takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the event type is missing: {0}")]
    NoEventType(String),
    #[error("event type {0:?} is not routed by this source")]
    NotListed(String),
}

/// The topic of `event_type` under `template`: characters a topic name cannot
/// hold become `_` (`orders/create` → `orders_create`).
pub(crate) fn topic_for(template: &str, event_type: &str) -> String {
    let safe: String = event_type
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    template.replace(EVENT_PLACEHOLDER, &safe)
}

impl Route {
    /// A route by event type over the configured `events`.
    pub fn by_event_type(
        template: &str,
        event_type: Locator,
        events: &[String],
        fallback: Option<&str>,
    ) -> Self {
        Self::ByEventType {
            event_type,
            topics: events
                .iter()
                .map(|event| (event.clone(), Arc::from(topic_for(template, event))))
                .collect(),
            fallback: fallback.map(Arc::from),
        }
    }

    /// The topic of a verified request.
    pub fn route(&self, headers: &HeaderMap, body: &[u8]) -> Result<Routed, RouteError> {
        match self {
            Self::Fixed(topic) => Ok(Routed {
                topic: Arc::clone(topic),
                event_type: None,
            }),
            Self::ByEventType {
                event_type,
                topics,
                fallback,
            } => {
                let found = event_type.extract(headers, body).map_err(|err| match err {
                    LocateError::Missing(at) => RouteError::NoEventType(at),
                    other => RouteError::NoEventType(other.describe("event type")),
                })?;
                let name = found.as_str();
                let topic = topics
                    .get(name)
                    .or(fallback.as_ref())
                    .ok_or_else(|| RouteError::NotListed(name.to_owned()))?;
                Ok(Routed {
                    topic: Arc::clone(topic),
                    event_type: Some(name.into()),
                })
            }
        }
    }

    /// Every topic this route can produce to.
    pub fn topics(&self) -> Vec<&str> {
        match self {
            Self::Fixed(topic) => vec![topic],
            Self::ByEventType {
                topics, fallback, ..
            } => topics
                .values()
                .chain(fallback.iter())
                .map(|t| &**t)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    fn github_route(fallback: Option<&str>) -> Route {
        Route::by_event_type(
            "webhooks.github.{event}",
            Locator::parse("header:X-GitHub-Event").expect("source"),
            &["push".into(), "pull_request".into()],
            fallback,
        )
    }

    #[test]
    fn listed_types_get_their_topic_and_others_the_fallback_or_nothing() {
        let push = headers(&[("X-GitHub-Event", "push")]);
        let star = headers(&[("X-GitHub-Event", "star")]);
        let strict = github_route(None);
        assert_eq!(
            &*strict.route(&push, b"").expect("routed").topic,
            "webhooks.github.push"
        );
        assert_eq!(
            strict.route(&star, b"").unwrap_err(),
            RouteError::NotListed("star".into())
        );
        assert!(matches!(
            strict.route(&headers(&[]), b""),
            Err(RouteError::NoEventType(_))
        ));
        let lenient = github_route(Some("webhooks.github.other"));
        let routed = lenient.route(&star, b"").expect("routed");
        assert_eq!(&*routed.topic, "webhooks.github.other");
        assert_eq!(routed.event_type.as_deref(), Some("star"));
        let mut topics = lenient.topics();
        topics.sort_unstable();
        assert_eq!(
            topics,
            [
                "webhooks.github.other",
                "webhooks.github.pull_request",
                "webhooks.github.push"
            ]
        );
    }

    #[test]
    fn types_become_valid_topic_names() {
        assert_eq!(
            topic_for("shop.{event}", "orders/create"),
            "shop.orders_create"
        );
        assert_eq!(
            topic_for("s.{event}", "customer.subscription.created"),
            "s.customer.subscription.created"
        );
    }
}
