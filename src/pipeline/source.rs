//! Sources: what a URL path stands for. Built once from configuration: the
//! verifier with its keys, the event id's location, the topic and the metrics.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::config::secret;
use crate::config::{Config, FieldError, HeaderStyle, KeyMissing, KeyMode};
use crate::ops::metrics::{self, SourceMetrics};
use crate::pipeline::client_addr::IpSet;
use crate::pipeline::locate::Locator;
use crate::pipeline::quarantine::{Quarantine, ReplicaCap, SecretPlace};
use crate::pipeline::rate_limit::RateLimit;
use crate::pipeline::route::{EVENT_PLACEHOLDER, Route};
use crate::verify::{DEFAULT_TOLERANCE, SchemeOptions, Verifier, VerifierKind};

/// A configured source's name, as it appears in metrics, logs and Kafka headers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SourceName(Arc<str>);

impl SourceName {
    pub fn new(name: &str) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One provider endpoint, ready to serve.
#[derive(Debug)]
pub struct Source {
    pub name: SourceName,
    pub kind: VerifierKind,
    pub verifier: Verifier,
    /// The topic as configured (a `{event}` template, or the one topic).
    pub topic: String,
    pub route: Route,
    pub max_body_bytes: usize,
    pub event_id: Locator,
    pub key: KeyMode,
    pub key_missing: KeyMissing,
    /// Where the provider names the event's type, whether or not the source
    /// routes by it (for `ce_type`).
    pub event_type: Option<Locator>,
    /// Which metadata headers its records carry.
    pub headers: HeaderStyle,
    pub forward_headers: Vec<HeaderName>,
    /// Shared with the source of the same name and limit before a reload.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// The client addresses it takes requests from; any if `None`.
    pub allow: Option<IpSet>,
    /// Where requests it refuses after reading their body are kept.
    pub quarantine: Option<Quarantine>,
    pub log_bodies: bool,
    /// Whether a delivery repeating accepted signed content is a duplicate.
    pub replay_guard: bool,
    pub metrics: SourceMetrics,
}

/// Every source, by path.
#[derive(Debug)]
pub struct Sources {
    by_path: HashMap<String, Arc<Source>>,
    unrouted: SourceMetrics,
}

impl Sources {
    /// Resolves secrets and builds each source's verifier. Every error is
    /// collected, each naming its field.
    pub fn build(config: &Config) -> Result<Self, Vec<FieldError>> {
        Self::rebuild(config, None)
    }

