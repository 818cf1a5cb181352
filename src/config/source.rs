//! `[[sources]]`: one provider endpoint each (its path, scheme, secrets,
//! topics and limits), and the checks that hold between sources. A reload
//! applies every source setting.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{HeaderStyle, Parsed, Problems, topic_rule, valid_topic};
use crate::pipeline::client_addr::Cidr;
use crate::pipeline::locate::Locator;
use crate::pipeline::rate_limit::RateLimitConfig;
use crate::pipeline::route::{EVENT_PLACEHOLDER, topic_for};
use crate::verify::{HmacOptions, TokenOptions, VerifierKind};

/// `[[sources]]`: one provider endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Names the source in metrics, logs and Kafka headers.
    pub name: String,
    /// The URL path providers POST to.
    pub path: String,
    /// The only client addresses (CIDR ranges or addresses) this source
    /// takes requests from; any if unset. Checked before the body is read.
    pub allow: Option<Vec<Parsed<Cidr>>>,
    /// The signature scheme.
    pub verifier: VerifierKind,
    /// `env:NAME` or `file:PATH`; several while a secret is being rotated.
    pub secrets: Vec<String>,
    /// The Kafka topic events are published to; with `{event}` in it, a topic
    /// per event type from `events`.
    pub topic: String,
    /// The event types a `{event}` topic routes; others go to `fallback_topic`
    /// or are refused.
    pub events: Option<Vec<String>>,
    /// Where a `{event}` source's unlisted event types go.
    pub fallback_topic: Option<String>,
    /// Where requests this source refuses after reading their body are kept
    /// (with their headers, reason and client) for `hookgate redrive`.
    pub quarantine_topic: Option<String>,
    /// Overrides the scheme's event type location: `header:NAME` or `json:/pointer`.
    pub event_type: Option<Parsed<Locator>>,
    /// Overrides `server.max_body_bytes`.
    pub max_body_bytes: Option<usize>,
    /// Overrides the timestamp tolerance of timestamped schemes: the provider's
    /// own where it documents one (Paddle 5 s, Calendly 3 min), else 300 s.
    #[serde(default, with = "humantime_serde")]
    pub tolerance: Option<Duration>,
    /// Overrides the scheme's event id location: `header:NAME`, `json:/pointer`
    /// or `body-sha256`.
    pub event_id: Option<Parsed<Locator>>,
    /// The Kafka record key.
    /// The Kafka record key: `event-id`, `none`, or a place in the delivery
    /// (`json:/data/object/id`, `header:NAME`); the scheme's entity where it
    /// names one, else the event id.
    pub key: Option<Parsed<KeyMode>>,
    /// What a delivery that lacks the entity `key` names gets: keyed by
    /// its event id (counted), or refused with 400 `missing_key`.
    #[serde(default)]
    pub key_missing: KeyMissing,
    /// Overrides the scheme's list of provider headers copied to Kafka headers.
    pub forward_headers: Option<Vec<Parsed<http::HeaderName>>>,
    /// Options of the `hmac` verifier.
    pub hmac: Option<HmacOptions>,
    /// Where a `token` source's sender puts its token.
    pub token: Option<TokenOptions>,
    /// The URL the provider was given for this source, for schemes that sign
    /// it (Square): as the provider sees it, before any proxy.
    pub public_url: Option<String>,
    /// `env:NAME` or `file:PATH`: the token a provider's verification
    /// request presents (Meta's Verify Token, typed into its App Dashboard).
    pub verify_token: Option<String>,
    /// Where the signing certificates of `sns` and `paypal` come from:
    /// other hosts, a CA to trust when fetching, or pinned certificates.
    pub certificates: Option<crate::verify::CertificateOptions>,
    /// `sns`: confirm a subscription by visiting its `SubscribeURL` (only
    /// for the topics the source's secrets name).
    #[serde(default)]
    pub confirm_subscriptions: bool,
    /// Requests a second this source accepts; unlimited if unset.
    pub rate_limit: Option<RateLimitConfig>,
    /// Log each request's body (up to 4 KiB), for debugging a sender. Bodies
    /// carry customer data: leave it off in production.
    #[serde(default)]
    pub log_bodies: bool,
    /// Treat a delivery whose signed content (the body, or Mailgun's token)
    /// was already accepted within the dedup window as a duplicate, whatever
    /// its event id; the scheme's default where unset.
    pub replay_guard: Option<bool>,
    /// The metadata headers of this source's records; `kafka.headers` where
    /// unset.
    pub headers: Option<HeaderStyle>,
}

