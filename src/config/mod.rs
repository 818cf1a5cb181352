//! Typed configuration: the TOML file, one module per section (its fields,
//! defaults, checks, and which of its settings a reload applies), and the
//! checks between sections. Every problem is reported at once, each naming
//! its field. The only reader of the config file.

mod dedup;
mod kafka;
mod log;
mod metrics;
mod reference;
pub mod secret;
mod server;
mod source;
mod tracing;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::dedup::{
    DEDUP_BYTES_PER_ID, DEDUP_LOAD_IDS_PER_SEC, DedupConfig, Role, Transactions,
};
pub use self::kafka::{
    EMBEDDED_BROKERS, HeaderStyle, KafkaConfig, NULL_BROKERS, RESERVED_PRODUCER_PROPERTIES,
};
pub use self::log::{LogConfig, LogFormat, Sampling};
pub use self::metrics::MetricsConfig;
pub use self::server::ServerConfig;
pub use self::source::{KeyMissing, KeyMode, SourceConfig};
pub use self::tracing::TracingConfig;
use crate::pipeline::quarantine::QuarantineConfig;

/// The whole configuration, as written in the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub dedup: DedupConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub quarantine: QuarantineConfig,
    #[serde(default)]
    pub tracing: TracingConfig,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// The folder of the config file; `file:` secrets are relative to it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// A value written as text in the configuration, parsed once, when the file
/// is read: [`Config::validate`] reports a value that does not parse, with its
/// field, among every other problem; everything after uses the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    text: String,
    value: Result<T, String>,
}

impl<T> Parsed<T> {
    /// The parsed value; `None` only in a configuration that failed validation.
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref().ok()
    }

    fn error(&self) -> Option<&str> {
        self.value.as_ref().err().map(String::as_str)
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Written back as it was written.
impl<T> serde::Serialize for Parsed<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value = text.parse().map_err(|err: T::Err| err.to_string());
        Ok(Self { text, value })
    }
}

/// A problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<crate::edge::tls::TlsError> for FieldError {
    fn from(err: crate::edge::tls::TlsError) -> Self {
        Self {
            field: err.field().to_owned(),
            message: err.to_string(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has {} error(s):\n{}", .errors.len(), list(.errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the checks of one part of a configuration put what they find: each
/// problem under its field's full name (`server.max_headers`).
pub(crate) struct Problems<'a> {
    prefix: String,
    found: &'a mut Vec<FieldError>,
}

impl Problems<'_> {
    /// `field` relative to this part of the file.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.found.push(FieldError {
            field: format!("{}{field}", self.prefix),
            message: message.into(),
        });
    }

    /// The problems of one section (`within("server")`).
    pub(crate) fn within(&mut self, section: &str) -> Problems<'_> {
        Problems {
            prefix: format!("{}{section}.", self.prefix),
            found: self.found,
        }
    }
}

impl Config {
    /// Reads and parses a config file, then checks every field that can be checked
    /// without building sources (see [`crate::pipeline::source::Sources::build`] for the rest).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        config.base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut errors = config.validate();
        let base_dir = config.base_dir.clone();
        errors.extend(config.kafka.resolve_references(&base_dir));
        // A pod's name, say, from its environment: `env:POD_NAME`.
        if let Some(instance) = &mut config.dedup.instance_id {
            match crate::config::secret::resolve_setting(instance, &base_dir) {
                Ok(resolved) => *instance = resolved.trim().to_owned(),
                Err(message) => errors.push(FieldError {
                    field: "dedup.instance_id".into(),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                errors,
            })
        }
    }

    /// Parses TOML text; the message carries the line and the offending key.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }

    /// Settings that are valid but will not do what they seem to: said at
    /// start-up and by `check-config`.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.dedup.warnings();
        warnings.extend(self.kafka.warnings());
        warnings
    }

    /// Every problem found, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut found = Vec::new();
        let mut problems = Problems {
            prefix: String::new(),
            found: &mut found,
        };
        self.server.check(&mut problems.within("server"));
        self.kafka.check(&mut problems.within("kafka"));
        let source_topics: Vec<&str> = self.sources.iter().map(|s| s.topic.as_str()).collect();
        self.dedup
            .check(&source_topics, &mut problems.within("dedup"));
        if self.metrics.enabled && self.metrics.listen == self.server.listen {
            problems.add("metrics.listen", "must differ from server.listen");
        }
        self.tracing.check(&mut problems.within("tracing"));
        source::check(&self.sources, &self.dedup.topic, &mut problems);
        for (field, message) in self.quarantine.problems() {
            problems.within("quarantine").add(field, message);
        }
        found
    }
}

pub(crate) fn valid_topic(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What is wrong with the partitions and replication factor of topics
/// hookgate creates, each with its field.
pub(crate) fn topic_layout_problems(
    (partitions_field, partitions): (&'static str, i32),
    (replication_field, replication): (&'static str, i32),
) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !(1..=10_000).contains(&partitions) {
        problems.push((
            partitions_field,
            format!("{partitions} is outside 1..=10000"),
        ));
    }
    if replication == 0 || replication < -1 {
        problems.push((
            replication_field,
            format!("{replication}: use -1 for the cluster default, or 1 and up"),
        ));
    }
    problems
}

pub(crate) fn topic_rule(topic: &str) -> String {
    format!("{topic:?}: a Kafka topic is 1-249 of a-z, A-Z, 0-9, '.', '_', '-'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The smallest file: what each section requires, and nothing else.
    pub(super) const MINIMAL: &str = r#"
        [kafka]
        brokers = "127.0.0.1:9092"

        [[sources]]
        name = "github"
        path = "/webhooks/github"
        verifier = "github"
        secrets = ["env:GITHUB_WEBHOOK_SECRET"]
        topic = "webhooks.github"
    "#;

    #[test]
    fn defaults_fill_what_is_not_written() {
        let config = Config::parse(MINIMAL).expect("parses");
        assert!(config.validate().is_empty());
        assert_eq!(config.server.max_body_bytes, 1024 * 1024);
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(2500));
        assert_eq!(config.kafka.retry_after_secs(), 5);
        assert_eq!(config.dedup.window, Duration::from_secs(72 * 3600));
        // Unset: the scheme's entity (GitHub's repository).
        assert!(config.sources[0].key.is_none());
    }

    #[test]
    fn a_source_keys_its_records_by_event_id_by_nothing_or_by_a_place_in_the_delivery() {
        let with_key = |key: &str| {
            Config::parse(&MINIMAL.replace(
                "topic = \"webhooks.github\"",
                &format!("topic = \"webhooks.github\"\nkey = \"{key}\""),
            ))
            .expect("parses")
        };
        let key = |key: &str| {
            with_key(key).sources[0]
                .key
                .as_ref()
                .and_then(|k| k.value().cloned())
        };
        assert_eq!(key("event-id"), Some(KeyMode::EventId));
        assert_eq!(key("event_id"), Some(KeyMode::EventId));
        assert_eq!(key("none"), Some(KeyMode::None));
        assert!(matches!(
            key("json:/data/object/id"),
            Some(KeyMode::Entity(_))
        ));
        assert!(matches!(key("header:X-Entity"), Some(KeyMode::Entity(_))));
        let errors = with_key("entity").validate();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "sources[0].key");
        assert!(
            errors[0].message.contains("event-id, none"),
            "{}",
            errors[0].message
        );
        assert!(matches!(
            KeyMode::default_for(crate::verify::VerifierKind::Stripe),
            KeyMode::Entity(_)
        ));
        assert_eq!(
            KeyMode::default_for(crate::verify::VerifierKind::Hmac),
            KeyMode::EventId
        );
    }

    #[test]
    fn the_older_millisecond_and_second_spellings_still_work_with_a_warning() {
        let old = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout_ms = 1500\nretry_after_secs = 2",
        );
        let config = Config::parse(&old).expect("parses");
        assert!(config.validate().is_empty());
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(1500));
        assert_eq!(config.kafka.retry_after_secs(), 2);
        let warnings = config.warnings().join("\n");
        assert!(
            warnings.contains(
                "kafka.produce_timeout_ms is the older spelling of kafka.produce_timeout"
            ),
            "{warnings}"
        );
        assert!(
            warnings.contains("kafka.retry_after_secs is the older spelling of kafka.retry_after"),
            "{warnings}"
        );

        let new = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout = \"1500ms\"\nretry_after = \"2s\"",
        );
        let config = Config::parse(&new).expect("parses");
        assert!(config.validate().is_empty() && config.warnings().is_empty());
        assert_eq!(config.kafka.produce_timeout(), Duration::from_millis(1500));
        assert_eq!(config.kafka.retry_after_secs(), 2);

        let both = MINIMAL.replace(
            "[kafka]",
            "[kafka]\nproduce_timeout = \"1s\"\nproduce_timeout_ms = 1000\nretry_after = \"1500ms\"",
        );
        let errors = Config::parse(&both).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["kafka.produce_timeout_ms", "kafka.retry_after"],
            "{errors:?}"
        );
    }

    #[test]
    fn unknown_keys_and_verifiers_are_named() {
        let typo = MINIMAL
            .replace("max_entries", "x")
            .replace("[kafka]", "[kafka]\nbroker = \"x\"");
        let err = Config::parse(&typo).unwrap_err();
        assert!(err.contains("unknown field `broker`"), "{err}");
        let err = Config::parse(
            &MINIMAL.replace("\"github\"\n        secrets", "\"gitlub\"\n        secrets"),
        )
        .unwrap_err();
        assert!(
            err.contains("unknown variant `gitlub`") && err.contains("standard-webhooks"),
            "{err}"
        );
    }

    #[test]
    fn every_error_is_reported_with_its_field() {
        let text = format!(
            "{MINIMAL}
            [[sources]]
            name = \"GitHub\"
            path = \"/webhooks/github\"
            verifier = \"github\"
            secrets = []
            topic = \"bad topic\"
            tolerance = \"5m\"
            event_id = \"json:id\"
            "
        )
        .replace("[kafka]", "[dedup]\nmax_entries = 0\ntopic = \"webhooks.github\"\npartitions = 0\nreplication_factor = 0\n[kafka]\nproduce_timeout = \"5ms\"\nclient = { \"bootstrap.servers\" = \"x\" }\nproducer = { acks = \"1\" }");
        let errors = Config::parse(&text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "kafka.produce_timeout",
                "kafka.client.\"bootstrap.servers\"",
                "kafka.producer.\"acks\"",
                "dedup.max_entries",
                "dedup.topic",
                "dedup.partitions",
                "dedup.replication_factor",
                "sources[1].name",
                "sources[1].path",
                "sources[1].topic",
                "sources[1].secrets",
                "sources[1].tolerance",
                "sources[1].event_id",
            ]
        );
    }

    #[test]
    fn kafka_properties_can_come_from_the_environment_and_files_and_are_not_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("kafka.password"), "from-a-file\n").expect("write");
        let mut kafka: KafkaConfig = toml::from_str(
            "brokers = \"b:9092\"\n[client]\n\"sasl.password\" = \"file:kafka.password\"\n\"sasl.username\" = \"env:HOOKGATE_TEST_UNSET_VARIABLE\"\n\"security.protocol\" = \"sasl_ssl\"\n",
        )
        .expect("parses");
        let errors = kafka.resolve_references(dir.path());
        assert_eq!(kafka.client["sasl.password"], "from-a-file");
        assert_eq!(kafka.client["security.protocol"], "sasl_ssl");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "kafka.client.\"sasl.username\"");
        assert!(errors[0].message.contains("HOOKGATE_TEST_UNSET_VARIABLE"));
        assert!(!format!("{kafka:?}").contains("from-a-file"));
    }

    #[test]
    fn a_quarantine_shares_no_topic_consumers_read_as_events() {
        let text = "[kafka]\nbrokers = \"b:9092\"\n\
            [[sources]]\nname = \"a\"\npath = \"/a\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"gh.{event}\"\nevents = [\"push\"]\nfallback_topic = \"gh.other\"\nquarantine_topic = \"q\"\n\
            [[sources]]\nname = \"b\"\npath = \"/b\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"b\"\nquarantine_topic = \"gh.push\"\n\
            [[sources]]\nname = \"c\"\npath = \"/c\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"c\"\nquarantine_topic = \"gh.other\"\n\
            [[sources]]\nname = \"d\"\npath = \"/d\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\n\
            topic = \"d\"\nquarantine_topic = \"q\"\n";
        let errors = Config::parse(text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        // A quarantine shared by sources is fine; one on an event topic is not.
        assert_eq!(
            fields,
            ["sources[1].quarantine_topic", "sources[2].quarantine_topic"],
            "{errors:?}"
        );
    }

    #[test]
    fn a_scheme_setting_belongs_to_its_schemes_only() {
        let source = |name: &str, verifier: &str, more: &str| {
            format!(
                "[[sources]]\nname = \"{name}\"\npath = \"/{name}\"\nverifier = \"{verifier}\"\n\
                 secrets = [\"env:X\"]\ntopic = \"{name}\"\n{more}\n"
            )
        };
        let text = format!(
            "[kafka]\nbrokers = \"b:9092\"\n{}{}{}{}",
            source("meta", "meta", "verify_token = \"env:T\""),
            source("gh", "github", "verify_token = \"env:T\""),
            source(
                "bc",
                "bigcommerce",
                "[sources.token]\nheader = \"X-Hook-Token\""
            ),
            source("st", "stripe", "[sources.token]\nheader = \"X-Hook-Token\""),
        );
        let errors = Config::parse(&text).expect("parses").validate();
        let said: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            said,
            [
                "sources[1].verify_token: only used with verifier = \"meta\", not \"github\"",
                "sources[3].token: only used with verifier = \"token\" or \"bigcommerce\", not \"stripe\"",
            ]
        );
    }

    #[test]
    fn no_route_of_a_source_can_reach_the_dedup_topic() {
        let text = "[kafka]\nbrokers = \"b:9092\"\n[[sources]]\nname = \"s\"\npath = \"/s\"\nverifier = \"github\"\nsecrets = [\"env:X\"]\ntopic = \"hookgate.{event}\"\nevents = [\"push\", \"dedup\"]\nfallback_topic = \"hookgate.dedup\"\n";
        let errors = Config::parse(text).expect("parses").validate();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["sources[0].events[1]", "sources[0].fallback_topic"]
        );
        assert!(
            errors[0].message.contains("is the dedup topic"),
            "{errors:?}"
        );
    }

    #[test]
    fn routing_by_event_type_is_checked_field_by_field() {
        let source = |verifier: &str, extra: &str| {
            format!(
                "[kafka]\nbrokers = \"b:9092\"\n[[sources]]\nname = \"s\"\npath = \"/s\"\nverifier = \"{verifier}\"\nsecrets = [\"env:X\"]\n{extra}"
            )
        };
        let fields = |text: String| -> Vec<String> {
            Config::parse(&text)
                .expect("parses")
                .validate()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        let good = source(
            "github",
            "topic = \"gh.{event}\"\nevents = [\"push\", \"x/y\"]\nfallback_topic = \"gh.other\"\n",
        );
        assert!(fields(good).is_empty());
        assert_eq!(
            fields(source("github", "topic = \"gh.{event}\"\n")),
            ["sources[0].events"]
        );
        assert_eq!(
            fields(source("hmac", "topic = \"h.{event}\"\nevents = [\"a\"]\n")),
            ["sources[0].event_type"]
        );
        assert_eq!(
            fields(source(
                "github",
                "topic = \"gh\"\nevents = [\"a\"]\nfallback_topic = \"x\"\n"
            )),
            ["sources[0].events", "sources[0].fallback_topic"]
        );
        assert_eq!(
            fields(source(
                "github",
                "topic = \"gh.{event}\"\nevents = [\"\"]\nfallback_topic = \"bad topic\"\n"
            )),
            ["sources[0].events[0]", "sources[0].fallback_topic"]
        );
    }
}