    /// [`Sources::build`] for a reload: a source whose rate limit did not
    /// change keeps its limiter, so a reload is no way around it.
    pub fn rebuild(config: &Config, previous: Option<&Sources>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut by_path = HashMap::new();
        // One cap for every source's quarantine on this replica.
        let quarantine_cap = ReplicaCap::new(&config.quarantine);
        for (i, sc) in config.sources.iter().enumerate() {
            let at = |field: &str| format!("sources[{i}].{field}");
            let mut secrets = Vec::with_capacity(sc.secrets.len());
            for (j, reference) in sc.secrets.iter().enumerate() {
                match secret::resolve(reference, &config.base_dir) {
                    Ok(secret) => secrets.push(secret),
                    Err(err) => errors.push(FieldError {
                        field: at(&format!("secrets[{j}]")),
                        message: err.to_string(),
                    }),
                }
            }
            if secrets.len() != sc.secrets.len() {
                continue;
            }
            let verify_token = match sc.verify_token.as_deref() {
                Some(reference) => match secret::resolve(reference, &config.base_dir) {
                    Ok(token) => Some(token),
                    Err(err) => {
                        errors.push(FieldError {
                            field: at("verify_token"),
                            message: err.to_string(),
                        });
                        continue;
                    }
                },
                None => None,
            };
            let certificates = sc
                .certificates
                .as_ref()
                .map(|options| options.relative_to(&config.base_dir));
            let defaults = sc.verifier.defaults();
            let tolerance: Duration = sc
                .tolerance
                .or(sc.verifier.defaults().tolerance)
                .unwrap_or(DEFAULT_TOLERANCE);
            let options = SchemeOptions {
                hmac: sc.hmac.as_ref(),
                public_url: sc.public_url.as_deref(),
                token: sc.token.as_ref(),
                verify_token: verify_token.as_ref(),
                certificates: certificates.as_ref(),
                confirm_subscriptions: sc.confirm_subscriptions,
            };
            let verifier = match Verifier::build(sc.verifier, &secrets, tolerance, options) {
                Ok(verifier) => verifier,
                Err(build_errors) => {
                    errors.extend(build_errors.into_iter().map(|e| FieldError {
                        field: at(&e.field),
                        message: e.message,
                    }));
                    continue;
                }
            };
            // Config validation reported a configured value that does not
            // parse; the provider's defaults are tested to parse.
            let event_id = match &sc.event_id {
                Some(parsed) => parsed.value().cloned(),
                None => Locator::parse(defaults.event_id).ok(),
            };
            let Some(event_id) = event_id else {
                errors.push(FieldError {
                    field: at("event_id"),
                    message: "not a valid location: run check-config".into(),
                });
                continue;
            };
            let forward_headers = match &sc.forward_headers {
                Some(names) => names.iter().filter_map(|n| n.value().cloned()).collect(),
                // Constants, which a test checks are header names.
                None => defaults
                    .forward_headers
                    .iter()
                    .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                    .collect(),
            };
            let event_type = event_type_location(sc);
            let source = Source {
                event_type,
                headers: sc.headers.unwrap_or(config.kafka.headers),
                name: SourceName::new(&sc.name),
                kind: sc.verifier,
                verifier,
                topic: sc.topic.clone(),
                route: build_route(sc),
                max_body_bytes: sc.max_body_bytes.unwrap_or(config.server.max_body_bytes),
                event_id,
                key: sc
                    .key
                    .as_ref()
                    .and_then(|key| key.value().cloned())
                    .unwrap_or_else(|| KeyMode::default_for(sc.verifier)),
                key_missing: sc.key_missing,
                forward_headers,
                rate_limit: sc.rate_limit.as_ref().and_then(|limit| {
                    previous
                        .and_then(|sources| sources.by_name(&sc.name))
                        .and_then(|source| source.rate_limit.clone())
                        .filter(|kept| kept.config() == limit)
                        .or_else(|| RateLimit::new(limit).map(Arc::new))
                }),
                quarantine: sc
                    .quarantine_topic
                    .as_deref()
                    .zip(quarantine_cap.as_ref())
                    .and_then(|(topic, cap)| {
                        let token = sc.token.as_ref();
                        Quarantine::new(
                            &sc.name,
                            sc.verifier,
                            topic,
                            &config.quarantine,
                            cap,
                            SecretPlace {
                                header: token.and_then(|t| t.header.as_deref()),
                                query: token.and_then(|t| t.query.as_deref()),
                            },
                        )
                    }),
                allow: sc.allow.as_ref().map(|ranges| {
                    IpSet::new(ranges.iter().filter_map(|range| range.value().copied()))
                }),
                log_bodies: sc.log_bodies,
                replay_guard: sc
                    .replay_guard
                    .unwrap_or(sc.verifier.defaults().replay_guard),
                metrics: SourceMetrics::new(&sc.name),
            };
            by_path.insert(sc.path.clone(), Arc::new(source));
        }
        if errors.is_empty() {
            Ok(Self {
                by_path,
                unrouted: SourceMetrics::new(metrics::UNROUTED),
            })
        } else {
            Err(errors)
        }
    }

    /// The source serving `path`, if any.
    pub fn by_path(&self, path: &str) -> Option<&Arc<Source>> {
        self.by_path.get(path)
    }

    fn by_name(&self, name: &str) -> Option<&Arc<Source>> {
        self.by_path
            .values()
            .find(|source| source.name.as_str() == name)
    }

    /// Metrics of requests that matched no source.
    pub fn unrouted(&self) -> &SourceMetrics {
        &self.unrouted
    }

    /// Each source with its path.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Source>)> {
        self.by_path
            .iter()
            .map(|(path, source)| (path.as_str(), source))
    }

    /// Every quarantine topic, without repeats.
    pub fn quarantine_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .by_path
            .values()
            .filter_map(|s| s.quarantine.as_ref().map(|q| q.topic().to_owned()))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// Every topic sources can publish to, without repeats.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .by_path
            .values()
            .flat_map(|s| {
                s.route
                    .topics()
                    .into_iter()
                    .chain(s.quarantine.as_ref().map(Quarantine::topic))
            })
            .map(str::to_owned)
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }
}

/// The source's route; `Config::validate` has checked the parts.
/// Where the source's event type is: its `event_type`, else the scheme's.
fn event_type_location(sc: &crate::config::SourceConfig) -> Option<Locator> {
    match &sc.event_type {
        Some(parsed) => parsed.value().cloned(),
        None => sc
            .verifier
            .defaults()
            .event_type
            .and_then(|spec| Locator::parse(spec).ok()),
    }
}

fn build_route(sc: &crate::config::SourceConfig) -> Route {
    match event_type_location(sc) {
        Some(event_type) if sc.topic.contains(EVENT_PLACEHOLDER) => Route::by_event_type(
            &sc.topic,
            event_type,
            sc.events.as_deref().unwrap_or_default(),
            sc.fallback_topic.as_deref(),
        ),
        _ => Route::Fixed(Arc::from(sc.topic.as_str())),
    }
}