/// What keys a source's Kafka records, and so which events share a
/// partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeyMode {
    /// The event id, so every copy of an event lands in one partition, in order.
    #[default]
    EventId,
    /// No key: records spread over partitions.
    None,
    /// What this place in the delivery holds (an object's, a repository's
    /// id), so one entity's events share a partition; the event id where a
    /// delivery lacks it.
    Entity(Locator),
}

/// `key_missing`: what becomes of a delivery without its entity.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMissing {
    /// Published, keyed by its event id, and counted
    /// (`hookgate_partition_key_fallbacks_total`).
    #[default]
    EventId,
    /// Refused with 400 `missing_key` (and quarantined where the source
    /// keeps refusals): for consumers that cannot take an entity's events
    /// out of order.
    Refuse,
}

impl KeyMode {
    /// The scheme's entity where it names one, else the event id.
    pub fn default_for(kind: VerifierKind) -> Self {
        kind.defaults()
            .partition_key
            .and_then(|spec| Locator::parse(spec).ok())
            .map_or(Self::EventId, Self::Entity)
    }
}

impl std::str::FromStr for KeyMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "event-id" | "event_id" => Ok(Self::EventId),
            "none" => Ok(Self::None),
            place => Locator::parse(place).map(Self::Entity).map_err(|err| {
                format!("{place:?}: use event-id, none, or a place in the delivery (json:/pointer, header:NAME): {err}")
            }),
        }
    }
}

/// Every problem with `[[sources]]`, each naming its field
/// (`sources[2].topic`); `dedup_topic` is the one topic no source may use.
pub(super) fn check(sources: &[SourceConfig], dedup_topic: &str, problems: &mut Problems<'_>) {
    if sources.is_empty() {
        problems.add("sources", "define at least one [[sources]]");
    }
    let mut names = HashSet::new();
    let mut paths = HashSet::new();
    // Every topic a source publishes events to, which no quarantine may share.
    let event_topics: HashSet<String> = sources
        .iter()
        .flat_map(|source| {
            if source.topic.contains(EVENT_PLACEHOLDER) {
                source
                    .events
                    .iter()
                    .flatten()
                    .map(|event| topic_for(&source.topic, event))
                    .chain(source.fallback_topic.clone())
                    .collect::<Vec<_>>()
            } else {
                vec![source.topic.clone()]
            }
        })
        .collect();
    for (i, source) in sources.iter().enumerate() {
        let at = |field: &str| format!("sources[{i}].{field}");
        if !valid_name(&source.name) {
            problems.add(
                &at("name"),
                format!(
                    "{:?}: use 1-64 of a-z, 0-9, '-', '_' or '.', starting with a letter or digit",
                    source.name
                ),
            );
        } else if !names.insert(source.name.as_str()) {
            problems.add(
                &at("name"),
                format!("{:?} is used by another source", source.name),
            );
        }
        if !source.path.starts_with('/') || source.path.contains(['?', '#', ' ']) {
            problems.add(
                &at("path"),
                format!("{:?} must start with '/' and hold no query", source.path),
            );
        } else if crate::ops::health::PATHS.contains(&source.path.as_str()) {
            problems.add(
                &at("path"),
                format!("{} is reserved for health checks", source.path),
            );
        } else if !paths.insert(source.path.as_str()) {
            problems.add(
                &at("path"),
                format!("{} is used by another source", source.path),
            );
        }
        if !valid_topic(&source.topic.replace(EVENT_PLACEHOLDER, "x")) {
            problems.add(&at("topic"), topic_rule(&source.topic));
        } else if source.topic.contains(EVENT_PLACEHOLDER) {
            match source.events.as_deref() {
                None | Some([]) => problems.add(
                    &at("events"),
                    "a topic with {event} needs the list of event types it routes",
                ),
                Some(events) => {
                    for (j, event) in events.iter().enumerate() {
                        let topic = topic_for(&source.topic, event);
                        if event.is_empty() || !valid_topic(&topic) {
                            problems.add(&at(&format!("events[{j}]")), topic_rule(&topic));
                        } else if topic == dedup_topic {
                            problems.add(&at(&format!("events[{j}]")), dedup_topic_taken(&topic));
                        }
                    }
                }
            }
            match &source.event_type {
                Some(parsed) => {
                    if let Some(message) = parsed.error() {
                        problems.add(&at("event_type"), message);
                    }
                }
                None if source.verifier.defaults().event_type.is_none() => problems.add(&at("event_type"),
                    format!(
                        "the {} verifier names no event type: set event_type = \"header:NAME\" or \"json:/pointer\"",
                        source.verifier.name()
                    ),
                ),
                None => {}
            }
            if let Some(fallback) = &source.fallback_topic {
                if !valid_topic(fallback) {
                    problems.add(&at("fallback_topic"), topic_rule(fallback));
                } else if *fallback == dedup_topic {
                    problems.add(&at("fallback_topic"), dedup_topic_taken(fallback));
                }
            }
        } else {
            for (field, set) in [
                ("events", source.events.is_some()),
                ("fallback_topic", source.fallback_topic.is_some()),
                ("event_type", source.event_type.is_some()),
            ] {
                if set {
                    problems.add(&at(field), "only used with a topic containing {event}");
                }
            }
        }
        if source.secrets.is_empty() {
            problems.add(&at("secrets"), "at least one secret is required");
        }
        if source.max_body_bytes == Some(0) {
            problems.add(&at("max_body_bytes"), "must be at least 1");
        }
        let defaults = source.verifier.defaults();
        if source.tolerance.is_some() && !defaults.timestamped {
            problems.add(
                &at("tolerance"),
                format!("the {} verifier signs no timestamp", source.verifier.name()),
            );
        }
        if let Some(url) = &source.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problems.add(
                &at("public_url"),
                format!("{url:?} must be an absolute http:// or https:// URL"),
            );
        }
        for (setting, set, owners) in [
            ("hmac", source.hmac.is_some(), &[VerifierKind::Hmac][..]),
            (
                "token",
                source.token.is_some(),
                &[VerifierKind::Token, VerifierKind::BigCommerce][..],
            ),
            (
                "verify_token",
                source.verify_token.is_some(),
                &[VerifierKind::Meta][..],
            ),
            (
                "certificates",
                source.certificates.is_some(),
                &[VerifierKind::Sns, VerifierKind::PayPal][..],
            ),
            (
                "confirm_subscriptions",
                source.confirm_subscriptions,
                &[VerifierKind::Sns][..],
            ),
        ] {
            if set && !owners.contains(&source.verifier) {
                let owners: Vec<String> = owners
                    .iter()
                    .map(|owner| format!("{:?}", owner.name()))
                    .collect();
                problems.add(
                    &at(setting),
                    format!(
                        "only used with verifier = {}, not {:?}",
                        owners.join(" or "),
                        source.verifier.name()
                    ),
                );
            }
        }
        if let Some(message) = source.key.as_ref().and_then(Parsed::error) {
            problems.add(&at("key"), message);
        }
        if let Some(message) = source.event_id.as_ref().and_then(Parsed::error) {
            problems.add(&at("event_id"), message);
        }
        for (field, message) in source.rate_limit.iter().flat_map(RateLimitConfig::problems) {
            problems.add(&at(&format!("rate_limit.{field}")), message);
        }
        for (j, name) in source.forward_headers.iter().flatten().enumerate() {
            if name.error().is_some() {
                problems.add(
                    &at(&format!("forward_headers[{j}]")),
                    format!("{:?} is not a valid header name", name.text()),
                );
            }
        }
        if let Some(topic) = &source.quarantine_topic {
            if !valid_topic(topic) {
                problems.add(&at("quarantine_topic"), topic_rule(topic));
            } else if *topic == dedup_topic {
                problems.add(&at("quarantine_topic"), dedup_topic_taken(topic));
            } else if event_topics.contains(topic.as_str()) {
                problems.add(&at("quarantine_topic"),
                    format!(
                        "{topic:?} is a topic sources publish events to: its consumers would read refused, unverified requests as events"
                    ),
                );
            }
        }
        if let Some(allow) = &source.allow {
            if allow.is_empty() {
                problems.add(&at("allow"),
                    "an empty allowlist refuses every request: list the sender's ranges, or leave allow out to take any address",
                );
            }
            for (j, range) in allow.iter().enumerate() {
                if let Some(message) = range.error() {
                    problems.add(&at(&format!("allow[{j}]")), message);
                }
            }
        }
    }
}

/// Why a source may not publish to the dedup topic.
fn dedup_topic_taken(topic: &str) -> String {
    format!(
        "{topic:?} is the dedup topic (dedup.topic): events there would be read as dedup records"
    )
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}
